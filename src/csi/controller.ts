import type { Backend, Capability, OpContext, SnapshotRecord, VolumeRecord, VolumeSource } from '../backends/backend.js';
import { DomainError } from '../errors.js';
import type { ControllerHandlers } from '../gen/csi/v1/Controller.js';
import type { ControllerExpandVolumeRequest__Output } from '../gen/csi/v1/ControllerExpandVolumeRequest.js';
import type { ControllerExpandVolumeResponse } from '../gen/csi/v1/ControllerExpandVolumeResponse.js';
import type { ControllerGetCapabilitiesResponse } from '../gen/csi/v1/ControllerGetCapabilitiesResponse.js';
import type { ControllerGetVolumeRequest__Output } from '../gen/csi/v1/ControllerGetVolumeRequest.js';
import type { ControllerGetVolumeResponse } from '../gen/csi/v1/ControllerGetVolumeResponse.js';
import type { ControllerModifyVolumeRequest__Output } from '../gen/csi/v1/ControllerModifyVolumeRequest.js';
import type { ControllerModifyVolumeResponse } from '../gen/csi/v1/ControllerModifyVolumeResponse.js';
import type { ControllerPublishVolumeRequest__Output } from '../gen/csi/v1/ControllerPublishVolumeRequest.js';
import type { ControllerPublishVolumeResponse } from '../gen/csi/v1/ControllerPublishVolumeResponse.js';
import type { _csi_v1_ControllerServiceCapability_RPC_Type } from '../gen/csi/v1/ControllerServiceCapability.js';
import type { ControllerUnpublishVolumeRequest__Output } from '../gen/csi/v1/ControllerUnpublishVolumeRequest.js';
import type { ControllerUnpublishVolumeResponse } from '../gen/csi/v1/ControllerUnpublishVolumeResponse.js';
import type { CreateSnapshotRequest__Output } from '../gen/csi/v1/CreateSnapshotRequest.js';
import type { CreateSnapshotResponse } from '../gen/csi/v1/CreateSnapshotResponse.js';
import type { CreateVolumeRequest__Output } from '../gen/csi/v1/CreateVolumeRequest.js';
import type { CreateVolumeResponse } from '../gen/csi/v1/CreateVolumeResponse.js';
import type { DeleteSnapshotRequest__Output } from '../gen/csi/v1/DeleteSnapshotRequest.js';
import type { DeleteSnapshotResponse } from '../gen/csi/v1/DeleteSnapshotResponse.js';
import type { DeleteVolumeRequest__Output } from '../gen/csi/v1/DeleteVolumeRequest.js';
import type { DeleteVolumeResponse } from '../gen/csi/v1/DeleteVolumeResponse.js';
import type { GetCapacityRequest__Output } from '../gen/csi/v1/GetCapacityRequest.js';
import type { GetCapacityResponse } from '../gen/csi/v1/GetCapacityResponse.js';
import type { ListSnapshotsRequest__Output } from '../gen/csi/v1/ListSnapshotsRequest.js';
import type { ListSnapshotsResponse } from '../gen/csi/v1/ListSnapshotsResponse.js';
import type { ListVolumesRequest__Output } from '../gen/csi/v1/ListVolumesRequest.js';
import type { ListVolumesResponse } from '../gen/csi/v1/ListVolumesResponse.js';
import type { Snapshot } from '../gen/csi/v1/Snapshot.js';
import type { TopologyRequirement__Output } from '../gen/csi/v1/TopologyRequirement.js';
import type { ValidateVolumeCapabilitiesRequest__Output } from '../gen/csi/v1/ValidateVolumeCapabilitiesRequest.js';
import type { ValidateVolumeCapabilitiesResponse } from '../gen/csi/v1/ValidateVolumeCapabilitiesResponse.js';
import type { Volume } from '../gen/csi/v1/Volume.js';
import type { VolumeContentSource } from '../gen/csi/v1/VolumeContentSource.js';
import { checkVolumeContext } from '../parameters/volume-options.js';
import { hasQos, overlayQos, parseMutableParameters, qosToContext, type QosLimits } from '../parameters/qos.js';
import { PARAM_PREEMPTION } from '../preemption/policy.js';
import type { CallContext, ServiceImpl } from '../server/handler.js';
import { int64ToBigInt } from '../util/size.js';
import { checkCapabilityFlags, toCapabilities, toCapability } from './capabilities.js';
import { formatScopedId, parseScopedId } from './ids.js';
import { paginate } from './pagination.js';
import { snapshotMessage } from './snapshot-message.js';
import { routeBySystem } from './system-routing.js';
import { CONTEXT_FS_TYPE, CONTEXT_MKFS_OPTIONS, PARAM_BACKEND, splitParameters } from './parameters.js';
import type { BackendRegistry } from './registry.js';
import { requireField } from './validate.js';

