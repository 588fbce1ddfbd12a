import type { CallOptions, GatewayConnection } from './gateway.js';
import type { AccessMode, AddMappedSdcRequest, RemoveMappedSdcRequest, SetMappedSdcLimitsRequest } from './types.js';
import { checkId, wireBool } from './wire.js';

export interface MapOptions {
  sdcId: string;
  /** Without it, a volume mapped elsewhere answers mapped-elsewhere (errorCode 297, or 306 on old systems). */
  allowMultipleMappings: boolean;
  accessMode?: AccessMode;
}

/** One SDC, or every SDC (force-detach: only for a host proven dead, never a default). */
export type UnmapTarget = { sdcId: string } | { allSdcs: true };

export interface MappingLimits {
  sdcId: string;
  /** 0 = unlimited. */
  bandwidthLimitKbps?: bigint;
  /** 0 = unlimited. */
  iopsLimit?: bigint;
}

/**
 * Volume ↔ host mappings. Map and unmap are not retried after a connection failure: the second copy would answer
 * already-mapped (81) or not-mapped (84), which callers already treat as success, so the retry belongs to them.
 */
export class MappingsApi {
  constructor(private readonly gateway: GatewayConnection) {}

  async mapVolume(volumeId: string, map: MapOptions, options?: CallOptions): Promise<void> {
    const body: AddMappedSdcRequest = { sdcId: checkId(map.sdcId, 'SDC'), allowMultipleMappings: wireBool(map.allowMultipleMappings) };
    if (map.accessMode !== undefined) body.accessMode = map.accessMode;
    await this.gateway.request({ method: 'POST', path: `/instances/Volume::${checkId(volumeId, 'volume')}/action/addMappedSdc`, body }, options);
  }

  async unmapVolume(volumeId: string, target: UnmapTarget, options?: CallOptions): Promise<void> {
    // The gateway's documented spelling of "every SDC" is an empty string.
    const body: RemoveMappedSdcRequest = 'allSdcs' in target ? { allSdcs: '' } : { sdcId: checkId(target.sdcId, 'SDC') };
    await this.gateway.request({ method: 'POST', path: `/instances/Volume::${checkId(volumeId, 'volume')}/action/removeMappedSdc`, body }, options);
  }

  /** Per-mapping QoS. Absolute values, so a resend is harmless. */
  async setMappedSdcLimits(volumeId: string, limits: MappingLimits, options?: CallOptions): Promise<void> {
    const body: SetMappedSdcLimitsRequest = { sdcId: checkId(limits.sdcId, 'SDC') };
    if (limits.bandwidthLimitKbps !== undefined) body.bandwidthLimitInKbps = limits.bandwidthLimitKbps.toString();
    if (limits.iopsLimit !== undefined) body.iopsLimit = limits.iopsLimit.toString();
    const path = `/instances/Volume::${checkId(volumeId, 'volume')}/action/setMappedSdcLimits`;
    await this.gateway.request({ method: 'POST', path, body, idempotent: true }, options);
  }
}
