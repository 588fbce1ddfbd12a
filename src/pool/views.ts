import type { Link, MappedSdcInfo, ProtectionDomain, Sdc, StoragePool, System, Volume } from './wire.js';
import type { HostRecord, PoolState, VolumeRecord } from './state.js';

/**
 * Wire views of the pool's objects, with the `links` clients follow. Only links to paths the pool serves are
 * given, so following any link works.
 */
export const SYSTEM_VERSION_NAME = 'DellEMC PowerFlex Version: R3_6.0.0 (ferry pool)';
export const API_VERSION = '3.6';

const self = (type: string, id: string): Link => ({ rel: 'self', href: `/api/instances/${type}::${id}` });
const rel = (type: string, child: string, id: string): Link => ({
  rel: `/api/${type}/relationship/${child}`,
  href: `/api/instances/${type}::${id}/relationships/${child}`,
});
const parent = (field: string, type: string, id: string): Link => ({
  rel: `/api/parent/relationship/${field}`,
  href: `/api/instances/${type}::${id}`,
});

export function systemView(state: PoolState, name: string | null): System {
  const id = state.systemId;
  return {
    id,
    name,
    systemVersionName: SYSTEM_VERSION_NAME,
    restrictedSdcMode: 'None',
    restrictedSdcModeEnabled: false,
    installId: id,
    links: [self('System', id), rel('System', 'Statistics', id), rel('System', 'ProtectionDomain', id), rel('System', 'Sdc', id)],
  };
}

export function protectionDomainView(state: PoolState): ProtectionDomain {
  const { id, name } = state.protectionDomain;
  return {
    id,
    name,
    systemId: state.systemId,
    protectionDomainState: 'Active',
    links: [
      self('ProtectionDomain', id),
      rel('ProtectionDomain', 'Statistics', id),
      rel('ProtectionDomain', 'StoragePool', id),
      parent('systemId', 'System', state.systemId),
    ],
  };
}

export function storagePoolView(state: PoolState): StoragePool {
  const { id, name } = state.storagePool;
  return {
    id,
    name,
    protectionDomainId: state.protectionDomain.id,
    dataLayout: 'MediumGranularity',
    zeroPaddingEnabled: true,
    sparePercentage: 0,
    capacityAlertHighThreshold: 80,
    capacityAlertCriticalThreshold: 90,
    rebuildEnabled: true,
    rebalanceEnabled: true,
    useRmcache: false,
    useRfcache: false,
    links: [
      self('StoragePool', id),
      rel('StoragePool', 'Statistics', id),
      rel('StoragePool', 'Volume', id),
      parent('protectionDomainId', 'ProtectionDomain', state.protectionDomain.id),
    ],
  };
}

export function sdcView(state: PoolState, host: HostRecord): Sdc {
  return {
    id: host.id,
    name: host.name,
    sdcGuid: host.guid,
    sdcIp: host.ip,
    sdcApproved: true,
    mdmConnectionState: host.mdmConnectionState,
    systemId: state.systemId,
    onVmWare: false,
    perfProfile: 'HighPerformance',
    links: [self('Sdc', host.id), rel('Sdc', 'Volume', host.id), parent('systemId', 'System', state.systemId)],
  };
}

export function volumeView(state: PoolState, volume: VolumeRecord): Volume {
  const mapped: MappedSdcInfo[] = volume.mappings.map((m) => {
    const host = state.hosts.find((h) => h.id === m.sdcId);
    return {
      sdcId: m.sdcId,
      sdcIp: host?.ip ?? '',
      sdcName: host?.name ?? null,
      accessMode: m.accessMode,
      limitIops: m.limitIops,
      limitBwInMbps: m.limitBwInMbps,
    };
  });
  const links = [self('Volume', volume.id), rel('Volume', 'Statistics', volume.id), parent('storagePoolId', 'StoragePool', state.storagePool.id)];
  if (volume.ancestorVolumeId && state.volumes.some((v) => v.id === volume.ancestorVolumeId)) {
    links.push(parent('ancestorVolumeId', 'Volume', volume.ancestorVolumeId));
  }
  return {
    id: volume.id,
    name: volume.name,
    sizeInKb: Number(volume.sizeKiB),
    storagePoolId: state.storagePool.id,
    vtreeId: volume.vtreeId,
    volumeType: volume.volumeType,
    ancestorVolumeId: volume.ancestorVolumeId,
    consistencyGroupId: volume.consistencyGroupId,
    mappedSdcInfo: mapped.length > 0 ? mapped : null,
    creationTime: volume.creationTime,
    accessModeLimit: volume.accessModeLimit,
    mappingToAllSdcsEnabled: false,
    useRmcache: false,
    isObfuscated: false,
    dataLayout: 'MediumGranularity',
    links,
  };
}
