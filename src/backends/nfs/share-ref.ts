import { createHash } from 'node:crypto';
import { DomainError } from '../../errors.js';

/**
 * Names of things on an NFS backend, and the ids that carry them. The controller keeps no state: a volume id holds
 * the server, the export, the volume's directory in it and its delete policy, so any replica can serve any call.
 *
 *   volume:   <server>:<share>#<dir>#<onDelete>     e.g. nfs1.example.com:/exports/k8s#team-a/pvc-42#retain
 *   snapshot: <server>:<share>#<32 hex>             the archive's key on that export
 *
 * Paths are restricted to a portable set of characters (letters, digits, . _ - ~ @ + = and /), which keeps '#',
 * ':', spaces and commas out of them: no escaping is ever needed, in ids or in mount sources.
 */
export type OnDelete = 'delete' | 'retain' | 'archive';
export const ON_DELETE: readonly OnDelete[] = ['delete', 'retain', 'archive'];

export function isOnDelete(value: string): value is OnDelete {
  return (ON_DELETE as readonly string[]).includes(value);
}

/** An NFS export: the server and the exported path. */
export interface ShareRef {
  server: string;
  share: string;
}

export interface VolumeRef extends ShareRef {
  /** The volume's directory, relative to the export ("pvc-42", "team-a/pvc-42"). */
  dir: string;
  onDelete: OnDelete;
}

export interface SnapshotRef extends ShareRef {
  key: string;
}

const HOST = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;
const IPV6 = /^\[[0-9A-Fa-f:.]{2,45}\]$/;
const PART = /^[A-Za-z0-9_~@+=-][A-Za-z0-9._~@+=-]*$/;
const KEY = /^[0-9a-f]{32}$/;

/** Ferry's own corner of every export; never a volume. */
export const FERRY_DIR = '.ferry';

export function isValidServer(server: string): boolean {
  return server.length <= 253 && (HOST.test(server) || IPV6.test(server));
}

function validParts(parts: readonly string[]): boolean {
  return parts.length > 0 && parts.every((p) => p.length <= 255 && PART.test(p) && p !== '.' && p !== '..');
}

/** An absolute export path; "/" alone is allowed (an NFSv4 pseudo-root). */
export function isValidSharePath(share: string): boolean {
  if (share === '/') return true;
  return share.startsWith('/') && !share.endsWith('/') && share.length <= 1024 && validParts(share.slice(1).split('/'));
}

/** A volume directory relative to the export: no leading '/', no '.' or '..', not inside Ferry's own directory. */
export function isValidVolumeDir(dir: string): boolean {
  if (dir.length > 1024 || dir.startsWith('/') || dir.endsWith('/')) return false;
  const parts = dir.split('/');
  return validParts(parts) && parts[0] !== FERRY_DIR;
}

/** `server:/share/dir`, the mount source of a volume (or of the export itself when dir is empty). */
export function mountSource(ref: ShareRef, dir = ''): string {
  const base = ref.share === '/' ? '' : ref.share;
  return `${ref.server}:${dir === '' ? ref.share : `${base}/${dir}`}`;
}

export function shareLabel(ref: ShareRef): string {
  return `${ref.server}:${ref.share}`;
}

export function formatVolumeId(ref: VolumeRef): string {
  return `${shareLabel(ref)}#${ref.dir}#${ref.onDelete}`;
}

export function formatSnapshotId(ref: SnapshotRef): string {
  return `${shareLabel(ref)}#${ref.key}`;
}

function parseShareLabel(label: string): ShareRef | undefined {
  const colon = label.startsWith('[') ? label.indexOf(']:') + 1 : label.indexOf(':');
  if (colon <= 0) return undefined;
  const server = label.slice(0, colon);
  const share = label.slice(colon + 1);
  return isValidServer(server) && isValidSharePath(share) ? { server, share } : undefined;
}

/** A volume id this backend made; anything else is not found (the CO may ask about something long gone). */
export function parseVolumeId(localId: string): VolumeRef {
  const [label, dir, onDelete, extra] = localId.split('#');
  const share = label === undefined ? undefined : parseShareLabel(label);
  if (!share || dir === undefined || onDelete === undefined || extra !== undefined || !isValidVolumeDir(dir) || !isOnDelete(onDelete)) {
    throw new DomainError('not-found', `volume ${localId} does not exist (not an id this backend makes)`);
  }
  return { ...share, dir, onDelete };
}

export function parseSnapshotId(localId: string): SnapshotRef {
  const [label, key, extra] = localId.split('#');
  const share = label === undefined ? undefined : parseShareLabel(label);
  if (!share || key === undefined || extra !== undefined || !KEY.test(key)) {
    throw new DomainError('not-found', `snapshot ${localId} does not exist (not an id this backend makes)`);
  }
  return { ...share, key };
}

/** A short, stable, file-name-safe key for any string (a directory, a CO name, a node id). */
export function keyOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

export function sameShare(a: ShareRef, b: ShareRef): boolean {
  return a.server === b.server && a.share === b.share;
}

/** "/a//b/" and "/a/b" name the same path. */
export function normalizeSharePath(p: string): string {
  const collapsed = p.replace(/\/{2,}/g, '/');
  return collapsed.length > 1 ? collapsed.replace(/\/$/, '') : collapsed;
}
