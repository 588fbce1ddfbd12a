import { mkdir, mkdtemp, readdir, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readMountTable } from '../node/mount-table.js';

/**
 * The directory a demo or benchmark run keeps everything in: the pool's data, the driver configurations, sockets,
 * node state, staging and publish paths, and the child processes' logs (in `logs/`).
 */
export interface Workspace {
  /** A real path: the mount table and losetup spell paths that way. */
  readonly dir: string;
  /** Made by us in the temporary directory (removed whole), or given by the user (its logs are kept). */
  readonly temporary: boolean;
  readonly logsDir: string;
  path(...parts: string[]): string;
  logFile(name: string): string;
}

export async function createWorkspace(given: string | undefined, prefix: string): Promise<Workspace> {
  let dir: string;
  if (given === undefined) {
    dir = await realpath(await mkdtemp(path.join(os.tmpdir(), prefix)));
  } else {
    await mkdir(given, { recursive: true, mode: 0o700 });
    dir = await realpath(given);
    // Everything in it is removed at the end, so it must hold nothing of anybody else's: only, perhaps, the logs of an
    // earlier run, which make way for this run's.
    const present = (await readdir(dir)).filter((entry) => entry !== 'logs');
    if (present.length > 0) throw new Error(`${dir} is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''}): give a new or empty directory`);
    await rm(path.join(dir, 'logs'), { recursive: true, force: true });
  }
  const logsDir = path.join(dir, 'logs');
  await mkdir(logsDir, { recursive: true, mode: 0o700 });
  return {
    dir,
    temporary: given === undefined,
    logsDir,
    path: (...parts) => path.join(dir, ...parts),
    logFile: (name) => path.join(logsDir, `${name}.log`),
  };
}

/**
 * Removes what the run put in the workspace. `keepLogs` leaves `logs/` (and so the directory) in place. Refuses while
 * anything is still mounted below it: a recursive remove must never reach into a mounted filesystem.
 */
export async function removeWorkspace(ws: Workspace, keepLogs: boolean): Promise<void> {
  const prefix = ws.dir + path.sep;
  const mounted = (await readMountTable()).filter((e) => e.mountPoint === ws.dir || e.mountPoint.startsWith(prefix));
  if (mounted.length > 0) throw new Error(`not removing ${ws.dir}: ${mounted.map((m) => m.mountPoint).join(', ')} still mounted`);
  if (!keepLogs) {
    await rm(ws.dir, { recursive: true, force: true });
    return;
  }
  for (const entry of await readdir(ws.dir)) {
    if (entry !== 'logs') await rm(path.join(ws.dir, entry), { recursive: true, force: true });
  }
}
