import { ACCESS_MODES, missing, optionalEnum, requireObject, requireString } from '../body.js';
import { invalidRequest } from '../errors.js';
import type { SnapshotInput } from '../pool.js';
import type { RemoveConsistencyGroupSnapshotsAnswer, SnapshotVolumesAnswer } from '../wire.js';
import { param, type ApiDeps, type ApiRequest, type ApiRouter } from './context.js';

/** Snapshots are System actions on the gateway. */
export function snapshotRoutes(router: ApiRouter, deps: ApiDeps): void {
  const snapshotVolumes = async (req: ApiRequest, systemId: string): Promise<SnapshotVolumesAnswer> => {
    const body = requireObject(req.body);
    if (body.snapshotDefs === undefined) missing('snapshotDefs');
    if (!Array.isArray(body.snapshotDefs)) throw invalidRequest('Request message is not valid: snapshotDefs must be a list');
    const defs: SnapshotInput[] = body.snapshotDefs.map((d: unknown) => {
      const def = requireObject(d);
      return { volumeId: requireString(def, 'volumeId'), snapshotName: requireString(def, 'snapshotName') };
    });
    // Older systems had only writable snapshots: ReadWrite is what an omitted limit means.
    const accessModeLimit = optionalEnum(body, 'accessModeLimit', ACCESS_MODES) ?? 'ReadWrite';
    const result = await deps.pool.snapshotVolumes(systemId, defs, accessModeLimit);
    return { volumeIdList: result.ids, snapshotGroupId: result.groupId };
  };
  router.add('POST', '/api/instances/System::{id}/action/snapshotVolumes', 'token', (req) => snapshotVolumes(req, param(req, 'id')));
  // Older clients (OpenStack's ScaleIO driver) name no system: a gateway in front of one system takes that one.
  router.add('POST', '/api/instances/System/action/snapshotVolumes', 'token', (req) => snapshotVolumes(req, deps.pool.current().systemId));

  router.add(
    'POST',
    '/api/instances/System::{id}/action/removeConsistencyGroupSnapshots',
    'token',
    async (req): Promise<RemoveConsistencyGroupSnapshotsAnswer> => {
      const groupId = requireString(requireObject(req.body), 'snapGroupId');
      return { numberOfVolumes: await deps.pool.removeSnapshotGroup(param(req, 'id'), groupId) };
    },
  );
}
