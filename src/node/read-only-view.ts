import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { exec } from '../util/exec.js';
import { majorMinorOf } from './mount-table.js';

/**
 * A read-only view of a volume's block device: a read-only loop device over the device node, bound at a raw block
 * publish target that was asked for read-only while the volume's mapping is writable (a pod's `readOnly: true` on a
 * read-write PV: Kubernetes publishes read-only on the node but not at the controller). A read-only bind of the device
 * node itself would not do: MNT_READONLY guards the filesystem holding the node, and writes through the node still
 * reach the disk (checked on this kernel). The loop device refuses them in the block layer.
 *
 * A view is recognised from sysfs alone: a loop device marked read-only whose backing file is a block device node.
 * Ferry's ownership checks treat it as the device it shows, so a view of this volume's device is this volume's and a
 * view of anything else is not. Several read-only targets of one volume on a node share one view.
 */
const LOSETUP_TIMEOUT_MS = 15_000;

export interface ViewCall {
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
}

function losetup(args: string[], call: ViewCall): ReturnType<typeof exec> {
  return exec('losetup', args, { timeoutMs: LOSETUP_TIMEOUT_MS, ...(call.signal ? { signal: call.signal } : {}), ...(call.logger ? { logger: call.logger } : {}) });
}

/** The device numbers a read-only view with numbers `majorMinor` shows; undefined when it is not a view. */
export async function viewedDevice(majorMinor: string): Promise<string | undefined> {
  const sys = `/sys/dev/block/${majorMinor}`;
  try {
    if ((await readFile(path.join(sys, 'ro'), 'utf8')).trim() !== '1') return undefined;
    const backing = (await readFile(path.join(sys, 'loop', 'backing_file'), 'utf8')).trim();
    const info = await stat(backing, { bigint: true });
    return info.isBlockDevice() ? majorMinorOf(info.rdev) : undefined;
  } catch {
    // No loop attributes (not a loop device), or its backing node is gone: not a view of anything we can name.
    return undefined;
  }
}

/** The numbers of the read-only view bound at `target`, if a view is what is bound there. */
export async function viewBoundAt(target: string): Promise<string | undefined> {
  const info = await stat(target, { bigint: true }).catch(() => undefined);
  if (!info?.isBlockDevice()) return undefined;
  const bound = majorMinorOf(info.rdev);
  return (await viewedDevice(bound)) === undefined ? undefined : bound;
}

/** The /dev path of the block device with numbers `majorMinor` (its sysfs name). */
async function devicePathOf(majorMinor: string): Promise<string> {
  return `/dev/${path.basename(await realpath(`/sys/dev/block/${majorMinor}`))}`;
}

/** The numbers of every read-only view of the device with numbers `deviceNumber` on this host. */
export async function viewsOf(deviceNumber: string): Promise<string[]> {
  const views: string[] = [];
  for (const name of await readdir('/sys/block').catch(() => [] as string[])) {
    if (!name.startsWith('loop')) continue;
    const numbers = (await readFile(`/sys/block/${name}/dev`, 'utf8').catch(() => '')).trim();
    if (numbers && (await viewedDevice(numbers)) === deviceNumber) views.push(numbers);
  }
  return views;
}

/** A read-only view of `device` (numbers `deviceNumber`): an existing one (a retry, another read-only target), else a new one. */
export async function openView(device: string, deviceNumber: string, call: ViewCall): Promise<string> {
  const [existing] = await viewsOf(deviceNumber);
  if (existing !== undefined) return devicePathOf(existing);
  const { stdout } = await losetup(['--find', '--show', '--read-only', '--', device], call);
  const view = stdout.trim();
  if (!view.startsWith('/dev/loop')) throw new Error(`losetup --read-only ${device} printed "${view}", not a loop device`);
  call.logger?.info({ device, view }, 'read-only view of the device attached');
  return view;
}

/**
 * Detaches the view with numbers `view` unless one of `stillBound` (publish targets) has it bound. A view something
 * holds open (kubelet's own loop device over a target) goes when that closes: the kernel clears it then.
 */
export async function closeViewIfUnused(view: string, stillBound: readonly string[], call: ViewCall): Promise<void> {
  for (const target of stillBound) {
    const info = await stat(target, { bigint: true }).catch(() => undefined);
    if (info?.isBlockDevice() && majorMinorOf(info.rdev) === view) return;
  }
  const device = await devicePathOf(view);
  await losetup(['--detach', device], call);
  call.logger?.info({ view: device }, 'read-only view of the device detached');
}

/** After the device grew: the view takes the new size (a loop device keeps the size it was set up with). */
export async function refreshViewSize(view: string, call: ViewCall): Promise<void> {
  await losetup(['--set-capacity', await devicePathOf(view)], call);
}
