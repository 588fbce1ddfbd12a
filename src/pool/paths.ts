import path from 'node:path';

/**
 * Where `ferry pool` keeps things inside its data directory. The CSI node plugin finds a mapped volume at
 * `hostDeviceLink(dataDir, guid, systemId, volumeId)`: the pool's stand-in for `/dev/disk/by-id/emc-vol-<system>-<volume>`.
 */
export function stateFile(dataDir: string): string {
  return path.join(dataDir, 'state.json');
}

export function volumesDir(dataDir: string): string {
  return path.join(dataDir, 'volumes');
}

export function volumeFile(dataDir: string, volumeId: string): string {
  return path.join(volumesDir(dataDir), `${volumeId}.img`);
}

/** The volume id a volume file belongs to, or undefined for anything else in the directory. */
export function volumeIdOfFile(fileName: string): string | undefined {
  return /^([0-9a-f]{16})\.img$/.exec(fileName)?.[1];
}

export function hostsDir(dataDir: string): string {
  return path.join(dataDir, 'hosts');
}

/**
 * A host's `by-id` directory: what `/dev/disk/by-id` is on a real SDC host. GUIDs are kept upper-case (as hosts
 * report them), so any spelling of the GUID finds the same directory.
 */
export function hostByIdDir(dataDir: string, guid: string): string {
  return path.join(hostsDir(dataDir), guid.toUpperCase(), 'by-id');
}

export function deviceLinkName(systemId: string, volumeId: string): string {
  return `emc-vol-${systemId}-${volumeId}`;
}

export function hostDeviceLink(dataDir: string, guid: string, systemId: string, volumeId: string): string {
  return path.join(hostByIdDir(dataDir, guid), deviceLinkName(systemId, volumeId));
}

/** The filesystems a snapshot froze, written before the first freeze: a pool killed while holding them thaws them at start. */
export function heldWritesFile(dataDir: string): string {
  return path.join(dataDir, 'held-writes.json');
}

export function tlsDir(dataDir: string): string {
  return path.join(dataDir, 'tls');
}
