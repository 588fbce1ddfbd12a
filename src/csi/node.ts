import type { Backend, NodeSource, OpContext } from '../backends/backend.js';
import { DomainError, isDomainError } from '../errors.js';

import type { NodeHandlers } from '../gen/csi/v1/Node.js';
import type { NodeExpandVolumeRequest__Output } from '../gen/csi/v1/NodeExpandVolumeRequest.js';
import type { NodeExpandVolumeResponse } from '../gen/csi/v1/NodeExpandVolumeResponse.js';
import type { NodeGetCapabilitiesResponse } from '../gen/csi/v1/NodeGetCapabilitiesResponse.js';
import type { NodeGetInfoResponse } from '../gen/csi/v1/NodeGetInfoResponse.js';
import type { NodeGetVolumeStatsRequest__Output } from '../gen/csi/v1/NodeGetVolumeStatsRequest.js';
import type { NodeGetVolumeStatsResponse } from '../gen/csi/v1/NodeGetVolumeStatsResponse.js';
import type { NodePublishVolumeRequest__Output } from '../gen/csi/v1/NodePublishVolumeRequest.js';
import type { NodePublishVolumeResponse } from '../gen/csi/v1/NodePublishVolumeResponse.js';
import type { _csi_v1_NodeServiceCapability_RPC_Type } from '../gen/csi/v1/NodeServiceCapability.js';
import type { NodeStageVolumeRequest__Output } from '../gen/csi/v1/NodeStageVolumeRequest.js';
import type { NodeStageVolumeResponse } from '../gen/csi/v1/NodeStageVolumeResponse.js';
import type { NodeUnpublishVolumeRequest__Output } from '../gen/csi/v1/NodeUnpublishVolumeRequest.js';
import type { NodeUnpublishVolumeResponse } from '../gen/csi/v1/NodeUnpublishVolumeResponse.js';
import type { NodeUnstageVolumeRequest__Output } from '../gen/csi/v1/NodeUnstageVolumeRequest.js';
import type { NodeUnstageVolumeResponse } from '../gen/csi/v1/NodeUnstageVolumeResponse.js';
import { checkCallerPath } from '../node/caller-paths.js';
import { parseFsType } from '../node/filesystem.js';
import type { NodeVolumes } from '../node/node-volumes.js';
import type { CallContext, ServiceImpl } from '../server/handler.js';
import { shortForMessage } from '../server/request-limits.js';
import { checkVolumeContext } from '../parameters/volume-options.js';
import { checkCapabilityFlags, toCapability } from './capabilities.js';
import { parseScopedId } from './ids.js';
import { CONTEXT_FS_TYPE, CONTEXT_MKFS_OPTIONS } from './parameters.js';
import type { BackendRegistry } from './registry.js';
import { requireField } from './validate.js';

export interface NodeOptions {
  nodeId: string;
  maxVolumes: number;
  /** Where staging and publish paths may be (node.kubeletRoots); only NodeService reads it. */
  kubeletRoots?: readonly string[];
}

const CAPABILITIES: _csi_v1_NodeServiceCapability_RPC_Type[] = [
  'STAGE_UNSTAGE_VOLUME',
  'GET_VOLUME_STATS',
  'EXPAND_VOLUME',
  'VOLUME_CONDITION',
  'SINGLE_NODE_MULTI_WRITER',
];

function op(ctx: CallContext): OpContext {
  return { signal: ctx.signal, log: ctx.log };
}

/** The kubelet's default root, when a NodeService is built without a configuration (node.kubeletRoots). */
const DEFAULT_KUBELET_ROOTS = ['/var/lib/kubelet'];

/** Identity only: a node plugin with no backend configured still registers and says who it is. */
export class NodeInfoService implements ServiceImpl<NodeHandlers> {
  constructor(protected readonly options: NodeOptions) {}

  async NodeGetCapabilities(): Promise<NodeGetCapabilitiesResponse> {
    return { capabilities: [] };
  }

  async NodeGetInfo(_req: unknown, _ctx: CallContext): Promise<NodeGetInfoResponse> {
    return { node_id: this.options.nodeId, max_volumes_per_node: this.options.maxVolumes };
  }
}

/**
 * The in-flight key of a node path: two calls for different volumes never work on one path at once (each would find
 * it empty and mount there: a stack of two volumes). Kubernetes never shares a path between volumes; a caller that
 * does waits its turn and then gets the answer for what it finds.
 */
function pathKey(p: string): string {
  return `path:${p}`;
}

/** The Node service: validate, take the volume's and its paths' in-flight keys, delegate to NodeVolumes, answer. */
export class NodeService extends NodeInfoService {
  constructor(
    options: NodeOptions,
    private readonly backends: BackendRegistry,
    private readonly volumes: NodeVolumes,
  ) {
    super(options);
  }

  override async NodeGetCapabilities(): Promise<NodeGetCapabilitiesResponse> {
    return { capabilities: CAPABILITIES.map((type) => ({ rpc: { type } })) };
  }

  override async NodeGetInfo(_req: unknown, ctx: CallContext): Promise<NodeGetInfoResponse> {
    const segments: Record<string, string> = {};
    for (const backend of this.backends.all) await backend.registerNode?.(this.options.nodeId, op(ctx));
    for (const backend of this.backends.all) Object.assign(segments, await backend.nodeTopology(op(ctx)));
    return { node_id: this.options.nodeId, max_volumes_per_node: this.options.maxVolumes, accessible_topology: { segments } };
  }

