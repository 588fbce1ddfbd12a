import type { RemoveConsistencyGroupSnapshotsResponse, SnapshotVolumesResponse } from '../../backends/powerflex/types.js';
import { ACCESS_MODES, missing, optionalEnum, requireObject, requireString } from '../body.js';
import { invalidRequest } from '../errors.js';
import type { SnapshotInput } from '../pool.js';
import { param, type ApiDeps, type ApiRouter } from './context.js';

/** Snapshots are System actions on the gateway. */
export function snapshotRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.add('POST', '/api/instances/System::{id}/action/snapshotVolumes', 'token', async (req): Promise<SnapshotVolumesResponse> => {
    const body = requireObject(req.body);
    if (body.snapshotDefs === undefined) missing('snapshotDefs');
    if (!Array.isArray(body.snapshotDefs)) throw invalidRequest('Request message is not valid: snapshotDefs must be a list');
    const defs: SnapshotInput[] = body.snapshotDefs.map((d: unknown) => {
      const def = requireObject(d);
      return { volumeId: requireString(def, 'volumeId'), snapshotName: requireString(def, 'snapshotName') };
    });
    // Older systems had only writable snapshots: ReadWrite is what an omitted limit means.
    const accessModeLimit = optionalEnum(body, 'accessModeLimit', ACCESS_MODES) ?? 'ReadWrite';
    const result = await deps.pool.snapshotVolumes(param(req, 'id'), defs, accessModeLimit);
    return { volumeIdList: result.ids, snapshotGroupId: result.groupId };
  });

  router.add(
    'POST',
    '/api/instances/System::{id}/action/removeConsistencyGroupSnapshots',
    'token',
    async (req): Promise<RemoveConsistencyGroupSnapshotsResponse> => {
      const groupId = requireString(requireObject(req.body), 'snapGroupId');
      return { numberOfVolumes: await deps.pool.removeSnapshotGroup(param(req, 'id'), groupId) };
    },
  );
}
