import type { VolumeCapability } from '../gen/csi/v1/VolumeCapability.js';

export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;

/** A filesystem volume one node writes: what a StatefulSet's ReadWriteOnce claim asks for. */
export function mountCapability(fsType: string): VolumeCapability {
  return { mount: { fs_type: fsType, mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
}

/** StorageClass parameters as the external-provisioner passes them. */
export function storageClassParameters(fsType: string): Record<string, string> {
  return { 'csi.storage.k8s.io/fstype': fsType };
}

/** "16 GiB", "4.0 MiB", "812 KiB" */
export function formatBytes(bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(1)} GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(1)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}