  async NodeStageVolume(req: NodeStageVolumeRequest__Output, ctx: CallContext): Promise<NodeStageVolumeResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    const stagingPath = await this.callerPath(req.staging_target_path, 'staging_target_path', ctx);
    const capability = toCapability(req.volume_capability);
    const { backend, localId } = this.resolve(volumeId);
    // The volume context through the controller's checks: a static PV's attributes come straight from its author.
    checkVolumeContext(req.volume_context, capability.fsType);
    const fsType = parseFsType(capability.fsType || req.volume_context[CONTEXT_FS_TYPE] || undefined);
    checkCapabilityFlags(capability, 'volume_capability', backend, fsType);
    await ctx.lock(volumeId, pathKey(stagingPath));
    await this.volumes.stage(
      { volumeId, source: backend.nodeSource(localId), stagingPath, capability, fsType, mkfsOptions: req.volume_context[CONTEXT_MKFS_OPTIONS] },
      op(ctx),
    );
    return {};
  }

  async NodeUnstageVolume(req: NodeUnstageVolumeRequest__Output, ctx: CallContext): Promise<NodeUnstageVolumeResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    const stagingPath = await this.callerPath(req.staging_target_path, 'staging_target_path', ctx);
    await ctx.lock(volumeId, pathKey(stagingPath));
    await this.volumes.unstage(volumeId, stagingPath, this.sourceIfKnown(volumeId), op(ctx));
    return {};
  }

  async NodePublishVolume(req: NodePublishVolumeRequest__Output, ctx: CallContext): Promise<NodePublishVolumeResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    const targetPath = await this.callerPath(req.target_path, 'target_path', ctx);
    const stagingPath = await this.callerPath(req.staging_target_path, 'staging_target_path', ctx);
    const capability = toCapability(req.volume_capability);
    const { backend, localId } = this.resolve(volumeId);
    checkCapabilityFlags(capability, 'volume_capability', backend, req.volume_context[CONTEXT_FS_TYPE]);
    await ctx.lock(volumeId, pathKey(targetPath), pathKey(stagingPath));
    await this.volumes.publish(
      { volumeId, source: backend.nodeSource(localId), stagingPath, targetPath, capability, readOnly: req.readonly },
      op(ctx),
    );
    return {};
  }

  async NodeUnpublishVolume(req: NodeUnpublishVolumeRequest__Output, ctx: CallContext): Promise<NodeUnpublishVolumeResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    const targetPath = await this.callerPath(req.target_path, 'target_path', ctx);
    await ctx.lock(volumeId, pathKey(targetPath));
    await this.volumes.unpublish(volumeId, targetPath, this.sourceIfKnown(volumeId), op(ctx));
    return {};
  }

  async NodeGetVolumeStats(req: NodeGetVolumeStatsRequest__Output, ctx: CallContext): Promise<NodeGetVolumeStatsResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    const requested = requireField(req.volume_path, 'volume_path');
    // An unknown volume, or a path where no volume can be, is NOT_FOUND (csi-sanity); the path is checked before
    // anything touches it.
    const { backend, localId } = this.resolve(volumeId);
    const volumePath = await this.volumePath(requested, ctx);
    const usage = await this.volumes.usage(volumeId, volumePath, backend.nodeSource(localId), op(ctx));
    const condition = { abnormal: usage.condition.abnormal, message: usage.condition.message };
    if (usage.kind === 'block' || !usage.stats) {
      return { usage: [{ unit: 'BYTES', total: usage.totalBytes.toString() }], volume_condition: condition };
    }
    const s = usage.stats;
    return {
      usage: [
        { unit: 'BYTES', total: s.totalBytes.toString(), available: s.availableBytes.toString(), used: s.usedBytes.toString() },
        { unit: 'INODES', total: s.totalInodes.toString(), available: s.freeInodes.toString(), used: s.usedInodes.toString() },
      ],
      volume_condition: condition,
    };
  }

  async NodeExpandVolume(req: NodeExpandVolumeRequest__Output, ctx: CallContext): Promise<NodeExpandVolumeResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    const requested = requireField(req.volume_path, 'volume_path');
    const { backend, localId } = this.resolve(volumeId);
    if (req.volume_capability) toCapability(req.volume_capability);
    const volumePath = await this.volumePath(requested, ctx);
    await ctx.lock(volumeId, pathKey(volumePath));
    const bytes = await this.volumes.expand(volumeId, volumePath, backend.nodeSource(localId), op(ctx));
    return { capacity_bytes: bytes.toString() };
  }

  /** A required path of the request, checked (caller-paths.ts) before any step touches it: INVALID_ARGUMENT naming it. */
  private callerPath(value: string, field: string, ctx: CallContext): Promise<string> {
    return checkCallerPath(requireField(value, field), field, this.options.kubeletRoots ?? DEFAULT_KUBELET_ROOTS, ctx.signal);
  }

  /**
   * NodeGetVolumeStats' and NodeExpandVolume's volume_path: a path where no volume of ours can be (relative, outside
   * the kubelet root, through a symlink, under /proc) holds no volume: NOT_FOUND, as CSI has it for such a path.
   */
  private async volumePath(requested: string, ctx: CallContext): Promise<string> {
    try {
      return await checkCallerPath(requested, 'volume_path', this.options.kubeletRoots ?? DEFAULT_KUBELET_ROOTS, ctx.signal);
    } catch (err) {
      if (isDomainError(err, 'invalid-argument')) throw new DomainError('not-found', `no volume is at ${shortForMessage(requested)}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  /** Where the volume's device would be on this node; undefined for an id no backend here answers for. */
  private sourceIfKnown(volumeId: string): NodeSource | undefined {
    try {
      const { backend, localId } = this.resolve(volumeId);
      return backend.nodeSource(localId);
    } catch {
      return undefined;
    }
  }

  private resolve(volumeId: string): { backend: Backend; localId: string } {
    const scoped = parseScopedId(volumeId, 'volume');
    const backend = this.backends.forId(scoped.backend, volumeId);
    return { backend, localId: scoped.localId };
  }
}
