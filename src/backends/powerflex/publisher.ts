import { DomainError, isDomainError } from '../../errors.js';
import type { AccessMode as CsiAccessMode, OpContext, PublishInput } from '../backend.js';
import { decide } from '../../preemption/decide.js';
import type { HolderEvidence } from '../../preemption/evidence.js';
import { PARAM_PREEMPTION, parsePreemptionMode, type PreemptionMode } from '../../preemption/policy.js';
import type { NodeLivenessSource, PreemptionRecorder } from '../../preemption/recorder.js';
import type { Catalog } from './catalog.js';
import { describeSdc, indexBy, nodeIdOf } from './catalog.js';
import { gatherStorageEvidence } from './holder-evidence.js';
import type { PowerFlexClient } from './client.js';
import type { MappingQos } from './mapping-qos.js';
import type { AccessMode, MappedSdcInfo } from './types.js';
import type { QosLimits } from '../../parameters/qos.js';

/** Modes under which more than one host may hold the volume at once. */
const MULTI_NODE: ReadonlySet<CsiAccessMode> = new Set(['MULTI_NODE_READER_ONLY', 'MULTI_NODE_SINGLE_WRITER', 'MULTI_NODE_MULTI_WRITER']);
const READ_ONLY: ReadonlySet<CsiAccessMode> = new Set(['SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY']);

export function gatewayAccessMode(input: Pick<PublishInput, 'readOnly' | 'capability'>): AccessMode {
  return input.readOnly || READ_ONLY.has(input.capability.accessMode) ? 'ReadOnly' : 'ReadWrite';
}

export interface PublisherOptions {
  /** Volumes one SDC may hold; 0 = no limit. */
  maxVolumesPerNode: number;
  /** For volumes whose context carries no `preemption`. */
  defaultPreemption: PreemptionMode;
  /** How long a Disconnected holder's volume must stay idle before a `safe` take-over. */
  confirmWindowMs: number;
  recorder: PreemptionRecorder | undefined;
  liveness: NodeLivenessSource | undefined;
  /** The volume's QoS: given to every mapping made here, and kept across a take-over. */
  qos: MappingQos;
}

/** Mapping volumes to the SDCs of nodes (ControllerPublish / Unpublish), with preemption of dead holders. */
export class Publisher {
  constructor(
    private readonly client: PowerFlexClient,
    private readonly catalog: Catalog,
    private readonly options: PublisherOptions,
  ) {}

  async publish(input: PublishInput, ctx: OpContext): Promise<Record<string, string>> {
    const { ref, info } = await this.catalog.get('volume', input.volumeId, ctx);
    const sdc = await this.catalog.sdcOfNode(ref.systemId, input.nodeId, ctx);
    const accessMode = gatewayAccessMode(input);
    const multi = MULTI_NODE.has(input.capability.accessMode);
    // Read before a take-over removes the holder's mapping: the new one carries on with the same limits.
    const limits = await this.options.qos.wanted(input.volumeId, info.id, input.volumeContext, info.mappings, ctx);

    const mine = info.mappings.find((m) => m.sdcId === sdc.id);
    if (mine) return this.republished(info.id, mine, accessMode, input, limits, ctx);
    const others = info.mappings.filter((m) => m.sdcId !== sdc.id);
    if (others.length > 0 && !multi) {
      const mode = parsePreemptionMode(input.volumeContext[PARAM_PREEMPTION], this.options.defaultPreemption);
      await this.preempt(input, info.id, ref.systemId, others, mode, ctx);
    }
    await this.checkAttachLimit(sdc.id, input.nodeId, ctx);

    try {
      await this.client.mappings.mapVolume(info.id, { sdcId: sdc.id, allowMultipleMappings: multi, accessMode }, { signal: ctx.signal });
    } catch (err) {
      // Lost a race with another publish, or a retry of our own that went through: look at what is there now.
      if (isDomainError(err, 'already-mapped') || isDomainError(err, 'mapped-elsewhere')) {
        const now = (await this.catalog.get('volume', input.volumeId, ctx)).info;
        const mapped = now.mappings.find((m) => m.sdcId === sdc.id);
        if (mapped) return this.republished(now.id, mapped, accessMode, input, limits, ctx);
        throw await this.heldElsewhere(input.volumeId, ref.systemId, now.mappings, ctx);
      }
      throw err;
    }
    ctx.log.info({ volumeId: input.volumeId, nodeId: input.nodeId, sdcId: sdc.id, accessMode, multi }, 'volume mapped');
    // A failure here fails the publish; its retry finds the mapping and sets the limits (republished).
    await this.options.qos.apply(info.id, sdc.id, limits, ctx);
    return {};
  }

  async unpublish(volumeId: string, nodeId: string, ctx: OpContext): Promise<void> {
    const found = await this.catalog.find('volume', volumeId, ctx);
    if (!found) return;
    const sdc = await this.catalog.sdcOfNode(found.ref.systemId, nodeId, ctx).catch((err: unknown) => {
      if (isDomainError(err, 'not-found')) return undefined;
      throw err;
    });
    if (!sdc || !found.info.mappings.some((m) => m.sdcId === sdc.id)) return;
    try {
      await this.client.mappings.unmapVolume(found.info.id, { sdcId: sdc.id }, { signal: ctx.signal });
    } catch (err) {
      if (isDomainError(err, 'not-mapped') || isDomainError(err, 'not-found')) return;
      throw err;
    }
    ctx.log.info({ volumeId, nodeId, sdcId: sdc.id }, 'volume unmapped');
  }

