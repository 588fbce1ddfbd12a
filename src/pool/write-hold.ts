import { readFile, readdir, readlink, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import { majorMinorOf, readMountTable, type MountEntry } from '../node/mount-table.js';
import { ExecError, exec } from '../util/exec.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { Logger } from '../util/log.js';

/**
 * Holding writes while the pool copies volumes, so that a snapshot of several volumes is one point in time.
 *
 * A real system snapshots a consistency group inside the storage, between two I/Os. The pool's volumes are files
 * behind loop devices, which the kernel writes to without asking the pool, and a loop device cannot be suspended
 * (no device mapper here). What can hold writes is the filesystem on the device: FIFREEZE (`fsfreeze`) flushes it
 * and blocks every new write until it is thawed; blocked writers wait, they do not fail. Freezing every member's
 * filesystem before the first copy and thawing them only after the last gives a consistent cut: a write that had to
 * wait for one member cannot have been followed by a write to another member that the copies contain.
 *
 * Not held: a device with no filesystem mounted from it (a raw block volume in use): its writers are not seen by
 * any filesystem, and the pool says so in its log. Filesystems are found in every mount namespace on the host
 * (kubelet's and pods' namespaces included), through /proc/<pid>/root.
 *
 * A pool killed while it holds writes would leave its hosts' filesystems frozen for good: so the list of what it is
 * about to freeze is on disk before the first freeze (`markerFile`), gone after the last thaw, and a pool that starts
 * and finds it thaws exactly those (never a filesystem someone else froze).
 */
const FREEZE_TIMEOUT_MS = 60_000;

export interface WriteHold {
  /** Devices whose writers could not be held (no filesystem mounted from them). */
  unheld: string[];
  /** Thaws what this hold froze; safe to call once, after the copies. */
  release(): Promise<void>;
}

interface FrozenTarget {
  /** A path into the filesystem, valid from the pool's own mount namespace. */
  path: string;
  device: string;
}

async function majorMinorOfDevice(device: string): Promise<string | undefined> {
  try {
    const st = await stat(device, { bigint: true });
    return st.isBlockDevice() ? majorMinorOf(st.rdev) : undefined;
  } catch {
    return undefined;
  }
}

/** Mount tables to search: ours first, then one process of every other mount namespace. */
async function mountTables(logger: Logger): Promise<{ prefix: string; entries: MountEntry[] }[]> {
  const tables = [{ prefix: '', entries: await readMountTable({ logger }) }];
  const seen = new Set<string>();
  try {
    seen.add(await readlink('/proc/self/ns/mnt'));
  } catch {
    return tables;
  }
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    try {
      const ns = await readlink(`/proc/${pid}/ns/mnt`);
      if (seen.has(ns)) continue;
      seen.add(ns);
      tables.push({ prefix: `/proc/${pid}/root`, entries: await readMountTable({ mountInfoPath: `/proc/${pid}/mountinfo`, logger }) });
    } catch {
      // The process ended while we looked: its namespace, if still used, is another process's too.
    }
  }
  return tables;
}

async function freeze(target: FrozenTarget, logger: Logger): Promise<'frozen' | 'already'> {
  try {
    await exec('fsfreeze', ['--freeze', target.path], { timeoutMs: FREEZE_TIMEOUT_MS, logger });
    return 'frozen';
  } catch (err) {
    // EBUSY: someone (an administrator, an earlier hold) froze it already; it is held, and not ours to thaw.
    if (err instanceof ExecError && /busy/i.test(err.stderr)) return 'already';
    throw err;
  }
}

async function thaw(target: FrozenTarget, logger: Logger): Promise<void> {
  try {
    await exec('fsfreeze', ['--unfreeze', target.path], { timeoutMs: FREEZE_TIMEOUT_MS, logger });
  } catch (err) {
    logger.error({ device: target.device, path: target.path, err: errorMessage(err) }, 'cannot thaw a filesystem the pool froze: its writers stay blocked');
  }
}

/** Thaws what a killed predecessor froze (the marker file's list), then removes the marker. */
export async function thawLeftovers(markerFile: string, logger: Logger): Promise<void> {
  let text: string;
  try {
    text = await readFile(markerFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const targets = JSON.parse(text) as FrozenTarget[];
  for (const target of targets) await thaw(target, logger);
  logger.warn({ filesystems: targets }, 'thawed filesystems a killed pool left frozen');
  await rm(markerFile, { force: true });
}

/** Freezes every filesystem mounted from `devices` (each once, whatever its bind mounts); see the file comment. */
export async function holdWrites(devices: readonly string[], logger: Logger, markerFile: string): Promise<WriteHold> {
  const wanted = new Map<string, string>();
  for (const device of devices) {
    const mm = await majorMinorOfDevice(device);
    if (mm !== undefined) wanted.set(mm, device);
  }
  const targets = new Map<string, FrozenTarget>();
  if (wanted.size > 0) {
    for (const table of await mountTables(logger)) {
      for (const entry of table.entries) {
        const device = wanted.get(entry.majorMinor);
        if (device === undefined || targets.has(entry.majorMinor)) continue;
        targets.set(entry.majorMinor, { path: table.prefix + entry.mountPoint, device });
      }
    }
  }
  const frozen: FrozenTarget[] = [];
  const release = async (): Promise<void> => {
    const toThaw = frozen.splice(0).reverse();
    for (const target of toThaw) await thaw(target, logger);
    if (toThaw.length > 0) await rm(markerFile, { force: true });
  };
  if (targets.size > 0) await writeFileAtomic(markerFile, JSON.stringify([...targets.values()]));
  try {
    for (const target of targets.values()) {
      if ((await freeze(target, logger)) === 'frozen') frozen.push(target);
    }
  } catch (err) {
    await release();
    throw err;
  }
  // Only what this hold froze is its own to thaw after a crash: not a filesystem that was frozen already.
  if (targets.size > 0) {
    if (frozen.length > 0) await writeFileAtomic(markerFile, JSON.stringify(frozen));
    else await rm(markerFile, { force: true });
  }
  const heldDevices = new Set([...targets.values()].map((t) => t.device));
  const unheld = [...new Set(devices)].filter((d) => !heldDevices.has(d));
  if (frozen.length > 0) logger.info({ filesystems: frozen.map((t) => ({ device: t.device, path: path.normalize(t.path) })) }, 'writes held for a snapshot');
  return { unheld, release };
}
