import { DomainError } from '../errors.js';

/**
 * CSI volume and snapshot ids: `<backend>:<backend's own id>`. The backend name routes every later call to the
 * right storage system without state, so any controller replica can serve it.
 */
export interface ScopedId {
  backend: string;
  localId: string;
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