  /**
   * Takes a single-node volume over from the nodes that hold it, when the policy and the evidence allow: each holder
   * is fenced (its mapping alone removed, never all mappings) before the caller maps the volume to the new node.
   */
  private async preempt(
    input: PublishInput,
    gatewayVolumeId: string,
    systemId: string,
    holders: readonly MappedSdcInfo[],
    mode: PreemptionMode,
    ctx: OpContext,
  ): Promise<void> {
    const sdcs = indexBy(await this.catalog.sdcs(systemId, ctx), (s) => s.id);
    for (const holder of holders) {
      const holderSdc = sdcs.get(holder.sdcId);
      const holderNodeId = holderSdc ? nodeIdOf(holderSdc) : holder.sdcId;
      const evidence: HolderEvidence = {
        storage:
          mode === 'safe'
            ? await gatherStorageEvidence(this.client, holderSdc, [gatewayVolumeId], this.options.confirmWindowMs, ctx)
            : { clientState: holderSdc?.mdmConnectionState ?? 'Unknown', ioDuringWindow: undefined },
        kubernetes: mode === 'safe' && this.options.liveness ? await this.options.liveness.observe(holderNodeId, ctx.signal) : { configured: false },
      };
      const decision = decide(mode, evidence);
      const base = { volumeId: input.volumeId, nodeId: input.nodeId, holderNodeId, mode };
      if (decision.action === 'refuse') {
        this.options.recorder?.record({ ...base, outcome: 'refused', why: decision.missing });
        throw new DomainError(
          'mapped-elsewhere',
          `volume ${input.volumeId} is published to ${describeSdc(holderSdc, holder.sdcId)} under a single-node access mode` +
            (mode === 'never' ? ' (preemption: never)' : `; not taken over (preemption: ${mode}): ${decision.missing.join('; ')}`),
        );
      }
      try {
        await this.client.mappings.unmapVolume(gatewayVolumeId, { sdcId: holder.sdcId }, { signal: ctx.signal });
      } catch (err) {
        if (!isDomainError(err, 'not-mapped')) throw err;
      }
      this.options.recorder?.record({ ...base, outcome: 'taken-over', why: decision.reasons });
      const fields = { volumeId: input.volumeId, from: holderNodeId, to: input.nodeId, mode, why: decision.reasons };
      if (decision.warning) ctx.log.warn(fields, 'volume taken over WITHOUT evidence that the holder is gone (preemption: force)');
      else ctx.log.info(fields, 'volume taken over from a node that is gone; its mapping was removed first');
    }
  }

  /** The node's attach limit, counted on the storage side (the scheduler counts too, from NodeGetInfo). */
  private async checkAttachLimit(sdcId: string, nodeId: string, ctx: OpContext): Promise<void> {
    if (this.options.maxVolumesPerNode === 0) return;
    const volumes = await this.client.volumes.listVolumes(undefined, { signal: ctx.signal });
    const held = volumes.filter((v) => v.mappings.some((m) => m.sdcId === sdcId)).length;
    if (held >= this.options.maxVolumesPerNode) {
      throw new DomainError('resource-exhausted', `node ${nodeId} holds ${held} volumes, its limit (maxVolumesPerNode ${this.options.maxVolumesPerNode})`);
    }
  }

  /** The volume is mapped to the node already: the same publish again, whose limits must hold too. */
  private async republished(
    gatewayVolumeId: string,
    mapping: MappedSdcInfo,
    accessMode: AccessMode,
    input: PublishInput,
    limits: QosLimits,
    ctx: OpContext,
  ): Promise<Record<string, string>> {
    const answer = this.alreadyPublished(mapping, accessMode, input.volumeId, input.nodeId);
    await this.options.qos.ensure(gatewayVolumeId, mapping, limits, ctx);
    return answer;
  }

  private alreadyPublished(mapping: MappedSdcInfo, accessMode: AccessMode, volumeId: string, nodeId: string): Record<string, string> {
    if (mapping.accessMode !== undefined && mapping.accessMode !== accessMode) {
      throw new DomainError('already-exists', `volume ${volumeId} is published to node ${nodeId} ${mapping.accessMode}, not ${accessMode}`);
    }
    return {};
  }

  private async heldElsewhere(volumeId: string, systemId: string, holders: readonly MappedSdcInfo[], ctx: OpContext): Promise<DomainError> {
    const sdcs = indexBy(await this.catalog.sdcs(systemId, ctx), (s) => s.id);
    const names = holders.map((h) => describeSdc(sdcs.get(h.sdcId), h.sdcId)).join(', ');
    return new DomainError('mapped-elsewhere', `volume ${volumeId} is published to ${names} under a single-node access mode`);
  }
}
