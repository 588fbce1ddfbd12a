import { KiB } from '../../util/size.js';
import { GatewayError } from './errors.js';
import type { CallOptions, GatewayConnection } from './gateway.js';
import { queryIdByKey } from './systems.js';
import type {
  AccessMode,
  CreateVolumeRequest,
  MappedSdcInfo,
  OverwriteVolumeContentRequest,
  ProvisioningType,
  RemoveMode,
  RemoveVolumeRequest,
  SetVolumeNameRequest,
  SetVolumeSizeRequest,
  Volume,
  VolumeStatistics,
  VolumeType,
} from './types.js';
import { asBigInt, asEntities, asEntity, asRecord, checkId } from './wire.js';

/** A volume or snapshot as Ferry uses it: sizes as bigint KiB, absent relations as undefined, mappings as a list. */
export interface VolumeInfo {
  id: string;
  /** Empty for a volume created without a name. */
  name: string;
  /** Provisioned size (a multiple of 8 GiB on a real system). */
  sizeKiB: bigint;
  storagePoolId: string;
  vtreeId: string;
  volumeType: VolumeType;
  /** The source of a snapshot; undefined on base volumes. */
  ancestorVolumeId: string | undefined;
  consistencyGroupId: string | undefined;
  mappings: MappedSdcInfo[];
  /** Epoch seconds. */
  creationTime: number;
  accessModeLimit: AccessMode | undefined;
  raw: Volume;
}

export interface CreateVolumeOptions {
  name: string;
  /** Requested size in KiB; the system rounds up to a multiple of 8 GiB. */
  sizeKiB: bigint;
  storagePoolId: string;
  protectionDomainId?: string;
  provisioning?: ProvisioningType;
}

export function toVolumeInfo(volume: Volume): VolumeInfo {
  return {
    id: volume.id,
    name: volume.name ?? '',
    sizeKiB: asBigInt(volume.sizeInKb, `volume ${volume.id} sizeInKb`),
    storagePoolId: volume.storagePoolId,
    vtreeId: volume.vtreeId,
    volumeType: volume.volumeType,
    ancestorVolumeId: volume.ancestorVolumeId ?? undefined,
    consistencyGroupId: volume.consistencyGroupId ?? undefined,
    mappings: Array.isArray(volume.mappedSdcInfo) ? volume.mappedSdcInfo : [],
    creationTime: typeof volume.creationTime === 'number' ? volume.creationTime : 0,
    accessModeLimit: volume.accessModeLimit ?? undefined,
    raw: volume,
  };
}

/** Volumes and snapshots (a snapshot is a volume of type Snapshot). */
export class VolumesApi {
  constructor(private readonly gateway: GatewayConnection) {}

  /** Creates a volume and returns its id. Never retried on a connection failure: a retry could create a twin. */
  async createVolume(request: CreateVolumeOptions, options?: CallOptions): Promise<string> {
    if (request.sizeKiB <= 0n) throw new GatewayError('invalid-argument', `volume size must be positive, not ${request.sizeKiB} KiB`);
    const body: CreateVolumeRequest = {
      name: request.name,
      volumeSizeInKb: request.sizeKiB.toString(),
      storagePoolId: checkId(request.storagePoolId, 'storage pool'),
      volumeType: request.provisioning ?? 'ThinProvisioned',
    };
    if (request.protectionDomainId !== undefined) body.protectionDomainId = checkId(request.protectionDomainId, 'protection domain');
    const answer = await this.gateway.request({ method: 'POST', path: '/types/Volume/instances', body }, options);
    return asEntity<{ id: string }>(answer, 'created volume').id;
  }

  async getVolume(id: string, options?: CallOptions): Promise<VolumeInfo> {
    const vid = checkId(id, 'volume');
    return toVolumeInfo(asEntity<Volume>(await this.gateway.request({ method: 'GET', path: `/instances/Volume::${vid}` }, options), 'volume'));
  }

  /** The id of the volume or snapshot called `name`, or undefined (errorCode 79, or 3 on some versions). */
  async queryVolumeIdByName(name: string, options?: CallOptions): Promise<string | undefined> {
    return queryIdByKey(this.gateway, 'Volume', name, options);
  }

  /** Every volume and snapshot, or those of one storage pool. */
  async listVolumes(storagePoolId?: string, options?: CallOptions): Promise<VolumeInfo[]> {
    const path =
      storagePoolId === undefined ? '/types/Volume/instances' : `/instances/StoragePool::${checkId(storagePoolId, 'storage pool')}/relationships/Volume`;
    return asEntities<Volume>(await this.gateway.request({ method: 'GET', path }, options), 'volumes').map(toVolumeInfo);
  }

  /** Not idempotent on the wire: a second removal answers not-found, which a caller retrying a delete treats as done. */
  async removeVolume(id: string, removeMode: RemoveMode = 'ONLY_ME', options?: CallOptions): Promise<void> {
    const body: RemoveVolumeRequest = { removeMode };
    await this.gateway.request({ method: 'POST', path: `/instances/Volume::${checkId(id, 'volume')}/action/removeVolume`, body }, options);
  }

  /** Grows a volume to `sizeGiB` (a multiple of 8). An absolute size, so resending it is harmless. */
  async setVolumeSize(id: string, sizeGiB: bigint, options?: CallOptions): Promise<void> {
    const body: SetVolumeSizeRequest = { sizeInGB: sizeGiB.toString() };
    await this.gateway.request({ method: 'POST', path: `/instances/Volume::${checkId(id, 'volume')}/action/setVolumeSize`, body, idempotent: true }, options);
  }

  /** Not retried: had the first rename arrived, a resend would meet its own new name as "in use". */
  async renameVolume(id: string, newName: string, options?: CallOptions): Promise<void> {
    const body: SetVolumeNameRequest = { newName };
    await this.gateway.request({ method: 'POST', path: `/instances/Volume::${checkId(id, 'volume')}/action/setVolumeName`, body }, options);
  }

  /** Reverts `destinationId` to the content of `sourceId` (a snapshot in the same tree). */
  async overwriteVolumeContent(destinationId: string, sourceId: string, options?: CallOptions): Promise<void> {
    const body: OverwriteVolumeContentRequest = { srcVolumeId: checkId(sourceId, 'volume') };
    const path = `/instances/Volume::${checkId(destinationId, 'volume')}/action/overwriteVolumeContent`;
    await this.gateway.request({ method: 'POST', path, body }, options);
  }

  async getVolumeStatistics(id: string, options?: CallOptions): Promise<VolumeStatistics> {
    const answer = await this.gateway.request({ method: 'GET', path: `/instances/Volume::${checkId(id, 'volume')}/relationships/Statistics` }, options);
    return asRecord(answer, 'volume statistics') as unknown as VolumeStatistics;
  }
}

/** Bytes → KiB for a create, rounding up so a request is never shrunk below what was asked. */
export function bytesToKiB(bytes: bigint): bigint {
  return (bytes + KiB - 1n) / KiB;
}
