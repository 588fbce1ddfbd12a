import type {
  CapacityRange,
  CapacityRecord,
  CreateVolumeInput,
  ExpandResult,
  OpContext,
  PublishInput,
  SnapshotRecord,
  VolumeRecord,
} from './backend.js';

/** A backend's volume life cycle and capacity. */
export interface VolumeOps {
  createVolume(input: CreateVolumeInput, ctx: OpContext): Promise<VolumeRecord>;
  deleteVolume(id: string, ctx: OpContext): Promise<void>;
  getVolume(id: string, ctx: OpContext): Promise<VolumeRecord>;
  listVolumes(ctx: OpContext): Promise<VolumeRecord[]>;
  expandVolume(id: string, capacity: CapacityRange, ctx: OpContext): Promise<ExpandResult>;
  getCapacity(parameters: Readonly<Record<string, string>>, ctx: OpContext): Promise<CapacityRecord>;
}

/** A backend's ControllerPublish / Unpublish. */
export interface PublishOps {
  publish(input: PublishInput, ctx: OpContext): Promise<Record<string, string>>;
  unpublish(volumeId: string, nodeId: string, ctx: OpContext): Promise<void>;
}

/** A backend's snapshots. */
export interface SnapshotOps {
  create(name: string, sourceVolumeId: string, ctx: OpContext): Promise<SnapshotRecord>;
  delete(id: string, ctx: OpContext): Promise<void>;
  list(ctx: OpContext): Promise<SnapshotRecord[]>;
}

/**
 * The controller half of a Backend, as every backend builds it: three parts (volumes, publishing, snapshots), each
 * in its own files, behind the one interface the CSI services call. A backend sets the parts in its constructor.
 */
export abstract class ComposedBackend {
  protected abstract readonly volumes: VolumeOps;
  protected abstract readonly publishing: PublishOps;
  protected abstract readonly snapshots: SnapshotOps;

  createVolume(input: CreateVolumeInput, ctx: OpContext): Promise<VolumeRecord> {
    return this.volumes.createVolume(input, ctx);
  }

  deleteVolume(id: string, ctx: OpContext): Promise<void> {
    return this.volumes.deleteVolume(id, ctx);
  }

  getVolume(id: string, ctx: OpContext): Promise<VolumeRecord> {
    return this.volumes.getVolume(id, ctx);
  }

  listVolumes(ctx: OpContext): Promise<VolumeRecord[]> {
    return this.volumes.listVolumes(ctx);
  }

  expandVolume(id: string, capacity: CapacityRange, ctx: OpContext): Promise<ExpandResult> {
    return this.volumes.expandVolume(id, capacity, ctx);
  }

  getCapacity(parameters: Readonly<Record<string, string>>, ctx: OpContext): Promise<CapacityRecord> {
    return this.volumes.getCapacity(parameters, ctx);
  }

  publishVolume(input: PublishInput, ctx: OpContext): Promise<Record<string, string>> {
    return this.publishing.publish(input, ctx);
  }

  unpublishVolume(volumeId: string, nodeId: string, ctx: OpContext): Promise<void> {
    return this.publishing.unpublish(volumeId, nodeId, ctx);
  }

  createSnapshot(name: string, sourceVolumeId: string, ctx: OpContext): Promise<SnapshotRecord> {
    return this.snapshots.create(name, sourceVolumeId, ctx);
  }

  deleteSnapshot(id: string, ctx: OpContext): Promise<void> {
    return this.snapshots.delete(id, ctx);
  }

  listSnapshots(ctx: OpContext): Promise<SnapshotRecord[]> {
    return this.snapshots.list(ctx);
  }
}
