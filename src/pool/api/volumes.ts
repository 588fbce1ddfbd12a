import type { ActionAnswer, CreateAnswer, ProvisioningType, RemoveMode, VolumeStatistics } from '../wire.js';
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
import { CODES, businessError, gatewayError, invalidRequest, volumeNotFound } from '../errors.js';
import { isWellFormedId } from '../ids.js';
import type { SdcRef } from '../pool.js';
import { descendantsOf, findVolume, findVolumeByName } from '../state.js';
import { nameInPath } from './by-name.js';
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

/** The SDC a mapping request names: `sdcId`, or `guid` in its place (both mapping actions accept either). */
function sdcRef(body: Record<string, unknown>): SdcRef | undefined {
  const sdcId = optionalString(body, 'sdcId');
  if (sdcId) return { sdcId };
  const guid = optionalString(body, 'guid');
  if (guid) return { guid };
  return undefined;
}

/** Volumes and snapshots: lifecycle, mapping, statistics. */
export function volumeRoutes(router: ApiRouter, deps: ApiDeps): void {
  const { pool } = deps;

  router.add('GET', '/api/types/Volume/instances', 'token', () => {
    const s = pool.current();
    return s.volumes.map((v) => volumeView(s, v));
  });

  router.add('POST', '/api/types/Volume/instances', 'token', async (req): Promise<CreateAnswer> => {
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
      throw gatewayError('ProtectionDomainNotFound', `protection domain ${pdId}`);
    }
    if (storagePoolId !== s.storagePool.id) throw gatewayError('NotFound', `storage pool ${storagePoolId}`);
    const name = optionalString(body, 'name');
    const volume = await pool.createVolume({ name: name === '' ? undefined : name, sizeKiB, volumeType });
    return { id: volume.id };
  });

  // A name that resolves nothing is the gateway's NOT_FOUND ("Not found"), which clients test for by that text.
  const idByName = (name: string): string => {
    const volume = findVolumeByName(pool.current(), name);
    if (!volume) throw gatewayError('NotFound', `volume named ${name}`);
    return volume.id;
  };
  router.add('POST', '/api/types/Volume/instances/action/queryIdByKey', 'token', (req) => idByName(requireString(requireObject(req.body), 'name')));
  // The older spelling (OpenStack's ScaleIO driver and its library): the name in the path, %-encoded once or twice.
  router.add('GET', '/api/types/Volume/instances/getByName::{name}', 'token', (req) =>
    idByName(nameInPath(req, (name) => findVolumeByName(pool.current(), name) !== undefined)),
  );

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

  /** An action with nothing to answer: `{}` once it is done. */
  const action = (name: string, handler: (id: string, body: Record<string, unknown>) => Promise<void>): void => {
    router.add('POST', `/api/instances/Volume::{id}/action/${name}`, 'token', async (req): Promise<ActionAnswer> => {
      await handler(volumeId(req), requireObject(req.body));
      return {};
    });
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
    await pool.addMapping(id, {
      sdc: sdcRef(body) ?? missing('sdcId'),
      allowMultipleMappings: optionalWireBool(body, 'allowMultipleMappings', false),
      accessMode: optionalEnum(body, 'accessMode', ACCESS_MODES) ?? 'ReadWrite',
    });
  });

  action('removeMappedSdc', async (id, body) => {
    // `{"allSdcs": ""}` is how most clients ask; some send "true". Only an explicit false means "not all".
    const allSdcs = body.allSdcs !== undefined && body.allSdcs !== null && String(body.allSdcs).toLowerCase() !== 'false';
    await pool.removeMapping(id, allSdcs ? 'all' : (sdcRef(body) ?? missing('sdcId')));
  });

  // A limit left out (goscaleio omits empty ones, PyPowerFlex sends null) stays as it is; 0 is unlimited.
  action('setMappedSdcLimits', async (id, body) => {
    const sdc = sdcRef(body) ?? missing('sdcId');
    const iops = optionalWireInt(body, 'iopsLimit');
    const bw = optionalWireInt(body, 'bandwidthLimitInKbps');
    if (iops === undefined && bw === undefined) missing('iopsLimit', 'bandwidthLimitInKbps');
    if (iops !== undefined && iops !== 0n && iops <= 10n) throw invalidRequest('Request message is not valid: iopsLimit must be greater than 10 (or 0, unlimited)');
    if (bw !== undefined && bw % 1024n !== 0n) throw invalidRequest('Request message is not valid: bandwidthLimitInKbps must be granular to 1024 KB (or 0, unlimited)');
    if ((iops ?? 0n) > 2_147_483_647n || (bw ?? 0n) > 2_147_483_647n) throw invalidRequest('Request message is not valid: the limit is too large');
    await pool.setMappingLimits(id, sdc, {
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
