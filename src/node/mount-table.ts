import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { DomainError, errorMessage } from '../errors.js';
import type { Logger } from '../util/log.js';
import { errnoCode } from './common.js';

/**
 * The kernel's mount table for our mount namespace, from /proc/self/mountinfo: the source of truth. /etc/mtab and
 * `mount` without arguments can lie (a container's mtab is whatever its image shipped), and stat-based "is this a
 * mount point" guesses miss bind mounts within one filesystem, which is exactly what a CSI publish is.
 *
 * A line (proc(5)):
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   id parent major:minor root mount-point per-mount-options [optional fields...] - fs-type source super-options
 */
export interface MountEntry {
  id: number;
  parentId: number;
  /** "major:minor" of the filesystem's device (0:N for filesystems without one, e.g. tmpfs, NFS). */
  majorMinor: string;
  /** The directory of the filesystem mounted here; not '/' for bind mounts of a subdirectory (or of a device node). */
  root: string;
  mountPoint: string;
  /** Per-mount options: a read-only bind shows 'ro' here while the filesystem itself stays 'rw'. */
  options: string[];
  /** Propagation tags such as "shared:1", "master:2", "unbindable". */
  optionalFields: string[];
  fsType: string;
  source: string;
  /** Per-filesystem options: 'ro' here means the whole filesystem is read-only (e.g. ext4 errors=remount-ro fired). */
  superOptions: string[];
}

export interface MountTableOptions {
  signal?: AbortSignal;
  logger?: Logger;
  /** Another mountinfo file (tests; /proc/<pid>/mountinfo of another namespace). */
  mountInfoPath?: string;
}

export const MOUNTINFO_PATH = '/proc/self/mountinfo';

/**
 * The kernel escapes space, tab, newline and backslash in paths as three-digit octal (`\040`, `\011`, `\012`,
 * `\134`); anything else is literal, including non-ASCII UTF-8, which is why the file is read as UTF-8 first.
 */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function splitOptions(text: string): string[] {
  return text === '' ? [] : text.split(',');
}

/** One mountinfo line; throws on a line that does not have the documented shape rather than guessing. */
export function parseMountInfoLine(line: string): MountEntry {
  // Single spaces separate fields; a space inside a field is always escaped, so split(' ') is exact.
  const fields = line.split(' ');
  const separator = fields.indexOf('-', 6);
  const [id, parentId, majorMinor, root, mountPoint, options] = fields;
  if (
    separator < 0 ||
    id === undefined ||
    parentId === undefined ||
    majorMinor === undefined ||
    root === undefined ||
    mountPoint === undefined ||
    options === undefined ||
    !/^\d+$/.test(id) ||
    !/^\d+$/.test(parentId) ||
    !/^\d+:\d+$/.test(majorMinor)
  ) {
    throw new DomainError('internal', `unexpected mountinfo line: ${JSON.stringify(line)}`);
  }
  const fsType = fields[separator + 1];
  const source = fields[separator + 2];
  if (fsType === undefined || source === undefined) {
    throw new DomainError('internal', `unexpected mountinfo line (nothing after " - "): ${JSON.stringify(line)}`);
  }
  return {
    id: Number(id),
    parentId: Number(parentId),
    majorMinor,
    root: unescapeMountField(root),
    mountPoint: unescapeMountField(mountPoint),
    options: splitOptions(options),
    optionalFields: fields.slice(6, separator),
    fsType: unescapeMountField(fsType),
    source: unescapeMountField(source),
    // Super options never contain a space; join the rest anyway in case a future kernel appends a field.
    superOptions: splitOptions(fields.slice(separator + 3).join(' ')),
  };
}

export function parseMountInfo(text: string): MountEntry[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(parseMountInfoLine);
}

export async function readMountTable(options: MountTableOptions = {}): Promise<MountEntry[]> {
  const file = options.mountInfoPath ?? MOUNTINFO_PATH;
  try {
    return parseMountInfo(await readFile(file, { encoding: 'utf8', signal: options.signal }));
  } catch (err) {
    if (err instanceof DomainError) throw err;
    if (errnoCode(err) === 'ABORT_ERR') throw new DomainError('aborted', `reading ${file}: cancelled`, { cause: err });
    throw new DomainError('internal', `cannot read the mount table ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * The path as the mount table spells it: symlinks resolved where the path exists. A path that cannot be resolved
 * (absent, or a dead NFS mount answering ENOTCONN/ESTALE/EIO) is compared as given, made absolute: a stale mount
 * must still be found so that it can be unmounted.
 */
export async function canonicalPath(p: string, logger?: Logger): Promise<string> {
  try {
    return await realpath(p);
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') logger?.debug({ path: p, code }, 'realpath failed; using the path as given');
    return path.resolve(p);
  }
}

/**
 * The mount visible at exactly `mountPoint` in `entries`. When several are stacked on one path, the visible one is the
 * one no other entry at that path is mounted on top of.
 */
export function findMountIn(entries: readonly MountEntry[], mountPoint: string): MountEntry | undefined {
  const here = entries.filter((e) => e.mountPoint === mountPoint);
  if (here.length <= 1) return here[0];
  const covered = new Set(here.map((e) => e.parentId));
  const top = here.filter((e) => !covered.has(e.id));
  return top[top.length - 1] ?? here[here.length - 1];
}

export async function findMount(mountPoint: string, options: MountTableOptions = {}): Promise<MountEntry | undefined> {
  const canonical = await canonicalPath(mountPoint, options.logger);
  return findMountIn(await readMountTable(options), canonical);
}

/** "major:minor" from a bigint st_rdev (Linux's dev_t split: 12 bits of major and 20 of minor, interleaved). */
export function majorMinorOf(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/**
 * Every mount of the filesystem on `device`: matched by device number (catches /dev/disk/by-id links and
 * /dev/mapper names the table spells differently) and by source text (when the device node is gone).
 * Not included: raw-block publications, which are bind mounts of the device *node* and show the devtmpfs there.
 */
export async function mountsOfSource(device: string, options: MountTableOptions = {}): Promise<MountEntry[]> {
  const canonical = await canonicalPath(device, options.logger);
  let majorMinor: string | undefined;
  try {
    const st = await stat(canonical, { bigint: true });
    if (st.isBlockDevice()) majorMinor = majorMinorOf(st.rdev);
  } catch {
    // Gone or unreadable: the source text is all there is to match.
  }
  const entries = await readMountTable(options);
  return entries.filter((e) => e.source === device || e.source === canonical || (majorMinor !== undefined && e.majorMinor === majorMinor));
}

/** Read-only either per mount (a `ro` bind) or for the whole filesystem (mounted ro, or remounted ro after errors). */
export function isReadOnlyEntry(entry: MountEntry): boolean {
  return entry.options.includes('ro') || entry.superOptions.includes('ro');
}

/** Whether the mount at `mountPoint` is read-only; undefined when nothing is mounted there. */
export async function isMountReadOnly(mountPoint: string, options: MountTableOptions = {}): Promise<boolean | undefined> {
  const entry = await findMount(mountPoint, options);
  return entry === undefined ? undefined : isReadOnlyEntry(entry);
}
