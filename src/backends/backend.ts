import type { BackendConfig } from '../config/schema.js';
import type { StorageEvidence } from '../preemption/evidence.js';
import type { NodeLivenessSource, PreemptionRecorder } from '../preemption/recorder.js';
import type { Logger } from '../util/log.js';
import type { QosLimits } from '../parameters/qos.js';

/**
 * What the CSI services need from a storage system. Backends speak in domain terms and throw DomainError;
 * they never see gRPC. Ids here are the backend's own ("local") ids: the CSI layer prefixes the backend name.
 */

/** How a workload uses a volume: a filesystem mounted by the node plugin, or the raw block device. */
export type AccessType = 'mount' | 'block';

/** CSI access modes, by their spec names (a storage concept, not a wire type). */
export type AccessMode =
  | 'SINGLE_NODE_WRITER'
  | 'SINGLE_NODE_READER_ONLY'
  | 'MULTI_NODE_READER_ONLY'
  | 'MULTI_NODE_SINGLE_WRITER'
  | 'MULTI_NODE_MULTI_WRITER'
  | 'SINGLE_NODE_SINGLE_WRITER'
  | 'SINGLE_NODE_MULTI_WRITER';

export interface Capability {
  accessType: AccessType;
  accessMode: AccessMode;
  /** Mount only: the filesystem the CO asked for ('' = the driver's default). */
  fsType: string;
  mountFlags: readonly string[];
}

/** CSI's capacity range; 0 means "not set". */
export interface CapacityRange {
  requiredBytes: bigint;
  limitBytes: bigint;
}

/** Cancellation and logging for one backend operation. */
export interface OpContext {
  signal: AbortSignal;
  log: Logger;
}

export type VolumeSource = { kind: 'snapshot'; id: string } | { kind: 'volume'; id: string };

export interface CreateVolumeInput {
  /** The CO's name for the volume: the idempotency key. */
  name: string;
  capacity: CapacityRange;
  /** The StorageClass parameters this backend owns (generic keys already taken out). */
  parameters: Readonly<Record<string, string>>;
  source: VolumeSource | undefined;
  capabilities: readonly Capability[];
}

export interface VolumeRecord {
  id: string;
  capacityBytes: bigint;
  source: VolumeSource | undefined;
  /** Node ids the volume is published to. */
  publishedNodeIds: string[];
  /** Accessible topology: each entry one segment map. */
  topology: Record<string, string>[];
}

export interface SnapshotRecord {
  id: string;
  sourceVolumeId: string;
  sizeBytes: bigint;
  /** Epoch seconds. */
  createdAt: number;
  readyToUse: boolean;
  /** Set on a snapshot taken as a member of a group snapshot: the group's local id. */
  groupSnapshotId?: string;
}

/** Snapshots of several volumes taken at one point in time (a consistency group). */
export interface GroupSnapshotRecord {
  id: string;
  snapshots: SnapshotRecord[];
  /** Epoch seconds. */
  createdAt: number;
  readyToUse: boolean;
}

/** A backend's group snapshots, for backends whose storage takes several snapshots at one instant. */
export interface GroupSnapshotOps {
  /** Idempotent by name: the same name and set of sources answers the existing group; another set is already-exists. */
  create(name: string, sourceVolumeIds: readonly string[], ctx: OpContext): Promise<GroupSnapshotRecord>;
  /** not-found when there is no such group. `snapshotIds`, when given, must be exactly its members (invalid-argument). */
  get(id: string, snapshotIds: readonly string[], ctx: OpContext): Promise<GroupSnapshotRecord>;
  /** A group that is already gone is success; `snapshotIds` as for get. */
  delete(id: string, snapshotIds: readonly string[], ctx: OpContext): Promise<void>;
}

export interface CapacityRecord {
  availableBytes: bigint;
  maximumVolumeBytes: bigint | undefined;
  minimumVolumeBytes: bigint | undefined;
}

export interface PublishInput {
  volumeId: string;
  nodeId: string;
  capability: Capability;
  readOnly: boolean;
  /** The volume context from CreateVolume (policy such as preemption travels here). */
  volumeContext: Readonly<Record<string, string>>;
}

export interface ExpandResult {
  capacityBytes: bigint;
}

/** Where a volume shows up on a node: a block device (and how to ask the host to look for it), or a network share. */
export type NodeSource = BlockNodeSource | ShareNodeSource;

export interface BlockNodeSource {
  kind: 'block';
  devicePath: string;
  rescan?: (ctx: OpContext) => Promise<void>;
}

/** A directory of an NFS export, mounted once per node at the staging path and bound into each pod. */
export interface ShareNodeSource {
  kind: 'share';
  /** `server:/export/dir`. */
  source: string;
  fsType: 'nfs';
  /** The backend's mount options; the PV's mount options are added on top (a later `key=value` wins). */
  mountOptions: readonly string[];
  /** Bound on the mount; and on each stat, bind and unmount of it. */
  mountTimeoutMs: number;
  operationTimeoutMs: number;
}

export interface Backend {
  readonly name: string;
  readonly type: BackendConfig['type'];
  /** Resolves when the storage system answers its own health check; rejects with a DomainError otherwise. */
  checkHealth(signal: AbortSignal): Promise<void>;
  /** Releases connections and timers. */
  close(): Promise<void>;