const CAPABILITIES: _csi_v1_ControllerServiceCapability_RPC_Type[] = [
  'CREATE_DELETE_VOLUME',
  'PUBLISH_UNPUBLISH_VOLUME',
  'LIST_VOLUMES',
  'GET_CAPACITY',
  'CREATE_DELETE_SNAPSHOT',
  'LIST_SNAPSHOTS',
  'CLONE_VOLUME',
  'PUBLISH_READONLY',
  'EXPAND_VOLUME',
  'LIST_VOLUMES_PUBLISHED_NODES',
  'GET_VOLUME',
  'SINGLE_NODE_MULTI_WRITER',
];

function op(ctx: CallContext): OpContext {
  return { signal: ctx.signal, log: ctx.log };
}

function contentSource(source: VolumeSource | undefined): VolumeContentSource | null {
  if (!source) return null;
  return source.kind === 'snapshot' ? { snapshot: { snapshot_id: source.id } } : { volume: { volume_id: source.id } };
}

/** The most the request lets the volume hold (limit, else the required size); undefined when it sets neither. */
function requestedSize(capacity: { requiredBytes: bigint; limitBytes: bigint }): bigint | undefined {
  if (capacity.limitBytes > 0n) return capacity.limitBytes;
  return capacity.requiredBytes > 0n ? capacity.requiredBytes : undefined;
}

/** Whether one of `segments` (a CO topology) is this backend's segment. */
function topologyMatches(segments: readonly { segments: Record<string, string> }[], ours: Record<string, string>): boolean {
  return segments.some((t) => Object.entries(t.segments).every(([k, v]) => ours[k] === v));
}

/** With no backend configured there is nothing to provision: the service says so and offers no capability. */
export class ControllerInfoService implements ServiceImpl<ControllerHandlers> {
  async ControllerGetCapabilities(): Promise<ControllerGetCapabilitiesResponse> {
    return { capabilities: [] };
  }
}

/**
 * The Controller service: validate, take the in-flight key, delegate to the backend that owns the volume, answer.
 * Stateless: the backend name in every id routes later calls.
 */
export class ControllerService implements ServiceImpl<ControllerHandlers> {
  constructor(private readonly backends: BackendRegistry) {}

  async ControllerGetCapabilities(): Promise<ControllerGetCapabilitiesResponse> {
    // MODIFY_VOLUME only when a configured backend can change a volume's QoS: csi-sanity and the resizer then use it.
    const types = this.backends.all.some((b) => b.modifyVolume) ? [...CAPABILITIES, 'MODIFY_VOLUME' as const] : CAPABILITIES;
    return { capabilities: types.map((type) => ({ rpc: { type } })) };
  }

  async CreateVolume(req: CreateVolumeRequest__Output, ctx: CallContext): Promise<CreateVolumeResponse> {
    const name = requireField(req.name, 'name');
    const capabilities = toCapabilities(req.volume_capabilities);
    // Only QoS is mutable; the CSI spec has mutable_parameters win over parameters.
    const mutable = parseMutableParameters(req.mutable_parameters);
    const capacity = {
      requiredBytes: int64ToBigInt(req.capacity_range?.required_bytes),
      limitBytes: int64ToBigInt(req.capacity_range?.limit_bytes),
    };
    const params = splitParameters(routeBySystem(req.parameters, this.backends), (b) => this.backends.forParameter(b).parameterKeys, requestedSize(capacity));
    const backend = this.backends.forParameter(params.backend);
    capabilities.forEach((c, i) => checkCapabilityFlags(c, `volume_capabilities[${i}]`, backend, params.fsType));
    this.checkSupported(backend, capabilities);
    const qos = overlayQos(params.qos, mutable);
    this.checkQosSupported(backend, qos);
    const source = this.sourceOf(req, backend);
    await ctx.lock(`create-volume/${name}`);
    if (req.accessibility_requirements) await this.checkAccessible(req.accessibility_requirements, backend, ctx);

    const record = await backend.createVolume({ name, capacity, parameters: params.backendParameters, source, capabilities }, op(ctx));
    const volumeContext: Record<string, string> = { [PARAM_BACKEND]: backend.name, [CONTEXT_FS_TYPE]: params.fsType };
    if (params.mkfsOptions !== undefined) volumeContext[CONTEXT_MKFS_OPTIONS] = params.mkfsOptions;
    // Carried in the context so ControllerPublish, which sees no StorageClass, knows the volume's policy.
    if (params.preemption !== undefined) volumeContext[PARAM_PREEMPTION] = params.preemption;
    Object.assign(volumeContext, qosToContext(qos));
    return { volume: this.volume(backend, record, volumeContext) };
  }

