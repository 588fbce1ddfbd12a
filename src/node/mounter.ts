import type { Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DomainError, errorMessage } from '../errors.js';
import { exec, ExecError } from '../util/exec.js';
import { redactString } from '../util/redact.js';
import { errnoCode, requireAbsolutePath, throwIfAborted, type NodeCallOptions } from './common.js';
import { findMount, isReadOnlyEntry, type MountEntry } from './mount-table.js';
import { ensureDirectory, ensureFile } from './paths.js';

/**
 * mount(8) and umount(8) from util-linux, through util/exec. The kernel's answer is checked in the mount table
 * afterwards where it matters (a read-only bind that silently stayed writable would be a data-safety bug).
 *
 * Errors: a missing source is `not-found`; a target of the wrong kind, or one that stays busy, is `failed-precondition`; a failing command
 * is the ExecError from util/exec (`internal` carrying the command's redacted stderr, `deadline-exceeded` on timeout,
 * `aborted` when the signal fired). mount's exit codes do not say why it failed, so they are not interpreted further.
 */

/** A local filesystem mount can replay a journal; NFS can wait for a server. Bind mounts and unmounts are quick. */
export const MOUNT_TIMEOUT_MS = 120_000;
export const BIND_TIMEOUT_MS = 60_000;
export const UNMOUNT_TIMEOUT_MS = 60_000;
/** A busy target is tried this many times, 100, 200, 300... ms apart (1.5 s in all) before the call gives up. */
const BUSY_ATTEMPTS = 6;
const BUSY_RETRY_MS = 100;

export interface MountCallOptions extends NodeCallOptions {
  fsType?: string;
  /** Mount options, joined with ',' for `-o`. */
  options?: readonly string[];
  /** Literal values inside `options` (passwords) that must never reach a log line or an error message. */
  secrets?: readonly string[];
}

export interface BindMountOptions extends NodeCallOptions {
  readOnly?: boolean;
  /** Further per-mount options (e.g. nosuid, nodev), applied together with `ro`. */
  options?: readonly string[];
}

export interface UnmountOptions extends NodeCallOptions {
  /** umount -l: detach now, clean up when the last user lets go (for a dead NFS server or a busy mount). */
  lazy?: boolean;
}

function checkOptions(options: readonly string[]): void {
  for (const option of options) {
    if (option === '' || /[\s\0]/.test(option)) {
      throw new DomainError('invalid-argument', `mount option ${JSON.stringify(option)} is empty or contains whitespace`);
    }
  }
}

function checkFsType(fsType: string): void {
  // Names like ext4, xfs, nfs4, fuse.sshfs: never an option or a list ("nonfs,...") that mount would interpret.
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(fsType)) throw new DomainError('invalid-argument', `"${fsType}" is not a filesystem type`);
}

/**
 * mount -t fsType -o options source target. The target directory is created (0750) when missing. Whether something
 * is already mounted there is the caller's question (isMountPoint / findMount), answered before calling this.
 */
export async function mount(source: string, target: string, options: MountCallOptions = {}): Promise<void> {
  requireAbsolutePath(target, 'mount target');
  if (source === '' || source.startsWith('-') || /[\s\0]/.test(source)) {
    throw new DomainError('invalid-argument', `"${source}" is not a mount source`);
  }
  const mountOptions = options.options ?? [];
  checkOptions(mountOptions);
  if (options.fsType !== undefined) checkFsType(options.fsType);
  throwIfAborted(options.signal, `mount ${target}`);
  if (source.startsWith('/')) await requireExisting(source, 'mount source');
  await ensureDirectory(target, { logger: options.logger, ...(options.signal ? { signal: options.signal } : {}) });

  const args = [
    ...(options.fsType !== undefined ? ['-t', options.fsType] : []),
    ...(mountOptions.length > 0 ? ['-o', mountOptions.join(',')] : []),
    '--',
    source,
    target,
  ];
  options.logger?.info({ source, target, fsType: options.fsType, options: redactString(mountOptions.join(','), options.secrets) }, 'mounting');
  await exec('mount', args, {
    timeoutMs: options.timeoutMs ?? MOUNT_TIMEOUT_MS,
    secrets: options.secrets,
    signal: options.signal,
    logger: options.logger,
  });
}

