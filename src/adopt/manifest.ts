import { topologyOf } from '../backends/powerflex/catalog.js';
import { formatLocalId, type PowerFlexVolumeRef } from '../backends/powerflex/volume-id.js';
import { formatScopedId } from '../csi/ids.js';
import { CONTEXT_FS_TYPE } from '../parameters/volume-options.js';
import { PARAM_BACKEND } from '../csi/parameters.js';
import type { SourcePv } from './pv-input.js';

/** The driver name csi-powerflex registers (its PVs' spec.csi.driver). */
export const CSI_POWERFLEX_DRIVER = 'csi-vxflexos.dellemc.com';

const HEX16 = /^[0-9a-f]{16}$/;

/** csi-powerflex's volume handle, `<systemID>-<volumeID>`; undefined for anything else (including Ferry's own). */
export function parsePowerflexHandle(handle: string): PowerFlexVolumeRef | undefined {
  const dash = handle.lastIndexOf('-');
  if (dash <= 0) return undefined;
  const systemId = handle.slice(0, dash).toLowerCase();
  const volumeId = handle.slice(dash + 1).toLowerCase();
  return HEX16.test(systemId) && HEX16.test(volumeId) ? { systemId, volumeId } : undefined;
}

export interface AdoptedVolume {
  source: SourcePv;
  backend: string;
  ref: PowerFlexVolumeRef;
  /** What the gateway says the volume holds (bytes): the PV's capacity. */
  sizeBytes: bigint;
  /** The gateway name the volume had before adopt renamed it for Ferry. */
  previousName: string;
}

export interface ManifestOptions {
  driverName: string;
  /** StorageClass for the new PV; undefined keeps the old PV's. */
  storageClass: string | undefined;
}

/** A size in bytes as a Kubernetes quantity: Gi when whole, else Mi, else plain bytes. */
function quantity(bytes: bigint): string {
  const Gi = 1024n ** 3n;
  const Mi = 1024n ** 2n;
  if (bytes % Gi === 0n) return `${bytes / Gi}Gi`;
  if (bytes % Mi === 0n) return `${bytes / Mi}Mi`;
  return bytes.toString();
}

/**
 * A static PV that Ferry serves, for a volume csi-powerflex made: the same name (so the bound PVC, which names its
 * volume, stays bound), access modes, volume mode, claim, mount options and fsType; Ferry's volume id, volume
 * context and topology; the capacity the gateway reports.
 */
export function adoptedPv(volume: AdoptedVolume, options: ManifestOptions): Record<string, unknown> {
  const { source } = volume;
  const fsType = source.spec.csi?.fsType ?? source.spec.csi?.volumeAttributes?.['fsType'];
  const volumeAttributes: Record<string, string> = { [PARAM_BACKEND]: volume.backend };
  if (source.spec.volumeMode !== 'Block' && fsType) volumeAttributes[CONTEXT_FS_TYPE] = fsType;
  const claim = source.spec.claimRef;
  const topology = topologyOf(volume.ref.systemId);
  const spec: Record<string, unknown> = {
    capacity: { storage: quantity(volume.sizeBytes) },
    accessModes: source.spec.accessModes ?? ['ReadWriteOnce'],
    volumeMode: source.spec.volumeMode ?? 'Filesystem',
    persistentVolumeReclaimPolicy: source.spec.persistentVolumeReclaimPolicy ?? 'Retain',
    csi: {
      driver: options.driverName,
      volumeHandle: formatScopedId(volume.backend, formatLocalId(volume.ref)),
      ...(fsType && source.spec.volumeMode !== 'Block' ? { fsType } : {}),
      volumeAttributes,
    },
    nodeAffinity: {
      required: { nodeSelectorTerms: [{ matchExpressions: Object.entries(topology).map(([key, value]) => ({ key, operator: 'In', values: [value] })) }] },
    },
  };
  const storageClass = options.storageClass ?? source.spec.storageClassName;
  if (storageClass !== undefined) spec['storageClassName'] = storageClass;
  if (source.spec.mountOptions && source.spec.mountOptions.length > 0) spec['mountOptions'] = source.spec.mountOptions;
  if (claim?.name && claim.namespace) spec['claimRef'] = { namespace: claim.namespace, name: claim.name, ...(claim.uid ? { uid: claim.uid } : {}) };
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name: source.metadata.name,
      annotations: {
        'pv.kubernetes.io/provisioned-by': options.driverName,
        'ferry.csi.io/adopted-from': `${source.spec.csi?.driver ?? ''} ${source.spec.csi?.volumeHandle ?? ''} (gateway name ${volume.previousName})`,
      },
    },
    spec,
  };
}
