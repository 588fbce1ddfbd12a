import path from 'node:path';
import { DomainError, errorMessage } from '../../errors.js';
import { requireAbsolutePath, type NodeCallOptions } from '../../node/common.js';
import { canonicalPath, findMountIn, isReadOnlyEntry, readMountTable, type MountEntry } from '../../node/mount-table.js';
import { mount, umountWaitingOutBusy } from '../../node/mounter.js';
import type { VolumeStats } from '../../node/stats.js';
import { ensureDirectory } from '../../node/paths.js';
import { exec, ExecError } from '../../util/exec.js';
import { normalizeSharePath } from './share-ref.js';

/**
 * Mounts of network shares (NFS exports), made so that a stalled server can never hang the driver.
 *
 * A hard NFS mount whose server stops answering blocks every syscall that touches it inside the kernel. Run in the
 * driver process, such a call would block one of libuv's four threadpool threads for good, and soon every later
 * fs call of the driver with it. So nothing here touches a path on a share from this process: the mount table is
 * read from /proc (the kernel answers that from memory), a path is canonicalised through its parent only, and every
 * stat, statfs, mount and unmount of a share runs in a child process under a timeout (util/exec kills its whole
 * process group on expiry; NFS waits are killable).
 */

/** How long a health probe (one stat) may take before the share counts as not answering. */
export const PROBE_TIMEOUT_MS = 10_000;
/** Bound on each command when a caller gives none. */
export const SHARE_OP_TIMEOUT_MS = 30_000;

export interface ShareCallOptions extends NodeCallOptions {
  timeoutMs?: number;
}

/** `host:/path` (or `[v6]:/path`): how NFS, and other network filesystems, name their source. */
const NETWORK_SOURCE = /^(\[[0-9A-Fa-f:.]+\]|[^/:\s[\]]+):\//;

/** Whether a mount table entry is a network share (NFS, or anything else that names a server as its source). */
export function isShareEntry(entry: MountEntry): boolean {
  return entry.fsType.startsWith('nfs') || NETWORK_SOURCE.test(entry.source);
}

/**
 * The share directory an entry shows: its source joined with the directory of that filesystem mounted there.
 * A kernel NFS mount of `srv:/exports/v1` reads source `srv:/exports/v1`, root `/`; a bind of a subdirectory of a
 * mounted export reads source `srv:/exports`, root `/v1`. Both are `srv:/exports/v1`.
 */
export function sharePathOf(entry: MountEntry): string {
  const root = rootRemoved(entry) ? entry.root.slice(0, -DELETED.length) : entry.root;
  return normalizeSharePath(root === '/' || root === '' ? entry.source : `${entry.source}${root}`);
}

const DELETED = '//deleted';

/** Bind mounts of a directory that was removed show its root with a "//deleted" suffix. */
export function rootRemoved(entry: MountEntry): boolean {
  return entry.root.endsWith(DELETED);
}

/**
 * The mount at exactly `p`, found without touching `p` itself: only its parent is resolved (a local directory in
 * every layout the CO uses), so a dead share mounted at `p` cannot block the lookup. Relative paths have no mount.
 */
export async function lookupMount(p: string, options: NodeCallOptions = {}): Promise<MountEntry | undefined> {
  if (!path.isAbsolute(p)) return undefined;
  const resolved = path.resolve(p);
  const parent = path.dirname(resolved);
  const canonical = resolved === parent ? resolved : path.join(await canonicalPath(parent, options.logger), path.basename(resolved));
  return findMountIn(await readMountTable({ signal: options.signal, logger: options.logger }), canonical);
}

const C_LOCALE = { LC_ALL: 'C' };

export type ProbeResult = { ok: true } | { ok: false; reason: string };

/** Whether the share mounted as `entry` is usable: its directory still there, and a stat answered in time. */
export async function checkShare(entry: MountEntry, options: ShareCallOptions = {}): Promise<ProbeResult> {
  if (rootRemoved(entry)) return { ok: false, reason: 'its directory was removed on the server' };
  return probeShare(entry.mountPoint, { ...options, timeoutMs: Math.min(options.timeoutMs ?? PROBE_TIMEOUT_MS, PROBE_TIMEOUT_MS) });
}

