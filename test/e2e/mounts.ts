import { readFileSync } from 'node:fs';
import { parseMountInfo } from '../../src/node/mount-table.js';
import { exec } from '../../src/util/exec.js';

/**
 * Mounts, read from /proc/self/mountinfo (our mount namespace: the host's), and their removal.
 *
 * Teardown only ever unmounts what lies under a directory the cluster owns (its run dir): loop devices and mounts of
 * other tests on this machine are none of its business.
 */
export interface MountEntry {
  /** Position in mountinfo: later entries were mounted later (or over earlier ones). */
  index: number;
  target: string;
  fsType: string;
  /** "shared:N", "master:N", ... (empty: private). */
  optional: string;
}

export function listMounts(mountinfo = '/proc/self/mountinfo'): MountEntry[] {
  return parseMountInfo(readFileSync(mountinfo, 'utf8')).map((entry, index) => ({
    index,
    // A mount point whose directory was removed reads ".../dir//deleted".
    target: entry.mountPoint.replace(/\/\/deleted$/, ''),
    optional: entry.optionalFields.join(' '),
    fsType: entry.fsType,
  }));
}

export function isUnder(target: string, dir: string): boolean {
  return target === dir || target.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

export function mountsUnder(dir: string): MountEntry[] {
  return listMounts().filter((m) => isUnder(m.target, dir));
}

export function isMountPoint(target: string): boolean {
  return listMounts().some((m) => m.target === target);
}

/**
 * Unmounts everything at or below `dir`, deepest first (and, at equal depth, the most recent first, so stacked mounts
 * come off top down). A mount that is busy is detached lazily: the processes that kept it busy are dead by the time
 * this runs (teardown kills first), but the kernel may not have let go yet. Returns what is still mounted.
 */
export async function unmountUnder(dir: string, rounds = 5): Promise<string[]> {
  for (let round = 0; round < rounds; round++) {
    const mounts = mountsUnder(dir).sort(
      (a, b) => b.target.split('/').length - a.target.split('/').length || b.index - a.index,
    );
    if (mounts.length === 0) return [];
    for (const m of mounts) {
      try {
        await exec('umount', [m.target], { timeoutMs: 30_000 });
      } catch {
        await exec('umount', ['-l', m.target], { timeoutMs: 30_000 }).catch(() => undefined);
      }
    }
  }
  return mountsUnder(dir).map((m) => m.target);
}
