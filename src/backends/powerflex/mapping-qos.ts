import { errorMessage } from '../../errors.js';
import type { OpContext, VolumeClassSource } from '../backend.js';
import { BANDWIDTH_GRAIN_KBPS, hasQos, overlayQos, parseQos, type QosLimits } from '../../parameters/qos.js';
import type { Catalog } from './catalog.js';
import type { PowerFlexClient } from './client.js';
import type { MappedSdcInfo } from './types.js';

/** What a mapping holds now, in the request's units (the gateway reports bandwidth in whole MiB/s). */
export function limitsOfMapping(mapping: MappedSdcInfo): Required<QosLimits> {
  return { bandwidthKbps: BigInt(mapping.limitBwInMbps) * BANDWIDTH_GRAIN_KBPS, iops: BigInt(mapping.limitIops) };
}

/**
 * The QoS of a volume's mappings (the gateway's setMappedSdcLimits, one mapping at a time), and which limits a new
 * mapping gets. A limit belongs to a mapping, not to the volume, so a mapping made later must be given it again. The
 * CO never passes ControllerModifyVolume's parameters to ControllerPublish, so, each source over the one before:
 * - the volume context, which carries the StorageClass's (and CreateVolume's mutable_parameters') values;
 * - the volume's live mappings, when it has any: what it runs with (a take-over reads the holder's before fencing it);
 * - the changes this process made with ControllerModifyVolume (for COs without a record of their own);
 * - the CO's record, when there is one (Kubernetes: the PV's VolumeAttributesClass), which every controller replica
 *   shares: the attacher's leader may run in another replica than the resizer's, and a process forgets on restart.
 */
export class MappingQos {
  /** Changes made by ControllerModifyVolume, by gateway volume id: only the keys each change named. */
  private readonly modified = new Map<string, QosLimits>();

  constructor(
    private readonly client: PowerFlexClient,
    private readonly catalog: Catalog,
    private readonly classes: VolumeClassSource | undefined,
  ) {}

  /** The limits a mapping of this volume should carry; `mappings` as read before anything was changed. */
  async wanted(
    localId: string,
    gatewayVolumeId: string,
    volumeContext: Readonly<Record<string, string>>,
    mappings: readonly MappedSdcInfo[],
    ctx: OpContext,
  ): Promise<QosLimits> {
    const [live] = mappings;
    const base = live ? limitsOfMapping(live) : parseQos(volumeContext, 'volume_context');
    const known = overlayQos(base, this.modified.get(gatewayVolumeId) ?? {});
    const recorded = await this.recordedClass(localId, ctx);
    return recorded === undefined ? known : overlayQos(known, parseQos(recorded, 'VolumeAttributesClass'));
  }

  /** The CO's record; when it cannot be read, the publish goes on with what is known here (and says so). */
  private async recordedClass(localId: string, ctx: OpContext): Promise<Record<string, string> | undefined> {
    if (!this.classes) return undefined;
    try {
      return await this.classes.mutableParametersOf(localId, ctx.signal);
    } catch (err) {
      ctx.log.warn({ volumeId: localId, err: errorMessage(err) }, "cannot read the volume's VolumeAttributesClass; mapping with the limits known here");
      return undefined;
    }
  }

  /** Gives a fresh mapping its limits (a fresh mapping is unlimited, so there is nothing to send for none). */
  async apply(gatewayVolumeId: string, sdcId: string, limits: QosLimits, ctx: OpContext): Promise<void> {
    if (!hasQos(limits)) return;
    await this.send(gatewayVolumeId, sdcId, limits, ctx);
  }

  /** An existing mapping (a retried publish): sets what differs, e.g. after a publish cut short between map and limits. */
  async ensure(gatewayVolumeId: string, mapping: MappedSdcInfo, limits: QosLimits, ctx: OpContext): Promise<void> {
    const now = limitsOfMapping(mapping);
    const differs = (limits.bandwidthKbps !== undefined && limits.bandwidthKbps !== now.bandwidthKbps) || (limits.iops !== undefined && limits.iops !== now.iops);
    if (differs) await this.send(gatewayVolumeId, mapping.sdcId, limits, ctx);
  }

  /**
   * ControllerModifyVolume: every current mapping of the volume gets the named limits at once, and later mappings
   * get them too. not-found for an unknown volume. Absolute values, so a retry is harmless.
   */
  async modify(localId: string, limits: QosLimits, ctx: OpContext): Promise<void> {
    const { info } = await this.catalog.get('volume', localId, ctx);
    if (!hasQos(limits)) return;
    // Remembered first: a publish racing this call then maps with the new limits even if a mapping below fails.
    this.modified.set(info.id, overlayQos(this.modified.get(info.id) ?? {}, limits));
    for (const mapping of info.mappings) await this.send(info.id, mapping.sdcId, limits, ctx);
    ctx.log.info(
      { volumeId: localId, mappings: info.mappings.length, bandwidthLimitInKbps: limits.bandwidthKbps?.toString(), iopsLimit: limits.iops?.toString() },
      'volume QoS modified',
    );
  }

  private async send(gatewayVolumeId: string, sdcId: string, limits: QosLimits, ctx: OpContext): Promise<void> {
    await this.client.mappings.setMappedSdcLimits(
      gatewayVolumeId,
      {
        sdcId,
        ...(limits.bandwidthKbps === undefined ? {} : { bandwidthLimitKbps: limits.bandwidthKbps }),
        ...(limits.iops === undefined ? {} : { iopsLimit: limits.iops }),
      },
      { signal: ctx.signal },
    );
    ctx.log.info({ volumeId: gatewayVolumeId, sdcId, bandwidthLimitInKbps: limits.bandwidthKbps?.toString(), iopsLimit: limits.iops?.toString() }, 'mapping limits set');
  }
}
