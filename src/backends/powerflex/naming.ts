import { createHash } from 'node:crypto';

/**
 * Gateway names for CSI names. The gateway allows 31 characters and one namespace for volumes and snapshots
 * together; CSI names (`pvc-<uuid>`, 40 characters) are longer and volumes and snapshots may share one. So each CSI
 * name maps to a deterministic name: a kind prefix and 28 base32 characters of its SHA-256 (140 bits). A retried
 * CreateVolume finds the same volume; a volume and a snapshot with the same CSI name never collide.
 */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const HASH_CHARS = 28;

export type NamedKind = 'volume' | 'snapshot';

const PREFIX: Record<NamedKind, string> = { volume: 'fv-', snapshot: 'fs-' };

/**
 * A member of a group snapshot is a snapshot like any other (listed, restorable, deletable), named from the group's
 * CSI name and its place in the group, with its own prefix so the group it belongs to can be told from its name.
 */
const GROUP_MEMBER_PREFIX = 'fg-';

function base32(bytes: Uint8Array, length: number): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  return out;
}

export function gatewayName(kind: NamedKind, csiName: string): string {
  return PREFIX[kind] + base32(createHash('sha256').update(csiName, 'utf8').digest(), HASH_CHARS);
}

/** The gateway name of member `index` of the group snapshot called `groupName` (members ordered by source id). */
export function groupMemberName(groupName: string, index: number): string {
  return GROUP_MEMBER_PREFIX + base32(createHash('sha256').update(`${groupName}\0${index}`, 'utf8').digest(), HASH_CHARS);
}

export function isGroupMemberName(name: string): boolean {
  return name.startsWith(GROUP_MEMBER_PREFIX) && name.length === GROUP_MEMBER_PREFIX.length + HASH_CHARS;
}

/** Whether a gateway object was made by Ferry as this kind (ListVolumes and ListSnapshots show only their own). */
export function isFerryName(kind: NamedKind, name: string): boolean {
  if (kind === 'snapshot' && isGroupMemberName(name)) return true;
  return name.startsWith(PREFIX[kind]) && name.length === PREFIX[kind].length + HASH_CHARS;
}
