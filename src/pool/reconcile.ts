import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { AccessMode } from './wire.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../util/log.js';
import { KiB } from '../util/size.js';
import type { Attachments } from './attachments.js';
import { fileSize, growVolumeFile } from './files.js';
import { listHostDirs, listHostLinks, removeLink, setLink } from './links.js';
import { detachLoop, devicesUnder, listLoopDevices, type LoopDevice } from './loop.js';
import { hostDeviceLink, hostsDir, volumeFile, volumeIdOfFile, volumesDir } from './paths.js';
import type { PoolState } from './state.js';
import { removeStaleTempFiles } from './store.js';

/**
 * Makes the disk, the loop devices and the host links agree with the saved state, at start (after a clean stop,
 * a kill -9 or a reboot). The state is the truth:
 * - volume files the state does not name are leftovers of an interrupted create or remove: deleted;
 *   a file shorter than its volume is an interrupted grow or revert: extended;
 * - every mapping gets its loop device (an existing one is adopted, so a host that has it open keeps it) and
 *   its link; loop devices over our files that no mapping wants are detached; stale links are removed.
 */
export async function reconcile(state: PoolState, dataDir: string, attachments: Attachments, logger: Logger): Promise<void> {
  await removeStaleTempFiles(dataDir, await readdir(dataDir));
  await reconcileFiles(state, dataDir, logger);
  const links = await listHostLinks(dataDir);
  await reconcileDevices(state, dataDir, attachments, new Set(links.map((l) => l.target)), logger);
  await reconcileLinks(state, dataDir, attachments, logger);
}

async function reconcileFiles(state: PoolState, dataDir: string, logger: Logger): Promise<void> {
  const known = new Set(state.volumes.map((v) => v.id));
  for (const name of await readdir(volumesDir(dataDir))) {
    const id = volumeIdOfFile(name);
    if (id !== undefined && known.has(id)) continue;
    logger.warn({ file: name }, 'removing a volume file the state does not know (an interrupted create or remove)');
    await rm(path.join(volumesDir(dataDir), name), { force: true, recursive: true });
  }
  for (const volume of state.volumes) {
    const file = volumeFile(dataDir, volume.id);
    const size = await fileSize(file);
    if (size === undefined) {
      logger.error({ volumeId: volume.id, file }, 'volume file is missing: its data is lost');
      continue;
    }
    if (size < volume.sizeKiB * KiB) {
      logger.warn({ volumeId: volume.id, from: size.toString(), to: (volume.sizeKiB * KiB).toString() }, 'finishing an interrupted grow');
      await growVolumeFile(file, volume.sizeKiB * KiB, volume.volumeType === 'ThickProvisioned', logger);
    }
  }
}

async function reconcileDevices(
  state: PoolState,
  dataDir: string,
  attachments: Attachments,
  linkTargets: ReadonlySet<string>,
  logger: Logger,
): Promise<void> {
  const ours = devicesUnder(await listLoopDevices(logger), volumesDir(dataDir));
  // Adopt first the devices hosts were given (a link points at them): a host may have one open.
  const ordered = [...ours].sort((a, b) => Number(linkTargets.has(b.name)) - Number(linkTargets.has(a.name)));
  for (const device of ordered) {
    const wanted = wantedMode(state, volumesDir(dataDir), device);
    if (wanted && attachments.device(wanted.volumeId, wanted.mode) === undefined) {
      await attachments.adopt(wanted.volumeId, wanted.mode, device.name);
      logger.info({ volumeId: wanted.volumeId, mode: wanted.mode, device: device.name }, 'adopted loop device');
      continue;
    }
    try {
      await detachLoop(device.name, logger);
      logger.warn({ device: device.name, backFile: device.backFile }, 'detached a loop device no mapping wants');
    } catch (err) {
      logger.error({ device: device.name, err: errorMessage(err) }, 'cannot detach a leaked loop device');
    }
  }
  for (const volume of state.volumes) {
    const modes = new Set(volume.mappings.map((m) => m.accessMode));
    for (const mode of modes) {
      try {
        await attachments.ensure(volume.id, mode);
      } catch (err) {
        logger.error({ volumeId: volume.id, mode, err: errorMessage(err) }, 'cannot attach a mapped volume');
      }
    }
    // A grow interrupted between the file and `losetup -c`: the device may still have the old size.
    if (modes.size > 0) await attachments.refresh(volume.id);
  }
}

/** The mapping a loop device over one of our files serves, if any: a device over a removed file serves none. */
function wantedMode(state: PoolState, dir: string, device: LoopDevice): { volumeId: string; mode: AccessMode } | undefined {
  if (device.deleted || path.dirname(device.backFile) !== dir) return undefined;
  const volumeId = volumeIdOfFile(path.basename(device.backFile));
  const volume = state.volumes.find((v) => v.id === volumeId);
  if (!volume || volumeId === undefined) return undefined;
  const mode: AccessMode = device.readOnly ? 'ReadOnly' : 'ReadWrite';
  return volume.mappings.some((m) => m.accessMode === mode) ? { volumeId, mode } : undefined;
}

async function reconcileLinks(state: PoolState, dataDir: string, attachments: Attachments, logger: Logger): Promise<void> {
  const wanted = new Map<string, string>();
  for (const volume of state.volumes) {
    for (const mapping of volume.mappings) {
      const host = state.hosts.find((h) => h.id === mapping.sdcId);
      const device = attachments.device(volume.id, mapping.accessMode);
      if (host && device) wanted.set(hostDeviceLink(dataDir, host.guid, state.systemId, volume.id), device);
    }
  }
  for (const link of await listHostLinks(dataDir)) {
    if (wanted.get(link.path) === link.target) continue;
    await removeLink(link.path);
    if (!wanted.has(link.path)) logger.warn({ link: link.path, target: link.target }, 'removed a stale device link');
  }
  for (const [link, device] of wanted) await setLink(link, device);
  const guids = new Set(state.hosts.map((h) => h.guid));
  for (const dir of await listHostDirs(dataDir)) {
    if (!guids.has(dir)) await rm(path.join(hostsDir(dataDir), dir), { recursive: true, force: true });
  }
}
