import type { SnapshotRecord } from '../backends/backend.js';
import type { Snapshot } from '../gen/csi/v1/Snapshot.js';
import { formatScopedId } from './ids.js';

/** A backend's snapshot as CSI's Snapshot message (CreateSnapshot, ListSnapshots and the group snapshot calls). */
export function snapshotMessage(backend: string, record: SnapshotRecord): Snapshot {
  return {
    snapshot_id: formatScopedId(backend, record.id),
    source_volume_id: formatScopedId(backend, record.sourceVolumeId),
    size_bytes: record.sizeBytes.toString(),
    creation_time: { seconds: String(record.createdAt), nanos: 0 },
    ready_to_use: record.readyToUse,
    group_snapshot_id: record.groupSnapshotId === undefined ? '' : formatScopedId(backend, record.groupSnapshotId),
  };
}
