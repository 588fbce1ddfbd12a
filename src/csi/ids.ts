import { DomainError } from '../errors.js';

/**
 * CSI volume and snapshot ids: `<backend>:<backend's own id>`. The backend name routes every later call to the
 * right storage system without state, so any controller replica can serve it.
 */
export interface ScopedId {
  backend: string;
  localId: string;
}

/**
 * The longest volume or snapshot id Ferry makes or accepts. CSI's general string limit is 128 bytes, but an NFS id
 * carries the server, the export and the directory (so any replica can serve any call without state), and the default
 * directory is the CSI name, itself up to 128 bytes (csi-sanity's maximum-length name). Ids stay within 1 KiB: the
 * NFS backend refuses at CreateVolume a directory that would make a longer one, so every id it hands out can come back.
 */
export const ID_LIMIT_BYTES = 1024;

/** How many bytes a backend's own ids may take so that its scoped ids stay within CSI's limit. */
export function localIdBudget(backend: string): number {
  return ID_LIMIT_BYTES - Buffer.byteLength(`${backend}:`);
}

export function formatScopedId(backend: string, localId: string): string {
  return `${backend}:${localId}`;
}

/** Splits an id; one Ferry cannot have made is not found (the CO may be asking about something long gone). */
export function parseScopedId(id: string, what: string): ScopedId {
  const colon = id.indexOf(':');
  if (colon <= 0 || colon === id.length - 1) throw new DomainError('not-found', `${what} ${id} does not exist (not an id this driver makes)`);
  return { backend: id.slice(0, colon), localId: id.slice(colon + 1) };
}
