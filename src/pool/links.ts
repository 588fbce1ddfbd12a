import { lstat, mkdir, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { hostsDir } from './paths.js';

/**
 * Host device links: DATA_DIR/hosts/<GUID>/by-id/emc-vol-<system>-<volume> → /dev/loopN, the pool's version of
 * the udev link a real SDC host gets in /dev/disk/by-id.
 */
export interface HostLink {
  guid: string;
  /** Absolute path of the link. */
  path: string;
  target: string;
}

/** Points `link` at `target`, replacing whatever is there, in one rename so a reader never sees it missing. */
export async function setLink(link: string, target: string): Promise<void> {
  await mkdir(path.dirname(link), { recursive: true });
  try {
    if ((await readlink(link)) === target) return;
  } catch {
    // Absent (or not a link): create it below.
  }
  const temp = `${link}.tmp`;
  await rm(temp, { force: true });
  await symlink(target, temp);
  await rename(temp, link);
}

export async function removeLink(link: string): Promise<void> {
  await rm(link, { force: true });
}

/** Every entry under hosts/<GUID>/by-id, links or not (anything else there is stale by definition). */
export async function listHostLinks(dataDir: string): Promise<HostLink[]> {
  const found: HostLink[] = [];
  for (const guid of await readdirOrEmpty(hostsDir(dataDir))) {
    const dir = path.join(hostsDir(dataDir), guid, 'by-id');
    for (const name of await readdirOrEmpty(dir)) {
      const link = path.join(dir, name);
      let target = '';
      try {
        if ((await lstat(link)).isSymbolicLink()) target = await readlink(link);
      } catch {
        continue;
      }
      found.push({ guid, path: link, target });
    }
  }
  return found;
}

/** Host directories present on disk (one per GUID ever declared). */
export async function listHostDirs(dataDir: string): Promise<string[]> {
  return readdirOrEmpty(hostsDir(dataDir));
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
