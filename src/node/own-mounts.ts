import { stat } from 'node:fs/promises';
import type { NodeSource } from '../backends/backend.js';
import { DomainError } from '../errors.js';
import { majorMinorOf, type MountEntry } from './mount-table.js';
import { viewedDevice } from './read-only-view.js';
import type { StagedVolume } from './state-store.js';

/**
 * Before the node plugin takes a mount down at a path the caller named, it proves the mount is this volume's: the
 * device behind it is the one this node staged the volume from (its record), or the device the volume is mapped to
 * now. Anything else (another volume, a tmpfs, the host's own disk) is refused and left mounted: a made-up volume
 * id or a wrong path must never unmount a stranger.
 */
async function currentDeviceNumber(source: NodeSource | undefined): Promise<string | undefined> {
  if (source?.kind !== 'block') return undefined;
  try {
    const info = await stat(source.devicePath, { bigint: true });
    return info.isBlockDevice() ? majorMinorOf(info.rdev) : undefined;
  } catch {
    // Not mapped here (any more): only the record can speak for the volume.
    return undefined;
  }
}

/**
 * The device a mount stands for: a bound device node (raw block) is the node's own device, not devtmpfs's, and a
 * read-only view (read-only-view.ts) stands for the device it shows.
 */
export async function mountedDevice(path: string, entry: MountEntry): Promise<string> {
  try {
    const info = await stat(path, { bigint: true });
    if (info.isBlockDevice()) {
      const bound = majorMinorOf(info.rdev);
      return (await viewedDevice(bound)) ?? bound;
    }
  } catch {
    // A dead mount cannot be looked into; its table entry is all there is.
  }
  return entry.majorMinor;
}

/** The device numbers that are this volume's on this node: the one its record was staged from, the one mapped now. */
export async function ownDeviceNumbers(record: StagedVolume | undefined, source: NodeSource | undefined): Promise<Set<string>> {
  return new Set([record?.deviceNumber, await currentDeviceNumber(source)].filter((n): n is string => n !== undefined));
}

/** Whether the mount `entry` at `path` (or the device node bound there) is this volume's device. */
export async function isOwnMount(path: string, entry: MountEntry, record: StagedVolume | undefined, source: NodeSource | undefined): Promise<boolean> {
  const own = await ownDeviceNumbers(record, source);
  return own.has(await mountedDevice(path, entry));
}

export async function requireOwnMount(
  volumeId: string,
  path: string,
  entry: MountEntry,
  record: StagedVolume | undefined,
  source: NodeSource | undefined,
): Promise<void> {
  if (!(await isOwnMount(path, entry, record, source))) {
    const device = await mountedDevice(path, entry);
    throw new DomainError(
      'failed-precondition',
      `${path} holds ${entry.fsType} from ${entry.source} (device ${device}), which is not volume ${volumeId}: not unmounted`,
    );
  }
}

/** A caller that names the volume's own staging path as a publish target would take the stage down under its pods. */
export function refuseStagingPathAsTarget(volumeId: string, targetPath: string, record: StagedVolume | undefined): void {
  if (record !== undefined && record.stagingPath === targetPath) {
    throw new DomainError('invalid-argument', `target_path ${targetPath} is volume ${volumeId}'s staging path; NodeUnstageVolume takes that down`);
  }
}
