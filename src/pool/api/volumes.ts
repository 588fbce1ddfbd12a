import type { CreateResponse, ProvisioningType, RemoveMode, VolumeStatistics } from '../../backends/powerflex/types.js';
import { GiB, KiB } from '../../util/size.js';
import {
  ACCESS_MODES,
  missing,
  optionalEnum,
  optionalString,
  optionalWireBool,
  optionalWireInt,
  requireObject,
  requireString,
} from '../body.js';
import { CODES, businessError, invalidRequest, volumeNotFound } from '../errors.js';
import { isWellFormedId } from '../ids.js';
import { descendantsOf, findVolume, findVolumeByName } from '../state.js';
import { volumeView } from '../views.js';
import { param, type ApiDeps, type ApiRequest, type ApiRouter } from './context.js';

const PROVISIONING: readonly ProvisioningType[] = ['ThinProvisioned', 'ThickProvisioned'];
const REMOVE_MODES: readonly RemoveMode[] = ['ONLY_ME', 'INCLUDING_DESCENDANTS', 'DESCENDANTS_ONLY', 'WHOLE_VTREE'];

/**
 * The id in Volume::{id}. A malformed id is refused before any lookup, as the gateway does ("must be a
 * hexadecimal number"), and with the not-found code, so clients treat it as the missing volume it is.
 */
function volumeId(req: ApiRequest): string {
  const id = param(req, 'id');
  if (!isWellFormedId(id)) throw businessError(CODES.VolumeNotFound, `Invalid volume id ${id}: it must be a hexadecimal number of 16 digits`);
  return id;
}

/** Volumes and snapshots: lifecycle, mapping, statistics. */
export function volumeRoutes(router: ApiRouter, deps: ApiDeps): void {
  const { pool } = deps;

  router.add('GET', '/api/types/Volume/instances', 'token', () => {
    const s = pool.current();
    return s.volumes.map((v) => volumeView(s, v));
  });

  router.add('POST', '/api/types/Volume/instances', 'token', async (req): Promise<CreateResponse> => {
    const body = requireObject(req.body);
    const storagePoolId = optionalString(body, 'storagePoolId');
    if (!storagePoolId) missing('storagePoolId');
    const kb = optionalWireInt(body, 'volumeSizeInKb');
    const gb = optionalWireInt(body, 'volumeSizeInGb');
    if (kb === undefined && gb === undefined) missing('volumeSizeInKb');
    const sizeKiB = kb ?? (gb ?? 0n) * (GiB / KiB);
    if (sizeKiB === 0n) throw invalidRequest('Request message is not valid: the volume size must be positive');
    const volumeType = optionalEnum(body, 'volumeType', PROVISIONING) ?? 'ThinProvisioned';
    const s = pool.current();
    const pdId = optionalString(body, 'protectionDomainId');
    if (pdId !== undefined && pdId !== s.protectionDomain.id) {
      throw businessError(CODES.ProtectionDomainNotFound, `Could not find the protection domain ${pdId}`);
    }
    if (storagePoolId !== s.storagePool.id) throw businessError(CODES.NotFound, `Could not find the storage pool ${storagePoolId}`);
    const name = optionalString(body, 'name');
    const volume = await pool.createVolume({ name: name === '' ? undefined : name, sizeKiB, volumeType });
    return { id: volume.id };
  });

  router.add('POST', '/api/types/Volume/instances/action/queryIdByKey', 'token', (req) => {
    const name = requireString(requireObject(req.body), 'name');
    const volume = findVolumeByName(pool.current(), name);
    if (!volume) throw businessError(CODES.VolumeNotFound, `Could not find the volume named ${name}`);
    return volume.id;
  });

  router.add('GET', '/api/instances/Volume::{id}', 'token', (req) => {
    const s = pool.current();
    const id = volumeId(req);
    const volume = findVolume(s, id);
    if (!volume) throw volumeNotFound(id);
    return volumeView(s, volume);
  });

  router.add('GET', '/api/instances/Volume::{id}/relationships/Statistics', 'token', async (req): Promise<VolumeStatistics> => {
    const id = volumeId(req);
    const io = await pool.volumeIo(id);
    const s = pool.current();
    const volume = findVolume(s, id);
    return {
      ...io,
      numOfMappedSdcs: volume?.mappings.length ?? 0,
      numOfChildVolumes: s.volumes.filter((v) => v.ancestorVolumeId === id).length,
      numOfDescendantVolumes: descendantsOf(s, id).length,
      numOfMappedScsiInitiators: 0,
    };
  });

  const action = (name: string, handler: (id: string, body: Record<string, unknown>) => Promise<unknown>): void => {
    router.add('POST', `/api/instances/Volume::{id}/action/${name}`, 'token', async (req) => handler(volumeId(req), requireObject(req.body)));
  };

  action('removeVolume', async (id, body) => {
    const mode = optionalEnum(body, 'removeMode', REMOVE_MODES);
    if (mode === undefined) missing('removeMode');
    await pool.removeVolume(id, mode);
  });

  action('setVolumeSize', async (id, body) => {
    const gb = optionalWireInt(body, 'sizeInGB');
    if (gb === undefined) missing('sizeInGB');
    if (gb === 0n) throw invalidRequest('Request message is not valid: sizeInGB must be positive');
    await pool.setVolumeSize(id, gb);
  });

  action('setVolumeName', async (id, body) => {
    await pool.setVolumeName(id, requireString(body, 'newName'));
  });

  action('addMappedSdc', async (id, body) => {
    const sdcId = optionalString(body, 'sdcId');
    const guid = optionalString(body, 'guid');
    if (!sdcId && !guid) missing('sdcId');
    await pool.addMapping(id, {
      sdcId: sdcId || undefined,
      guid: guid || undefined,
      allowMultipleMappings: optionalWireBool(body, 'allowMultipleMappings', false),
      accessMode: optionalEnum(body, 'accessMode', ACCESS_MODES) ?? 'ReadWrite',
    });
  });

  action('removeMappedSdc', async (id, body) => {
    const sdcId = optionalString(body, 'sdcId');
    // `{"allSdcs": ""}` is how most clients ask; some send "true". Only an explicit false means "not all".
    const allSdcs = body.allSdcs !== undefined && body.allSdcs !== null && String(body.allSdcs).toLowerCase() !== 'false';
    if (!sdcId && !allSdcs) missing('sdcId');
    await pool.removeMapping(id, allSdcs ? undefined : sdcId);
  });

  action('setMappedSdcLimits', async (id, body) => {
    const sdcId = requireString(body, 'sdcId');
    const iops = optionalWireInt(body, 'iopsLimit');
    const bw = optionalWireInt(body, 'bandwidthLimitInKbps');
    if (iops === undefined && bw === undefined) missing('iopsLimit', 'bandwidthLimitInKbps');
    await pool.setMappingLimits(id, sdcId, {
      iops: iops === undefined ? undefined : Number(iops),
      bandwidthKbps: bw === undefined ? undefined : Number(bw),
    });
  });

  action('overwriteVolumeContent', async (id, body) => {
    const src = requireString(body, 'srcVolumeId');
    if (!isWellFormedId(src)) throw volumeNotFound(src);
    await pool.overwriteVolumeContent(id, src);
  });
}
