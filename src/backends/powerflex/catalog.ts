import { DomainError, isDomainError } from '../../errors.js';
import { KiB } from '../../util/size.js';
import type { OpContext, SnapshotRecord, VolumeRecord, VolumeSource } from '../backend.js';
import type { PowerFlexClient } from './client.js';
import { isFerryName, isGroupMemberName, type NamedKind } from './naming.js';
import type { Sdc } from './types.js';
import { formatLocalId, parseLocalId, type PowerFlexVolumeRef } from './volume-id.js';
import type { VolumeInfo } from './volumes.js';

/** The topology segment of one storage system: nodes whose SDC belongs to it carry the same key. */
export function topologyOf(systemId: string): Record<string, string> {
  return { [`ferry.csi.io/powerflex-${systemId}`]: 'true' };
}

/**
 * Lookups shared by the volume, publish and snapshot operations: Ferry's own objects by id, and the SDCs that
 * stand for nodes. Only objects Ferry named are answered for: a gateway shared with other tools stays theirs.
 */
export class Catalog {
  constructor(
    private readonly client: PowerFlexClient,
    /** The id of the one system this backend serves. */
    private readonly systemId: (ctx: OpContext) => Promise<string>,
  ) {}

  /**
   * The Ferry volume (or snapshot) with this local id; not-found otherwise. The id's system part must be this
   * backend's system: an id naming another system (or a made-up one) is never answered with this system's volume
   * of the same number.
   */
  async get(kind: NamedKind, localId: string, ctx: OpContext): Promise<{ ref: PowerFlexVolumeRef; info: VolumeInfo }> {
    const ref = parseLocalId(localId, kind);
    const systemId = await this.systemId(ctx);
    if (ref.systemId !== systemId) throw new DomainError('not-found', `${kind} ${localId} does not exist (system ${ref.systemId} is not this backend's system ${systemId})`);
    let info: VolumeInfo;
    try {
      info = await this.client.volumes.getVolume(ref.volumeId, { signal: ctx.signal });
    } catch (err) {
      if (isDomainError(err, 'not-found')) throw new DomainError('not-found', `${kind} ${localId} does not exist`, { cause: err });
      throw err;
    }
    if (!isFerryName(kind, info.name)) throw new DomainError('not-found', `${kind} ${localId} does not exist`);
    return { ref, info };
  }

  /** Like get, but undefined when it does not exist. */
  async find(kind: NamedKind, localId: string, ctx: OpContext): Promise<{ ref: PowerFlexVolumeRef; info: VolumeInfo } | undefined> {
    try {
      return await this.get(kind, localId, ctx);
    } catch (err) {
      if (isDomainError(err, 'not-found')) return undefined;
      throw err;
    }
  }

  /** The object called `gatewayName`, or undefined. */
  async findByName(gatewayName: string, ctx: OpContext): Promise<VolumeInfo | undefined> {
    const id = await this.client.volumes.queryVolumeIdByName(gatewayName, { signal: ctx.signal });
    if (id === undefined) return undefined;
    try {
      return await this.client.volumes.getVolume(id, { signal: ctx.signal });
    } catch (err) {
      // Deleted between the two requests.
      if (isDomainError(err, 'not-found')) return undefined;
      throw err;
    }
  }

  async sdcs(systemId: string, ctx: OpContext): Promise<Sdc[]> {
    return this.client.sdcs.listSdcs(systemId, { signal: ctx.signal });
  }

  /** The SDC a node id (its GUID) stands for; not-found when the system has none. */
  async sdcOfNode(systemId: string, nodeId: string, ctx: OpContext): Promise<Sdc> {
    const sdc = await this.client.sdcs.findSdcByGuid(nodeId, systemId, { signal: ctx.signal });
    if (!sdc) throw new DomainError('not-found', `node ${nodeId} has no SDC in system ${systemId}`);
    return sdc;
  }
}

export function nodeIdOf(sdc: Sdc): string {
  return sdc.sdcGuid.toUpperCase();
}

/** How an SDC is named in messages: the node id and, when it has one, the SDC's name. */
export function describeSdc(sdc: Sdc | undefined, sdcId: string): string {
  if (!sdc) return `SDC ${sdcId}`;
  return sdc.name ? `node ${nodeIdOf(sdc)} (SDC ${sdc.name})` : `node ${nodeIdOf(sdc)}`;
}

/** Where a Ferry volume came from, told by its ancestor's name (a snapshot source, or a clone's volume). */
export function sourceOf(info: VolumeInfo, systemId: string, byId: ReadonlyMap<string, VolumeInfo>): VolumeSource | undefined {
  if (info.ancestorVolumeId === undefined) return undefined;
  const ancestor = byId.get(info.ancestorVolumeId);
  const id = formatLocalId({ systemId, volumeId: info.ancestorVolumeId });
  if (ancestor && isFerryName('volume', ancestor.name)) return { kind: 'volume', id };
  return { kind: 'snapshot', id };
}

export function volumeRecord(
  info: VolumeInfo,
  systemId: string,
  sdcsById: ReadonlyMap<string, Sdc>,
  source: VolumeSource | undefined,
): VolumeRecord {
  return {
    id: formatLocalId({ systemId, volumeId: info.id }),
    capacityBytes: info.sizeKiB * KiB,
    source,
    publishedNodeIds: info.mappings.map((m) => {
      const sdc = sdcsById.get(m.sdcId);
      return sdc ? nodeIdOf(sdc) : m.sdcId;
    }),
    topology: [topologyOf(systemId)],
  };
}

export function snapshotRecord(info: VolumeInfo, systemId: string): SnapshotRecord {
  const record: SnapshotRecord = {
    id: formatLocalId({ systemId, volumeId: info.id }),
    sourceVolumeId: formatLocalId({ systemId, volumeId: info.ancestorVolumeId ?? '' }),
    sizeBytes: info.sizeKiB * KiB,
    createdAt: info.creationTime,
    readyToUse: true,
  };
  // Every gateway snapshot has a consistency group; only the members of a group snapshot Ferry took name theirs.
  if (isGroupMemberName(info.name) && info.consistencyGroupId !== undefined) {
    record.groupSnapshotId = formatLocalId({ systemId, volumeId: info.consistencyGroupId });
  }
  return record;
}

export function indexBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T> {
  return new Map(items.map((item) => [key(item), item]));
}