  /** StorageClass parameter keys this backend accepts (anything else is INVALID_ARGUMENT). */
  readonly parameterKeys: readonly string[];
  /**
   * Set by backends whose volumes are network shares the node mounts as they are (NFS): capability mount flags are
   * checked against that filesystem's allow-list. Unset: block volumes, whose flags are checked for their fs_type.
   */
  readonly shareFsType?: 'nfs';
  /** Access types and modes this backend can serve; a CSI-level check, before anything is created. */
  supports(capability: Capability): boolean;

  /** Idempotent by name: an existing volume of that name that fits is returned; one that does not fit is already-exists. */
  createVolume(input: CreateVolumeInput, ctx: OpContext): Promise<VolumeRecord>;
  /** A volume that is already gone is success. */
  deleteVolume(id: string, ctx: OpContext): Promise<void>;
  /** not-found when there is no such volume. */
  getVolume(id: string, ctx: OpContext): Promise<VolumeRecord>;
  listVolumes(ctx: OpContext): Promise<VolumeRecord[]>;
  expandVolume(id: string, capacity: CapacityRange, ctx: OpContext): Promise<ExpandResult>;
  getCapacity(parameters: Readonly<Record<string, string>>, ctx: OpContext): Promise<CapacityRecord>;

  /** Makes the volume reachable from the node; idempotent. Answers the publish context for the node. */
  publishVolume(input: PublishInput, ctx: OpContext): Promise<Record<string, string>>;
  /** A volume or node that is gone, or a volume not published there, is success. */
  unpublishVolume(volumeId: string, nodeId: string, ctx: OpContext): Promise<void>;

  /** Idempotent by name, like createVolume. not-found when the source volume does not exist. */
  createSnapshot(name: string, sourceVolumeId: string, ctx: OpContext): Promise<SnapshotRecord>;
  deleteSnapshot(id: string, ctx: OpContext): Promise<void>;
  listSnapshots(ctx: OpContext): Promise<SnapshotRecord[]>;

  /** Node side: where the volume appears on this host; not-found for an id this backend cannot have made. */
  nodeSource(volumeId: string): NodeSource;
  /** Node side: the topology segment this node reaches this backend through. */
  nodeTopology(ctx: OpContext): Promise<Record<string, string>>;
  /** Node side, optional: told this plugin's node id at NodeGetInfo, by backends that keep a register of their nodes (NFS). */
  registerNode?(nodeId: string, ctx: OpContext): Promise<void>;
  /**
   * Controller side, optional (backends that can limit a host's I/O to a volume): ControllerModifyVolume's QoS
   * limits, applied at once to every current mapping and remembered for later ones. not-found for an unknown volume.
   * A backend without it refuses QoS parameters.
   */
  modifyVolume?(id: string, limits: QosLimits, ctx: OpContext): Promise<void>;
  /** Controller side, optional: whole-node evidence and fencing, for the failover controller (backends that can cut a host off). */
  readonly nodeFencing?: NodeFencing;
  /** Controller side, optional: group snapshots (GroupController), by backends that can take them at one instant. */
  readonly groupSnapshots?: GroupSnapshotOps;
}

/** What the storage system sees of one node: nothing (it has no client for it), or its client and the volumes it holds. */
export type NodeStorageView =
  | { known: false }
  | {
      known: true;
      /** The client's connection, and whether any volume it holds did I/O over the confirmation window. */
      evidence: StorageEvidence;
      /** The volumes mapped to it, by this backend's local ids. */
      volumes: string[];
    };

export interface ObserveNodeOptions {
  /**
   * Continue a confirmation taken moments ago instead of opening a new window: the client's connection now, and the
   * I/O since the previous look, with no wait. For a failover controller that confirmed the node while standing by
   * and has just taken the lead.
   */
  continuing?: boolean;
}

/** A storage system that can cut a node off: every mapping of the node's client removed, so it cannot write if it returns. */
export interface NodeFencing {
  /** The node's client and volumes; the evidence covers a confirmation window (waited for here) unless `continuing`. */
  observeNode(nodeId: string, ctx: OpContext, options?: ObserveNodeOptions): Promise<NodeStorageView>;
  /** Removes every mapping the node's client holds; answers the volumes it took away (local ids). Idempotent. */
  fenceNode(nodeId: string, ctx: OpContext): Promise<string[]>;
}

/**
 * What the CO records of a volume's mutable parameters (Kubernetes: the VolumeAttributesClass its PersistentVolume
 * belongs to, which the csi-resizer sets after a successful ControllerModifyVolume). The CO never passes them to
 * ControllerPublish, and any controller replica may serve a publish: this is the record every replica shares.
 */
export interface VolumeClassSource {
  /** By the backend's local volume id; undefined when the CO names no class for it. */
  mutableParametersOf(volumeId: string, signal: AbortSignal): Promise<Record<string, string> | undefined>;
}

/** What the driver lends its backends: where preemption decisions are recorded, and what Kubernetes knows of nodes. */
export interface BackendHooks {
  recorder?: PreemptionRecorder;
  liveness?: NodeLivenessSource;
  volumeClasses?: VolumeClassSource;
  /**
   * The process serves the Node service only (a node plugin): a backend then takes what the node side needs from its
   * configuration and never logs in to the storage system's management API (nodes hold no credentials).
   */
  nodeOnly?: boolean;
}
