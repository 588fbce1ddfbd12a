import type { CallOptions, GatewayConnection } from './gateway.js';
import type { AccessMode, RemoveConsistencyGroupSnapshotsRequest, SnapshotDef, SnapshotVolumesRequest } from './types.js';
import { asArray, asRecord, asString, checkId } from './wire.js';

export interface SnapshotResult {
  /** The new snapshots' ids, in the order of the definitions. */
  volumeIds: string[];
  snapshotGroupId: string;
}

/**
 * Snapshots (and clones: a ReadWrite snapshot is how Dell's driver clones). Snapshot creation is never retried on a
 * connection failure: a second copy would make a second snapshot, or fail with name-in-use.
 */
export class SnapshotsApi {
  constructor(private readonly gateway: GatewayConnection) {}

  async snapshotVolumes(systemId: string, definitions: SnapshotDef[], accessModeLimit: AccessMode = 'ReadOnly', options?: CallOptions): Promise<SnapshotResult> {
    const body: SnapshotVolumesRequest = {
      snapshotDefs: definitions.map((d) => ({ volumeId: checkId(d.volumeId, 'volume'), snapshotName: d.snapshotName })),
      accessModeLimit,
    };
    const answer = asRecord(
      await this.gateway.request({ method: 'POST', path: `/instances/System::${checkId(systemId, 'system')}/action/snapshotVolumes`, body }, options),
      'snapshotVolumes',
    );
    return {
      volumeIds: asArray(answer['volumeIdList'], 'snapshotVolumes volumeIdList').map((id) => asString(id, 'snapshot id')),
      snapshotGroupId: asString(answer['snapshotGroupId'], 'snapshotVolumes snapshotGroupId'),
    };
  }

  /** Removes every snapshot of a group; answers how many volumes went (0 when the gateway does not say). */
  async removeConsistencyGroupSnapshots(systemId: string, snapshotGroupId: string, options?: CallOptions): Promise<number> {
    const body: RemoveConsistencyGroupSnapshotsRequest = { snapGroupId: checkId(snapshotGroupId, 'snapshot group') };
    const path = `/instances/System::${checkId(systemId, 'system')}/action/removeConsistencyGroupSnapshots`;
    const answer = await this.gateway.request({ method: 'POST', path, body }, options);
    if (answer === undefined) return 0;
    const count = asRecord(answer, 'removeConsistencyGroupSnapshots')['numberOfVolumes'];
    return typeof count === 'number' ? count : 0;
  }
}