  async DeleteVolume(req: DeleteVolumeRequest__Output, ctx: CallContext): Promise<DeleteVolumeResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    await ctx.lock(volumeId);
    const target = this.locate(volumeId, 'volume');
    if (target) await target.backend.deleteVolume(target.localId, op(ctx));
    return {};
  }

  async ControllerPublishVolume(req: ControllerPublishVolumeRequest__Output, ctx: CallContext): Promise<ControllerPublishVolumeResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    const nodeId = requireField(req.node_id, 'node_id');
    const capability = toCapability(req.volume_capability);
    checkVolumeContext(req.volume_context, capability.fsType);
    // One key per volume, not per volume and node: two nodes racing for one single-writer volume are served in turn.
    await ctx.lock(volumeId);
    const { backend, localId } = this.resolve(volumeId, 'volume');
    checkCapabilityFlags(capability, 'volume_capability', backend, req.volume_context[CONTEXT_FS_TYPE]);
    this.checkSupported(backend, [capability]);
    const publishContext = await backend.publishVolume(
      { volumeId: localId, nodeId, capability, readOnly: req.readonly, volumeContext: req.volume_context },
      op(ctx),
    );
    return { publish_context: publishContext };
  }

  async ControllerUnpublishVolume(req: ControllerUnpublishVolumeRequest__Output, ctx: CallContext): Promise<ControllerUnpublishVolumeResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    await ctx.lock(volumeId);
    const target = this.locate(volumeId, 'volume');
    if (!target) return {};
    const nodeIds = req.node_id !== '' ? [req.node_id] : (await target.backend.getVolume(target.localId, op(ctx)).catch(() => undefined))?.publishedNodeIds ?? [];
    for (const nodeId of nodeIds) await target.backend.unpublishVolume(target.localId, nodeId, op(ctx));
    return {};
  }

  async ValidateVolumeCapabilities(req: ValidateVolumeCapabilitiesRequest__Output, ctx: CallContext): Promise<ValidateVolumeCapabilitiesResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    const capabilities = toCapabilities(req.volume_capabilities);
    const { backend, localId } = this.resolve(volumeId, 'volume');
    capabilities.forEach((c, i) => checkCapabilityFlags(c, `volume_capabilities[${i}]`, backend, req.volume_context[CONTEXT_FS_TYPE]));
    await backend.getVolume(localId, op(ctx));
    const unsupported = capabilities.find((c) => !backend.supports(c));
    if (unsupported) return { message: `${unsupported.accessType} volumes do not support ${unsupported.accessMode} on backend ${backend.name}` };
    return {
      confirmed: {
        volume_context: req.volume_context,
        volume_capabilities: req.volume_capabilities,
        parameters: req.parameters,
        mutable_parameters: req.mutable_parameters,
      },
    };
  }

  async ListVolumes(req: ListVolumesRequest__Output, ctx: CallContext): Promise<ListVolumesResponse> {
    const all: { backend: Backend; record: VolumeRecord; id: string }[] = [];
    for (const backend of this.backends.all) {
      for (const record of await backend.listVolumes(op(ctx))) all.push({ backend, record, id: formatScopedId(backend.name, record.id) });
    }
    const page = paginate(all, (v) => v.id, req.max_entries, req.starting_token);
    return {
      entries: page.items.map(({ backend, record }) => ({
        volume: this.volume(backend, record, {}),
        status: { published_node_ids: record.publishedNodeIds },
      })),
      next_token: page.nextToken,
    };
  }

  async GetCapacity(req: GetCapacityRequest__Output, ctx: CallContext): Promise<GetCapacityResponse> {
    const params = splitParameters(routeBySystem(req.parameters, this.backends), (b) => this.backends.forParameter(b).parameterKeys);
    const backend = this.backends.forParameter(params.backend);
    const capabilities = req.volume_capabilities.map((c, i) => toCapability(c, `volume_capabilities[${i}]`));
    capabilities.forEach((c, i) => checkCapabilityFlags(c, `volume_capabilities[${i}]`, backend, params.fsType));
    if (capabilities.some((c) => !backend.supports(c))) return { available_capacity: '0' };
    // Per topology segment (the provisioner's CSIStorageCapacity objects): a backend answers for its own segment only,
    // but one reachable from everywhere (no segment of its own: NFS) answers for every segment.
    if (req.accessible_topology) {
      const ours = await backend.nodeTopology(op(ctx));
      if (Object.keys(ours).length > 0 && !topologyMatches([req.accessible_topology], ours)) return { available_capacity: '0' };
    }
    const capacity = await backend.getCapacity(params.backendParameters, op(ctx));
    return {
      available_capacity: capacity.availableBytes.toString(),
      maximum_volume_size: capacity.maximumVolumeBytes === undefined ? null : { value: capacity.maximumVolumeBytes.toString() },
      minimum_volume_size: capacity.minimumVolumeBytes === undefined ? null : { value: capacity.minimumVolumeBytes.toString() },
    };
  }

  async ControllerGetVolume(req: ControllerGetVolumeRequest__Output, ctx: CallContext): Promise<ControllerGetVolumeResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    const { backend, localId } = this.resolve(volumeId, 'volume');
    const record = await backend.getVolume(localId, op(ctx));
    return { volume: this.volume(backend, record, {}), status: { published_node_ids: record.publishedNodeIds } };
  }

  async ControllerExpandVolume(req: ControllerExpandVolumeRequest__Output, ctx: CallContext): Promise<ControllerExpandVolumeResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    if (!req.capacity_range) throw new DomainError('invalid-argument', 'capacity_range is required');
    const capacity = { requiredBytes: int64ToBigInt(req.capacity_range.required_bytes), limitBytes: int64ToBigInt(req.capacity_range.limit_bytes) };
    const capability = req.volume_capability ? toCapability(req.volume_capability) : undefined;
    await ctx.lock(volumeId);
    const { backend, localId } = this.resolve(volumeId, 'volume');
    const result = await backend.expandVolume(localId, capacity, op(ctx));
    // A filesystem must be grown by the node that mounts it; a raw block device is its own size.
    return { capacity_bytes: result.capacityBytes.toString(), node_expansion_required: capability?.accessType !== 'block' };
  }

  async ControllerModifyVolume(req: ControllerModifyVolumeRequest__Output, ctx: CallContext): Promise<ControllerModifyVolumeResponse> {
    const volumeId = requireField(req.volume_id, 'volume_id');
    const limits = parseMutableParameters(req.mutable_parameters);
    await ctx.lock(volumeId);
    const { backend, localId } = this.resolve(volumeId, 'volume');
    this.checkQosSupported(backend, limits);
    if (backend.modifyVolume) await backend.modifyVolume(localId, limits, op(ctx));
    // Nothing to change still answers for the volume: an unknown one is NOT_FOUND.
    else await backend.getVolume(localId, op(ctx));
    return {};
  }

  async CreateSnapshot(req: CreateSnapshotRequest__Output, ctx: CallContext): Promise<CreateSnapshotResponse> {
    const name = requireField(req.name, 'name');
    const sourceId = requireField(req.source_volume_id, 'source_volume_id');
    const unknown = Object.keys(req.parameters).filter((k) => !k.startsWith('csi.storage.k8s.io/'));
    if (unknown.length > 0) throw new DomainError('invalid-argument', `unknown snapshot parameter(s) ${unknown.sort().join(', ')}`);
    await ctx.lock(`create-snapshot/${name}`, sourceId);
    const { backend, localId } = this.resolve(sourceId, 'volume');
    const record = await backend.createSnapshot(name, localId, op(ctx));
    return { snapshot: this.snapshot(backend, record) };
  }

  async DeleteSnapshot(req: DeleteSnapshotRequest__Output, ctx: CallContext): Promise<DeleteSnapshotResponse> {
    const snapshotId = requireField(req.snapshot_id, 'snapshot_id');
    await ctx.lock(snapshotId);
    const target = this.locate(snapshotId, 'snapshot');
    if (target) await target.backend.deleteSnapshot(target.localId, op(ctx));
    return {};
  }

  async ListSnapshots(req: ListSnapshotsRequest__Output, ctx: CallContext): Promise<ListSnapshotsResponse> {
    const all: { backend: Backend; record: SnapshotRecord; id: string; sourceId: string }[] = [];
    for (const backend of this.backends.all) {
      for (const record of await backend.listSnapshots(op(ctx))) {
        all.push({ backend, record, id: formatScopedId(backend.name, record.id), sourceId: formatScopedId(backend.name, record.sourceVolumeId) });
      }
    }
    // Filters narrow the list; an id that matches nothing is an empty answer, not an error.
    const wanted = all.filter((s) => (req.snapshot_id === '' || s.id === req.snapshot_id) && (req.source_volume_id === '' || s.sourceId === req.source_volume_id));
    const page = paginate(wanted, (s) => s.id, req.max_entries, req.starting_token);
    return { entries: page.items.map(({ backend, record }) => ({ snapshot: this.snapshot(backend, record) })), next_token: page.nextToken };
  }

  private volume(backend: Backend, record: VolumeRecord, context: Record<string, string>): Volume {
    return {
      volume_id: formatScopedId(backend.name, record.id),
      capacity_bytes: record.capacityBytes.toString(),
      volume_context: context,
      content_source: contentSource(
        record.source && { ...record.source, id: formatScopedId(backend.name, record.source.id) },
      ),
      accessible_topology: record.topology.map((segments) => ({ segments })),
    };
  }

  private snapshot(backend: Backend, record: SnapshotRecord): Snapshot {
    return snapshotMessage(backend.name, record);
  }

  /** The backend and its id for a CSI id; not-found for ids no configured backend made. */
  private resolve(id: string, what: string): { backend: Backend; localId: string } {
    const scoped = parseScopedId(id, what);
    return { backend: this.backends.forId(scoped.backend, id), localId: scoped.localId };
  }

  /** Like resolve, for deletes and unpublishes: what cannot be found is already gone. */
  private locate(id: string, what: string): { backend: Backend; localId: string } | undefined {
    try {
      return this.resolve(id, what);
    } catch (err) {
      if (err instanceof DomainError && err.kind === 'not-found') return undefined;
      throw err;
    }
  }

  private sourceOf(req: CreateVolumeRequest__Output, backend: Backend): VolumeSource | undefined {
    const source = req.volume_content_source;
    if (!source) return undefined;
    const [kind, id] = source.snapshot ? (['snapshot', source.snapshot.snapshot_id] as const) : (['volume', source.volume?.volume_id ?? ''] as const);
    requireField(id, `volume_content_source.${kind}`);
    const scoped = parseScopedId(id, kind);
    if (scoped.backend !== backend.name) {
      throw new DomainError('not-found', `${kind} ${id} is not in backend ${backend.name}, where the new volume goes`);
    }
    return { kind, id: scoped.localId };
  }

  private checkSupported(backend: Backend, capabilities: readonly Capability[]): void {
    for (const c of capabilities) {
      if (!backend.supports(c)) {
        throw new DomainError('invalid-argument', `backend ${backend.name} cannot serve ${c.accessType} volumes as ${c.accessMode}`);
      }
    }
  }

  private checkQosSupported(backend: Backend, limits: QosLimits): void {
    if (hasQos(limits) && !backend.modifyVolume) {
      throw new DomainError('invalid-argument', `backend ${backend.name} (${backend.type}) cannot limit a volume's I/O: remove bandwidthLimitInKbps and iopsLimit`);
    }
  }

  private async checkAccessible(requirements: TopologyRequirement__Output, backend: Backend, ctx: CallContext): Promise<void> {
    const wanted = [...requirements.requisite, ...requirements.preferred];
    if (wanted.length === 0) return;
    const ours = await backend.nodeTopology(op(ctx));
    // A backend reachable from everywhere (an NFS export) has no segment of its own: any requirement suits it.
    if (Object.keys(ours).length === 0) return;
    if (!topologyMatches(wanted, ours)) {
      throw new DomainError('resource-exhausted', `backend ${backend.name} is reachable only from ${JSON.stringify(ours)}, not from the requested topology`);
    }
  }
}
