import path from 'node:path';
import { readMountTable } from '../node/mount-table.js';
import { unmount } from '../node/mounter.js';
import { detachLoop, devicesUnder, listLoopDevices } from '../pool/loop.js';

/**
 * The safety net under an orderly teardown: whatever the CSI calls did not take away (a step failed, a process died)
 * is found in the kernel's own tables and removed, so that a demo or benchmark never leaves a mount or a loop device
 * behind. Each function answers what it found: in a run that went well, that is nothing.
 */

function isUnder(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
}

/** Unmounts every mount at or below `dir` (a real path), deepest and newest first. The mount points found. */
export async function unmountUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (let round = 0; round < 1000; round++) {
    const entries = (await readMountTable()).filter((e) => isUnder(e.mountPoint, dir));
    // The deepest path first; on one path (stacked mounts), the newest (highest id) first.
    entries.sort((a, b) => b.mountPoint.length - a.mountPoint.length || b.id - a.id);
    const next = entries[0];
    if (!next) return found;
    found.push(next.mountPoint);
    if (!(await unmount(next.mountPoint)) && !(await unmount(next.mountPoint, { lazy: true }))) {
      throw new Error(`${next.mountPoint} is in the mount table but cannot be unmounted by its path`);
    }
  }
  throw new Error(`mounts under ${dir} keep coming back: ${found.slice(-5).join(', ')}`);
}

/** Detaches every loop device whose backing file lies inside `dir` (a real path). The devices found. */
export async function detachLoopsUnder(dir: string): Promise<string[]> {
  const devices = devicesUnder(await listLoopDevices(), dir);
  for (const device of devices) await detachLoop(device.name);
  return devices.map((d) => `${d.name} (${d.backFile}${d.deleted ? ', deleted' : ''})`);
}

/** Loop devices backed by files inside `dir`, described; detaches nothing. */
export async function loopsUnder(dir: string): Promise<string[]> {
  return devicesUnder(await listLoopDevices(), dir).map((d) => `${d.name} (${d.backFile})`);
}
