import { lstat, stat } from 'node:fs/promises';
import { errorMessage } from '../errors.js';
import type { Logger } from '../util/log.js';
import { errnoCode } from './common.js';
import { unmount } from './mounter.js';
import { removeTarget } from './paths.js';
import { majorMinorOf } from './mount-table.js';
import type { NodeVolumes } from './node-volumes.js';
import type { StagedVolume } from './state-store.js';

/**
 * Whether the volume's mapping that this node staged still stands: the link still leads to a block device, and to
 * the same one (a volume taken away and given back while the plugin was down comes back as another device, and
 * the old mounts sit on a copy that no longer sees the volume's writes).
 */
async function stillMapped(record: StagedVolume): Promise<boolean> {
  let info;
  try {
    info = await stat(record.devicePath, { bigint: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  if (!info.isBlockDevice()) return false;
  return record.deviceNumber === undefined || record.deviceNumber === majorMinorOf(info.rdev);
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
 * still here are left alone. Answers the ids it cleaned, those it could not clean and those a CSI call was busy with
 * (both looked at again next time).
 */
export async function cleanStaleVolumes(
  volumes: NodeVolumes,
  log: Logger,
  /** Takes the volume's in-flight key (shared with the CSI calls); undefined when a call holds it now. */
  lock: (volumeId: string) => Promise<(() => void) | undefined>,
): Promise<{ cleaned: string[]; failed: string[]; busy: string[] }> {
  const cleaned: string[] = [];
  const failed: string[] = [];
  const busy: string[] = [];
  for (const listed of await volumes.records()) {
    // A CSI call on this volume is running: it sees the volume as it is now; look again next sweep.
    const release = await lock(listed.volumeId);
    if (!release) {
      busy.push(listed.volumeId);
      continue;
    }
    try {
      // Read again under the key: the call that held it may have changed the record.
      const record = await volumes.record(listed.volumeId);
      if (!record || (await stillMapped(record))) continue;
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
      failed.push(listed.volumeId);
      log.error({ volumeId: listed.volumeId, err: errorMessage(err) }, 'could not clean up a stale volume; will try again');
    } finally {
      release();
    }
  }
  return { cleaned, failed, busy };
}
