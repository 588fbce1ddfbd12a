import type { Backend, GroupSnapshotOps, GroupSnapshotRecord, OpContext } from '../backends/backend.js';
import { DomainError } from '../errors.js';
import type { CreateVolumeGroupSnapshotRequest__Output } from '../gen/csi/v1/CreateVolumeGroupSnapshotRequest.js';
import type { CreateVolumeGroupSnapshotResponse } from '../gen/csi/v1/CreateVolumeGroupSnapshotResponse.js';
import type { DeleteVolumeGroupSnapshotRequest__Output } from '../gen/csi/v1/DeleteVolumeGroupSnapshotRequest.js';
import type { DeleteVolumeGroupSnapshotResponse } from '../gen/csi/v1/DeleteVolumeGroupSnapshotResponse.js';
import type { GetVolumeGroupSnapshotRequest__Output } from '../gen/csi/v1/GetVolumeGroupSnapshotRequest.js';
import type { GetVolumeGroupSnapshotResponse } from '../gen/csi/v1/GetVolumeGroupSnapshotResponse.js';
import type { GroupControllerHandlers } from '../gen/csi/v1/GroupController.js';
import type { GroupControllerGetCapabilitiesResponse } from '../gen/csi/v1/GroupControllerGetCapabilitiesResponse.js';
import type { VolumeGroupSnapshot } from '../gen/csi/v1/VolumeGroupSnapshot.js';
import type { CallContext, ServiceImpl } from '../server/handler.js';
import { formatScopedId, parseScopedId } from './ids.js';
import type { BackendRegistry } from './registry.js';
import { snapshotMessage } from './snapshot-message.js';
import { requireField } from './validate.js';
import { checkGroupSnapshotParameters } from '../parameters/group-snapshot.js';

/** Whether any configured backend takes group snapshots: only then is the GroupController service offered at all. */
export function offersGroupSnapshots(backends: readonly Backend[]): boolean {
  return backends.some((b) => b.groupSnapshots !== undefined);
}

function op(ctx: CallContext): OpContext {
  return { signal: ctx.signal, log: ctx.log };
}

/**
 * The GroupController service: snapshots of several volumes at one point in time. Like the Controller service it
 * validates, takes the in-flight keys (the group's name and every source volume, as CreateSnapshot does for one),
 * and delegates to the backend that owns the volumes. All sources must be in one backend, and that backend must
 * take group snapshots (the NFS backend does not: its snapshots are archives of one directory each, taken one
 * after the other, which is no common point in time).
 */
export class GroupControllerService implements ServiceImpl<GroupControllerHandlers> {
  constructor(private readonly backends: BackendRegistry) {}

  async GroupControllerGetCapabilities(): Promise<GroupControllerGetCapabilitiesResponse> {
    return { capabilities: [{ rpc: { type: 'CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT' } }] };
  }

  async CreateVolumeGroupSnapshot(req: CreateVolumeGroupSnapshotRequest__Output, ctx: CallContext): Promise<CreateVolumeGroupSnapshotResponse> {
    const name = requireField(req.name, 'name');
    if (req.source_volume_ids.length === 0) throw new DomainError('invalid-argument', 'source_volume_ids must not be empty');
    checkGroupSnapshotParameters(req.parameters);
    const seen = new Set<string>();
    for (const [i, id] of req.source_volume_ids.entries()) {
      requireField(id, `source_volume_ids[${i}]`);
      if (seen.has(id)) throw new DomainError('invalid-argument', `source_volume_ids names ${id} twice`);
      seen.add(id);
    }
    await ctx.lock(`create-group-snapshot/${name}`, ...req.source_volume_ids);
    const scoped = req.source_volume_ids.map((id) => ({ id, ...parseScopedId(id, 'volume') }));
    const backendName = scoped[0]?.backend ?? '';
    const other = scoped.find((s) => s.backend !== backendName);
    if (other) throw new DomainError('invalid-argument', `source volumes are in different backends (${backendName}, ${other.backend}): a group snapshot is taken within one storage system`);
    const backend = this.backends.forId(backendName, req.source_volume_ids[0] ?? '');
    const record = await this.ops(backend).create(
      name,
      scoped.map((s) => s.localId),
      op(ctx),
    );
    return { group_snapshot: groupMessage(backend.name, record) };
  }

  async GetVolumeGroupSnapshot(req: GetVolumeGroupSnapshotRequest__Output, ctx: CallContext): Promise<GetVolumeGroupSnapshotResponse> {
    const id = requireField(req.group_snapshot_id, 'group_snapshot_id');
    const { backend, localId } = this.resolve(id);
    const record = await this.ops(backend).get(localId, this.localSnapshotIds(backend, req.snapshot_ids), op(ctx));
    return { group_snapshot: groupMessage(backend.name, record) };
  }

  async DeleteVolumeGroupSnapshot(req: DeleteVolumeGroupSnapshotRequest__Output, ctx: CallContext): Promise<DeleteVolumeGroupSnapshotResponse> {
    const id = requireField(req.group_snapshot_id, 'group_snapshot_id');
    await ctx.lock(id);
    let target: { backend: Backend; localId: string };
    try {
      target = this.resolve(id);
    } catch (err) {
      // An id no configured backend can have made names nothing: it is already gone.
      if (err instanceof DomainError && err.kind === 'not-found') return {};
      throw err;
    }
    await this.ops(target.backend).delete(target.localId, this.localSnapshotIds(target.backend, req.snapshot_ids), op(ctx));
    return {};
  }

  private resolve(id: string): { backend: Backend; localId: string } {
    const scoped = parseScopedId(id, 'group snapshot');
    return { backend: this.backends.forId(scoped.backend, id), localId: scoped.localId };
  }

  private ops(backend: Backend): GroupSnapshotOps {
    if (!backend.groupSnapshots) {
      throw new DomainError('invalid-argument', `backend ${backend.name} (${backend.type}) does not take group snapshots`);
    }
    return backend.groupSnapshots;
  }

  /** The CO's member list in the backend's own ids; a member of another backend cannot be one of this group's. */
  private localSnapshotIds(backend: Backend, ids: readonly string[]): string[] {
    return ids.map((id, i) => {
      requireField(id, `snapshot_ids[${i}]`);
      const colon = id.indexOf(':');
      if (colon <= 0 || id.slice(0, colon) !== backend.name) {
        throw new DomainError('invalid-argument', `snapshot_ids[${i}] ${id} is not a snapshot of backend ${backend.name}, so not a member of this group`);
      }
      return id.slice(colon + 1);
    });
  }
}

function groupMessage(backend: string, record: GroupSnapshotRecord): VolumeGroupSnapshot {
  return {
    group_snapshot_id: formatScopedId(backend, record.id),
    snapshots: record.snapshots.map((s) => snapshotMessage(backend, s)),
    creation_time: { seconds: String(record.createdAt), nanos: 0 },
    ready_to_use: record.readyToUse,
  };
}