/** Whether the filesystem mounted at `p` answers a stat within the bound (in a child process). */
export async function probeShare(p: string, options: ShareCallOptions = {}): Promise<ProbeResult> {
  requireAbsolutePath(p, 'share path');
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  try {
    await exec('stat', ['-c', '%i', '--', p], { timeoutMs, env: C_LOCALE, signal: options.signal, logger: options.logger });
    return { ok: true };
  } catch (err) {
    if (err instanceof ExecError && err.kind === 'deadline-exceeded') return { ok: false, reason: `no answer within ${timeoutMs} ms` };
    if (err instanceof ExecError && err.kind === 'internal') return { ok: false, reason: err.stderr.trim() || err.message };
    throw err;
  }
}

/** A mounted share's bytes and inodes: what NodeGetVolumeStats reports for any mounted volume. */
export type ShareStats = VolumeStats;

/** Parses `stat -f -c '%S %b %f %a %c %d'`: fragment size, blocks, free, available, inodes, free inodes. */
export function parseStatfsLine(text: string): ShareStats {
  const fields = text.trim().split(/\s+/);
  if (fields.length !== 6 || !fields.every((f) => /^\d+$/.test(f))) {
    throw new DomainError('internal', `unexpected output of stat -f: ${JSON.stringify(text.trim())}`);
  }
  const [frsize, blocks, free, avail, files, ffree] = fields.map((f) => BigInt(f)) as [bigint, bigint, bigint, bigint, bigint, bigint];
  return {
    totalBytes: blocks * frsize,
    availableBytes: avail * frsize,
    usedBytes: (blocks - free) * frsize,
    totalInodes: files,
    freeInodes: ffree,
    usedInodes: files >= ffree ? files - ffree : 0n,
  };
}

/** statfs of a path on a share, in a child process; `unavailable` when the server does not answer in time. */
export async function shareStats(p: string, options: ShareCallOptions = {}): Promise<ShareStats> {
  requireAbsolutePath(p, 'share path');
  const timeoutMs = options.timeoutMs ?? SHARE_OP_TIMEOUT_MS;
  try {
    const { stdout } = await exec('stat', ['-f', '-c', '%S %b %f %a %c %d', '--', p], {
      timeoutMs,
      env: C_LOCALE,
      signal: options.signal,
      logger: options.logger,
    });
    return parseStatfsLine(stdout);
  } catch (err) {
    throw asUnavailable(err, `statfs ${p}`, timeoutMs);
  }
}

/** A timeout of ours becomes `unavailable`: the server (not the caller) is what did not answer. */
export function asUnavailable(err: unknown, what: string, timeoutMs: number): unknown {
  if (err instanceof ExecError && err.kind === 'deadline-exceeded') {
    return new DomainError('unavailable', `${what}: the NFS server did not answer within ${Math.round(timeoutMs / 1000)} s (the command was killed)`, {
      cause: err,
    });
  }
  return err;
}

export interface MountShareOptions extends ShareCallOptions {
  fsType?: string;
  options?: readonly string[];
}

/**
 * mount -t nfs source target under a timeout; the target directory is made when missing. When the mount fails or
 * times out and something got mounted all the same (a race with the kill), it is taken off again: a failed call
 * leaves nothing mounted.
 */
export async function mountShare(source: string, target: string, options: MountShareOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? SHARE_OP_TIMEOUT_MS;
  const before = await lookupMount(target, options);
  try {
    await mount(source, target, {
      fsType: options.fsType ?? 'nfs',
      options: options.options ?? [],
      timeoutMs,
      signal: options.signal,
      logger: options.logger,
    });
  } catch (err) {
    const after = await lookupMount(target, options).catch(() => undefined);
    if (after && after.id !== before?.id) await detach(after.mountPoint, options).catch(() => undefined);
    throw asUnavailable(err, `mount ${source}`, timeoutMs);
  }
}

