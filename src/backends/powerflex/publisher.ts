import { DomainError, isDomainError } from '../../errors.js';
import type { AccessMode as CsiAccessMode, OpContext, PublishInput } from '../backend.js';
import type { Catalog} from './catalog.js';
import { describeSdc, indexBy } from './catalog.js';
import type { PowerFlexClient } from './client.js';
import type { AccessMode, MappedSdcInfo } from './types.js';

/** Modes under which more than one host may hold the volume at once. */
const MULTI_NODE: ReadonlySet<CsiAccessMode> = new Set(['MULTI_NODE_READER_ONLY', 'MULTI_NODE_SINGLE_WRITER', 'MULTI_NODE_MULTI_WRITER']);
const READ_ONLY: ReadonlySet<CsiAccessMode> = new Set(['SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY']);

export function gatewayAccessMode(input: Pick<PublishInput, 'readOnly' | 'capability'>): AccessMode {
  return input.readOnly || READ_ONLY.has(input.capability.accessMode) ? 'ReadOnly' : 'ReadWrite';
}

/** Mapping volumes to the SDCs of nodes (ControllerPublish / Unpublish). */
export class Publisher {
  constructor(
    private readonly client: PowerFlexClient,
    private readonly catalog: Catalog,
    /** Volumes one SDC may hold; 0 = no limit. */
    private readonly maxVolumesPerNode: number,
  ) {}

  async publish(input: PublishInput, ctx: OpContext): Promise<Record<string, string>> {
    const { ref, info } = await this.catalog.get('volume', input.volumeId, ctx);
    const sdc = await this.catalog.sdcOfNode(ref.systemId, input.nodeId, ctx);
    const accessMode = gatewayAccessMode(input);
    const multi = MULTI_NODE.has(input.capability.accessMode);

    const mine = info.mappings.find((m) => m.sdcId === sdc.id);
    if (mine) return this.alreadyPublished(mine, accessMode, input.volumeId, input.nodeId);
    const others = info.mappings.filter((m) => m.sdcId !== sdc.id);
    if (others.length > 0 && !multi) throw await this.heldElsewhere(input.volumeId, ref.systemId, others, ctx);
    await this.checkAttachLimit(sdc.id, input.nodeId, ctx);

    try {
      await this.client.mappings.mapVolume(info.id, { sdcId: sdc.id, allowMultipleMappings: multi, accessMode }, { signal: ctx.signal });
    } catch (err) {
      // Lost a race with another publish, or a retry of our own that went through: look at what is there now.
      if (isDomainError(err, 'already-mapped') || isDomainError(err, 'mapped-elsewhere')) {
        const now = (await this.catalog.get('volume', input.volumeId, ctx)).info;
        const mapped = now.mappings.find((m) => m.sdcId === sdc.id);
        if (mapped) return this.alreadyPublished(mapped, accessMode, input.volumeId, input.nodeId);
        throw await this.heldElsewhere(input.volumeId, ref.systemId, now.mappings, ctx);
      }
      throw err;
    }
    ctx.log.info({ volumeId: input.volumeId, nodeId: input.nodeId, sdcId: sdc.id, accessMode, multi }, 'volume mapped');
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

  /** The node's attach limit, counted on the storage side (the scheduler counts too, from NodeGetInfo). */
  private async checkAttachLimit(sdcId: string, nodeId: string, ctx: OpContext): Promise<void> {
    if (this.maxVolumesPerNode === 0) return;
    const volumes = await this.client.volumes.listVolumes(undefined, { signal: ctx.signal });
    const held = volumes.filter((v) => v.mappings.some((m) => m.sdcId === sdcId)).length;
    if (held >= this.maxVolumesPerNode) {
      throw new DomainError('resource-exhausted', `node ${nodeId} holds ${held} volumes, its limit (maxVolumesPerNode ${this.maxVolumesPerNode})`);
    }
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
