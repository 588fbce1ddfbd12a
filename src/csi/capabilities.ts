import type { AccessMode, Backend, Capability } from '../backends/backend.js';
import { DomainError } from '../errors.js';
import type { VolumeCapability__Output } from '../gen/csi/v1/VolumeCapability.js';
import { DEFAULT_FS_TYPE as FS_DEFAULT, SUPPORTED_FS_TYPES as FS_TYPES, isSupportedFsType as isFsType } from '../node/filesystem.js';
import { checkMountFlags } from '../parameters/mount-flags.js';

export { DEFAULT_FS_TYPE, SUPPORTED_FS_TYPES as FS_TYPES, isSupportedFsType as isFsType, type FsType } from '../node/filesystem.js';

const ACCESS_MODES: ReadonlySet<string> = new Set<AccessMode>([
  'SINGLE_NODE_WRITER',
  'SINGLE_NODE_READER_ONLY',
  'MULTI_NODE_READER_ONLY',
  'MULTI_NODE_SINGLE_WRITER',
  'MULTI_NODE_MULTI_WRITER',
  'SINGLE_NODE_SINGLE_WRITER',
  'SINGLE_NODE_MULTI_WRITER',
]);

function isAccessMode(value: string): value is AccessMode {
  return ACCESS_MODES.has(value);
}

/** A wire capability as a domain one; INVALID_ARGUMENT for anything missing, unknown or unsupported by Ferry. */
export function toCapability(cap: VolumeCapability__Output | null | undefined, field = 'volume_capability'): Capability {
  if (!cap) throw new DomainError('invalid-argument', `${field} is required`);
  const mode = cap.access_mode?.mode;
  if (mode === undefined || !isAccessMode(mode)) throw new DomainError('invalid-argument', `${field}.access_mode is missing or unknown`);
  if (cap.access_type === 'block' && cap.block) {
    return { accessType: 'block', accessMode: mode, fsType: '', mountFlags: [] };
  }
  if (cap.access_type === 'mount' && cap.mount) {
    const fsType = cap.mount.fs_type;
    if (fsType !== '' && !isFsType(fsType)) {
      throw new DomainError('invalid-argument', `${field}.mount.fs_type "${fsType}" is not supported (${FS_TYPES.join(', ')})`);
    }
    return { accessType: 'mount', accessMode: mode, fsType, mountFlags: [...cap.mount.mount_flags] };
  }
  throw new DomainError('invalid-argument', `${field} needs an access type: mount or block`);
}

export function toCapabilities(caps: readonly VolumeCapability__Output[], field = 'volume_capabilities'): Capability[] {
  if (caps.length === 0) throw new DomainError('invalid-argument', `${field} must not be empty`);
  return caps.map((cap, i) => toCapability(cap, `${field}[${i}]`));
}

/**
 * A capability's mount flags through the node's allow-list (parameters/mount-flags.ts), for the filesystem they will be
 * mounted with: the backend's share filesystem, else the capability's fs_type, else the volume's (StorageClass or
 * volume context), else the default. `field` is the capability's field in the request.
 */
export function checkCapabilityFlags(capability: Capability, field: string, backend: Pick<Backend, 'shareFsType'>, volumeFsType?: string): void {
  if (capability.accessType !== 'mount') return;
  const fallback = volumeFsType !== undefined && isFsType(volumeFsType) ? volumeFsType : FS_DEFAULT;
  const fs = backend.shareFsType ?? (capability.fsType !== '' && isFsType(capability.fsType) ? capability.fsType : fallback);
  checkMountFlags(capability.mountFlags, fs, `${field}.mount.mount_flags`);
}
