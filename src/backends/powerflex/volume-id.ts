import { DomainError } from '../../errors.js';

/**
 * A PowerFlex volume or snapshot as Ferry names it to the CO: `<systemId>-<volumeId>`, both 16 hex characters.
 * The system id travels with the volume so any controller replica can serve any later call without a lookup.
 */
export interface PowerFlexVolumeRef {
  systemId: string;
  volumeId: string;
}

const LOCAL_ID = /^([0-9a-f]{16})-([0-9a-f]{16})$/;

export function formatLocalId(ref: PowerFlexVolumeRef): string {
  return `${ref.systemId}-${ref.volumeId}`;
}

/** Parses a local id; anything this backend cannot have made is simply not found. */
export function parseLocalId(localId: string, what = 'volume'): PowerFlexVolumeRef {
  const match = LOCAL_ID.exec(localId);
  if (!match?.[1] || !match[2]) throw new DomainError('not-found', `${what} ${localId} does not exist (not an id this backend makes)`);
  return { systemId: match[1], volumeId: match[2] };
}
