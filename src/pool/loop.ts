import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { exec } from '../util/exec.js';
import type { Logger } from '../util/log.js';

/**
 * Loop devices: the pool's stand-in for the SDC's /dev/sciniX. Every call goes through util/exec (losetup).
 * Buffered I/O (`--direct-io=off`) keeps the loop device coherent with the backing file's page cache, which
 * snapshot copies (`cp`) read through.
 */
export interface LoopDevice {
  /** /dev/loopN */
  name: string;
  /** Absolute path of the backing file (without the kernel's " (deleted)" suffix). */
  backFile: string;
  readOnly: boolean;
  /** The backing file was removed while attached. */
  deleted: boolean;
}

const LOSETUP_TIMEOUT_MS = 30_000;

interface LosetupJson {
  loopdevices?: { name?: unknown; 'back-file'?: unknown; ro?: unknown }[];
}

export async function listLoopDevices(logger?: Logger): Promise<LoopDevice[]> {
  const { stdout } = await exec('losetup', ['--json', '--list'], { timeoutMs: LOSETUP_TIMEOUT_MS, logger });
  // With no loop devices at all, losetup prints nothing rather than an empty list.
  if (stdout.trim() === '') return [];
  const parsed = JSON.parse(stdout) as LosetupJson;
  const devices: LoopDevice[] = [];
  for (const entry of parsed.loopdevices ?? []) {
    if (typeof entry.name !== 'string' || typeof entry['back-file'] !== 'string') continue;
    const backFile = entry['back-file'];
    const deleted = backFile.endsWith(' (deleted)');
    devices.push({
      name: entry.name,
      backFile: deleted ? backFile.slice(0, -' (deleted)'.length) : backFile,
      readOnly: entry.ro === true || entry.ro === 1 || entry.ro === '1',
      deleted,
    });
  }
  return devices;
}

/** Loop devices whose backing file lies inside `dir`: only these are ours to keep or detach. */
export function devicesUnder(devices: readonly LoopDevice[], dir: string): LoopDevice[] {
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  return devices.filter((d) => d.backFile.startsWith(prefix));
}

export async function attachLoop(file: string, readOnly: boolean, logger?: Logger): Promise<string> {
  const args = ['--find', '--show', '--direct-io=off', ...(readOnly ? ['--read-only'] : []), file];
  const { stdout } = await exec('losetup', args, { timeoutMs: LOSETUP_TIMEOUT_MS, logger });
  const name = stdout.trim();
  if (!name.startsWith('/dev/loop')) throw new Error(`losetup ${args.join(' ')} printed "${name}", not a loop device`);
  return name;
}

/**
 * Detaching a device that a host still holds open (mounted) makes the kernel detach it lazily, when the last
 * user closes it: losetup succeeds, which is what an unmapped-while-mounted volume should look like.
 */
export async function detachLoop(device: string, logger?: Logger): Promise<void> {
  await exec('losetup', ['--detach', device], { timeoutMs: LOSETUP_TIMEOUT_MS, logger });
}

/** After the backing file grew: the device takes its new size (`losetup -c`). */
export async function refreshLoopSize(device: string, logger?: Logger): Promise<void> {
  await exec('losetup', ['--set-capacity', device], { timeoutMs: LOSETUP_TIMEOUT_MS, logger });
}

/** Cumulative I/O counters of a block device, from /sys/block/<dev>/stat (sectors are always 512 bytes there). */
export interface IoCounters {
  readIos: bigint;
  readSectors: bigint;
  writeIos: bigint;
  writeSectors: bigint;
}

export async function readIoCounters(device: string): Promise<IoCounters> {
  const text = await readFile(`/sys/block/${path.basename(device)}/stat`, 'utf8');
  const fields = text.trim().split(/\s+/).map((f) => BigInt(f));
  return { readIos: fields[0] ?? 0n, readSectors: fields[2] ?? 0n, writeIos: fields[4] ?? 0n, writeSectors: fields[6] ?? 0n };
}