/** umount -l without helpers or path canonicalisation: neither may talk to a dead server. */
async function detach(mountPoint: string, options: ShareCallOptions): Promise<void> {
  options.logger?.warn({ mountPoint }, 'lazily unmounting a share that does not answer');
  await exec('umount', ['-l', '-i', '-c', '--', mountPoint], {
    timeoutMs: options.timeoutMs ?? SHARE_OP_TIMEOUT_MS,
    signal: options.signal,
    logger: options.logger,
  });
}

/**
 * Takes every mount off `target`, idempotently (false when nothing was mounted). A stale mount (its directory was
 * removed on the server, or it does not answer a stat in time) is detached lazily at once; a healthy one is
 * unmounted normally, and lazily when even that does not finish in time. A healthy mount that stays busy is an error.
 */
export async function unmountShare(target: string, options: ShareCallOptions = {}): Promise<boolean> {
  requireAbsolutePath(target, 'unmount target');
  const timeoutMs = options.timeoutMs ?? SHARE_OP_TIMEOUT_MS;
  let unmounted = false;
  for (let entry = await lookupMount(target, options); entry; entry = await lookupMount(target, options)) {
    const previous = entry.id;
    const probe = await checkShare(entry, options);
    if (!probe.ok) {
      options.logger?.warn({ mountPoint: entry.mountPoint, source: entry.source, reason: probe.reason }, 'stale share mount');
      await detach(entry.mountPoint, options);
    } else {
      options.logger?.info({ mountPoint: entry.mountPoint, source: entry.source }, 'unmounting share');
      try {
        await umountWaitingOutBusy(entry.mountPoint, { timeoutMs, signal: options.signal, logger: options.logger }, async () => (await lookupMount(target, options))?.id !== previous);
      } catch (err) {
        // A healthy share that does not come off in time is detached; anything else (a lasting hold, permission) is an error.
        if (!(err instanceof ExecError && err.kind === 'deadline-exceeded')) throw err;
        await detach(entry.mountPoint, options);
      }
    }
    unmounted = true;
    const now = await lookupMount(target, options);
    if (now?.id === previous) throw new DomainError('internal', `${target} is still mounted after umount`);
  }
  return unmounted;
}

export interface BindShareOptions extends ShareCallOptions {
  readOnly?: boolean;
}

/**
 * mount --bind staging target (read-only when asked), under a timeout. The target is made (0750) when missing.
 * The mount table is checked afterwards: a bind that should be read-only and is not is taken off again.
 */
export async function bindShare(staging: string, target: string, options: BindShareOptions = {}): Promise<void> {
  requireAbsolutePath(staging, 'bind source');
  requireAbsolutePath(target, 'bind target');
  const timeoutMs = options.timeoutMs ?? SHARE_OP_TIMEOUT_MS;
  await ensureDirectory(target, { logger: options.logger });
  const call = { timeoutMs, signal: options.signal, logger: options.logger };
  options.logger?.info({ source: staging, target, readOnly: options.readOnly === true }, 'bind mounting share');
  try {
    await exec('mount', ['--bind', ...(options.readOnly ? ['-o', 'ro'] : []), '--', staging, target], call);
    let entry = await lookupMount(target, options);
    if (!entry) throw new DomainError('internal', `mount --bind ${staging} ${target} succeeded but nothing is mounted there`);
    if (options.readOnly && !isReadOnlyEntry(entry)) {
      await exec('mount', ['-o', 'remount,bind,ro', '--', target], call);
      entry = await lookupMount(target, options);
      if (!entry || !isReadOnlyEntry(entry)) throw new DomainError('internal', `could not make the bind mount at ${target} read-only`);
    }
  } catch (err) {
    const left = await lookupMount(target, options).catch(() => undefined);
    if (left) await detach(left.mountPoint, options).catch((e: unknown) => options.logger?.error({ target, err: errorMessage(e) }, 'could not undo a failed bind'));
    throw asUnavailable(err, `bind mount of ${staging}`, timeoutMs);
  }
}
