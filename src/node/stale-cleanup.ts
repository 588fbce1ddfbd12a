import { lstat, stat } from 'node:fs/promises';
import { errorMessage } from '../errors.js';
import type { Logger } from '../util/log.js';
import { errnoCode } from './common.js';
import { unmount } from './mounter.js';
import { removeTarget } from './paths.js';
import type { NodeVolumes } from './node-volumes.js';

/** Whether the volume's device is still on this host (its mapping still stands). */
async function deviceStillMapped(devicePath: string): Promise<boolean> {
  try {
    return (await stat(devicePath)).isBlockDevice();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

async function unmountAll(path: string, log: Logger): Promise<void> {
  // Lazy: the device under it is gone, and a process with a file open must not block the clean-up.
  while (await unmount(path, { lazy: true, logger: log })) {
    /* one layer per call */
  }
}

/**
 * Finds volumes this node staged whose mapping was taken away (another node took them over, or they were deleted
 * behind our back), unmounts their publish targets and staging mount, and forgets them. Volumes whose device is
 * still here are left alone. Answers the ids it cleaned.
 */
export async function cleanStaleVolumes(volumes: NodeVolumes, log: Logger): Promise<string[]> {
  const cleaned: string[] = [];
  for (const record of await volumes.records()) {
    try {
      if (await deviceStillMapped(record.devicePath)) continue;
      log.warn({ volumeId: record.volumeId, device: record.devicePath, stagingPath: record.stagingPath }, 'volume no longer mapped here: cleaning up');
      for (const target of record.targets) {
        await unmountAll(target, log);
        const exists = await lstat(target).then(() => true, () => false);
        if (exists) await removeTarget(target, { logger: log });
      }
      if (record.accessType === 'mount') await unmountAll(record.stagingPath, log);
      await volumes.forget(record.volumeId);
      cleaned.push(record.volumeId);
    } catch (err) {
      log.error({ volumeId: record.volumeId, err: errorMessage(err) }, 'could not clean up a stale volume; will try again');
    }
  }
  return cleaned;
}
