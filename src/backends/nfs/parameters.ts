import { DomainError } from '../../errors.js';
import { isOnDelete, isValidServer, isValidSharePath, isValidVolumeDir, type OnDelete, type ShareRef } from './share-ref.js';

/** The names the external-provisioner adds with --extra-create-metadata; subDir templates use them. */
export const PVC_NAME = 'csi.storage.k8s.io/pvc/name';
export const PVC_NAMESPACE = 'csi.storage.k8s.io/pvc/namespace';
export const PV_NAME = 'csi.storage.k8s.io/pv/name';

/** StorageClass parameters the NFS backend owns (csi-driver-nfs's names), and the provisioner's names it reads. */
export const NFS_PARAMETER_KEYS = ['server', 'share', 'subDir', 'onDelete', 'mountPermissions', PVC_NAME, PVC_NAMESPACE, PV_NAME] as const;

export interface NfsDefaults extends ShareRef {
  onDelete: OnDelete;
  mountPermissions: number;
  /** The longest volume id this backend may make (its scoped id must fit CSI's 128 bytes). */
  maxLocalIdBytes: number;
}

export interface NfsParameters extends ShareRef {
  dir: string;
  onDelete: OnDelete;
  /** 0: leave the mode mkdir gave. */
  mountPermissions: number;
}

const VARIABLES: Record<string, string> = {
  'pvc.metadata.name': PVC_NAME,
  'pvc.metadata.namespace': PVC_NAMESPACE,
  'pv.metadata.name': PV_NAME,
};

/**
 * A subDir template with its variables replaced. Unknown variables, and variables whose value the provisioner did not
 * pass, are invalid-argument: a volume must never land in a directory nobody asked for.
 */
export function expandSubDir(template: string, parameters: Readonly<Record<string, string>>): string {
  return template.replace(/\$\{([^}]*)\}/g, (_match, name: string) => {
    const key = VARIABLES[name.trim()];
    if (key === undefined) {
      throw new DomainError('invalid-argument', `parameter subDir: unknown variable \${${name}} (known: ${Object.keys(VARIABLES).map((v) => `\${${v}}`).join(', ')})`);
    }
    const value = parameters[key];
    if (value === undefined || value === '') {
      throw new DomainError('invalid-argument', `parameter subDir: \${${name}} needs the external-provisioner's --extra-create-metadata (${key} was not passed)`);
    }
    return value;
  });
}

export function parseMode(text: string, what: string): number {
  if (!/^0?[0-7]{1,4}$/.test(text)) throw new DomainError('invalid-argument', `${what}: "${text}" is not an octal mode such as 0777`);
  return parseInt(text, 8);
}

/** CreateVolume parameters over the backend's defaults; the CSI layer already rejected unknown keys. */
export function parseParameters(parameters: Readonly<Record<string, string>>, name: string, defaults: NfsDefaults): NfsParameters {
  const server = parameters['server'] ?? defaults.server;
  if (!isValidServer(server)) throw new DomainError('invalid-argument', `parameter server: "${server}" is not a host name or an IP address`);
  const share = parameters['share'] ?? defaults.share;
  if (!isValidSharePath(share)) throw new DomainError('invalid-argument', `parameter share: "${share}" is not an absolute export path`);
  const onDelete = parameters['onDelete'] ?? defaults.onDelete;
  if (!isOnDelete(onDelete)) throw new DomainError('invalid-argument', `parameter onDelete: "${onDelete}" is not delete, retain or archive`);
  const mountPermissions = parameters['mountPermissions'] === undefined ? defaults.mountPermissions : parseMode(parameters['mountPermissions'], 'parameter mountPermissions');
  const template = parameters['subDir'];
  // The CO's name is the PV's name in Kubernetes: one directory per PV, as csi-driver-nfs does.
  const dir = template === undefined || template === '' ? name : expandSubDir(template, parameters).replace(/\/+$/, '');
  if (!isValidVolumeDir(dir)) {
    throw new DomainError(
      'invalid-argument',
      `volume directory "${dir}" is not usable: relative, of letters, digits and . _ - ~ @ + = /, without "." or ".." parts, not under .ferry`,
    );
  }
  return { server, share, dir, onDelete, mountPermissions };
}

/** The share a GetCapacity or listing is about: the parameters' server and share, or the backend's. */
export function shareOf(parameters: Readonly<Record<string, string>>, defaults: ShareRef): ShareRef {
  const server = parameters['server'] ?? defaults.server;
  const share = parameters['share'] ?? defaults.share;
  if (!isValidServer(server) || !isValidSharePath(share)) throw new DomainError('invalid-argument', `parameters server/share: "${server}:${share}" is not an NFS export`);
  return { server, share };
}