async function requireExisting(p: string, what: string): Promise<Stats> {
  try {
    return await stat(p);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new DomainError('not-found', `${what} ${p} does not exist`, { cause: err });
    throw new DomainError('internal', `cannot stat ${what} ${p}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * mount --bind source target, read-only when asked. The target is created when missing: a directory (0750) for a
 * directory source, an empty regular file for anything else (raw block publish: the device node is bound onto it).
 * Read-only is refused for a device node source (`invalid-argument`): see below.
 *
 * util-linux turns `--bind -o ro` into a bind followed by a read-only remount of the new mount point (a bind alone
 * ignores ro). The table is checked afterwards; if the mount is still writable a second explicit remount is tried,
 * and if even that does not hold the bind is undone and the call fails: a "read-only" volume must never be writable.
 */
export async function bindMount(source: string, target: string, options: BindMountOptions = {}): Promise<void> {
  requireAbsolutePath(source, 'bind source');
  requireAbsolutePath(target, 'bind target');
  const extra = options.options ?? [];
  checkOptions(extra);
  throwIfAborted(options.signal, `bind mount ${target}`);
  const sourceStat = await requireExisting(source, 'bind source');
  if (options.readOnly && !sourceStat.isDirectory()) {
    // MNT_READONLY guards the filesystem that holds a device node, not the device: writes through a node on a
    // read-only bind still reach the disk (checked on this kernel). Saying "read-only" here would be a lie.
    throw new DomainError(
      'invalid-argument',
      `a read-only bind of ${source} would not stop writes to the device; read-only raw block needs a read-only device (e.g. a read-only loop device over it)`,
    );
  }
  if (sourceStat.isDirectory()) {
    await ensureDirectory(target, { logger: options.logger, ...(options.signal ? { signal: options.signal } : {}) });
  } else {
    await ensureFile(target, { logger: options.logger, ...(options.signal ? { signal: options.signal } : {}) });
  }
  const targetStat = await stat(target);
  if (sourceStat.isDirectory() !== targetStat.isDirectory()) {
    throw new DomainError('failed-precondition', `cannot bind ${source} onto ${target}: one is a directory and the other is not`);
  }

  const mountOptions = [...(options.readOnly ? ['ro'] : []), ...extra.filter((o) => o !== 'ro' && o !== 'rw')];
  const call = { timeoutMs: options.timeoutMs ?? BIND_TIMEOUT_MS, signal: options.signal, logger: options.logger };
  options.logger?.info({ source, target, options: mountOptions.join(',') }, 'bind mounting');
  await exec('mount', ['--bind', ...(mountOptions.length > 0 ? ['-o', mountOptions.join(',')] : []), '--', source, target], call);

  const entry = await findMount(target, { logger: options.logger });
  if (entry === undefined) {
    throw new DomainError('internal', `mount --bind ${source} ${target} succeeded but nothing is mounted at ${target}`);
  }
  if (!options.readOnly || isReadOnlyEntry(entry)) return;

  options.logger?.warn({ source, target }, 'read-only bind mount came up writable; remounting read-only');
  await exec('mount', ['-o', ['remount', 'bind', ...mountOptions].join(','), '--', target], call).catch(async (err: unknown) => {
    await undoBind(target, options);
    throw err;
  });
  const after = await findMount(target, { logger: options.logger });
  if (after === undefined || !isReadOnlyEntry(after)) {
    await undoBind(target, options);
    throw new DomainError('internal', `could not make the bind mount at ${target} read-only; it was unmounted again`);
  }
}

async function undoBind(target: string, options: NodeCallOptions): Promise<void> {
  try {
    await unmount(target, { logger: options.logger });
  } catch (err) {
    options.logger?.error({ target, err: errorMessage(err) }, 'could not undo a bind mount that failed to become read-only');
  }
}

/**
 * umount target, idempotently: a path that does not exist or is not a mount point is done already (false).
 * One layer is removed per call (the visible mount). Returns true when something was unmounted.
 */
export async function unmount(target: string, options: UnmountOptions = {}): Promise<boolean> {
  requireAbsolutePath(target, 'unmount target');
  throwIfAborted(options.signal, `unmount ${target}`);
  try {
    await lstat(target);
  } catch (err) {
    // ENOENT: nothing there. Anything else (ENOTCONN, ESTALE, EIO) is what a dead mount looks like: go on and unmount it.
    if (errnoCode(err) === 'ENOENT') return false;
  }
  const entry = await findMount(target, { signal: options.signal, logger: options.logger });
  if (entry === undefined) return false;

  options.logger?.info({ target: entry.mountPoint, source: entry.source, lazy: options.lazy === true }, 'unmounting');
  await umountWaitingOutBusy(entry.mountPoint, options, async () => !(await stillMounted(entry, options)));
  return true;
}

/**
 * umount(8) of one mount point (the table's spelling of the path: resolved symlinks, the one really mounted).
 * A failure after which `gone` says the mount went anyway (a concurrent retry, kubelet) is success. EBUSY is usually a
 * moment's hold (a stats call reading the directory, a scanner, a shell leaving): it is waited out briefly, and a
 * hold that lasts is `failed-precondition`, the caller's to retry (kubelet does), not an internal fault.
 */
export async function umountWaitingOutBusy(mountPoint: string, options: UnmountOptions, gone: () => Promise<boolean>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await exec('umount', [...(options.lazy ? ['-l'] : []), '--', mountPoint], {
        timeoutMs: options.timeoutMs ?? UNMOUNT_TIMEOUT_MS,
        signal: options.signal,
        logger: options.logger,
      });
      return;
    } catch (err) {
      if (!(err instanceof ExecError) || err.kind !== 'internal') throw err;
      if (await gone()) return;
      if (!isBusy(err)) throw err;
      if (attempt >= BUSY_ATTEMPTS) {
        throw new DomainError(
          'failed-precondition',
          `${mountPoint} is still in use (umount: target is busy after ${BUSY_ATTEMPTS} tries); retry once nothing holds it open`,
          { cause: err },
        );
      }
      options.logger?.warn({ target: mountPoint, attempt }, 'unmount target is busy; trying again');
      await sleep(BUSY_RETRY_MS * attempt, undefined, { signal: options.signal }).catch(() => throwIfAborted(options.signal, `unmount ${mountPoint}`));
    }
  }
}

/** umount(8)'s words for EBUSY ("target is busy", older util-linux "device is busy"). */
function isBusy(err: ExecError): boolean {
  return err.exitCode === 32 && /\b(target|device) is busy\b/i.test(err.stderr);
}

async function stillMounted(entry: MountEntry, options: NodeCallOptions): Promise<boolean> {
  const now = await findMount(entry.mountPoint, { logger: options.logger });
  return now !== undefined && now.id === entry.id;
}

/** Whether something is mounted at exactly `p` (after resolving symlinks), by the mount table. */
export async function isMountPoint(p: string, options: NodeCallOptions = {}): Promise<boolean> {
  requireAbsolutePath(p, 'path');
  return (await findMount(p, { signal: options.signal, logger: options.logger })) !== undefined;
}
