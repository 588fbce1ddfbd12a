import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { DomainError, errorMessage } from '../errors.js';
import { exec } from '../util/exec.js';
import { errnoCode, requireAbsolutePath, throwIfAborted, type NodeCallOptions } from './common.js';
import { mkfsArguments, type MkfsFsType } from './mkfs-options.js';
import { waitUntilNoHolder } from './device-holders.js';
import { mountsOfSource } from './mount-table.js';

export { parseMkfsOptions } from './mkfs-options.js';

/**
 * Filesystems on block devices: probe, make, measure, grow. Ferry supports exactly ext4 and xfs.
 * The one rule that matters most: never mkfs a device that has anything on it (makeFilesystem checks again itself).
 */
export type FsType = MkfsFsType;
export const SUPPORTED_FS_TYPES: readonly FsType[] = ['ext4', 'xfs'];
export const DEFAULT_FS_TYPE: FsType = 'ext4';

export const PROBE_TIMEOUT_MS = 30_000;
/** mkfs on a multi-TiB volume discards and writes metadata for minutes. */
export const MKFS_TIMEOUT_MS = 600_000;
export const GROW_TIMEOUT_MS = 600_000;
export const QUERY_TIMEOUT_MS = 30_000;

export function isSupportedFsType(value: string): value is FsType {
  return (SUPPORTED_FS_TYPES as readonly string[]).includes(value);
}

/** A CSI fs_type / StorageClass value → FsType; empty means the default; anything else is invalid-argument. */
export function parseFsType(value: string | undefined, fallback: FsType = DEFAULT_FS_TYPE): FsType {
  if (value === undefined || value === '') return fallback;
  if (isSupportedFsType(value)) return value;
  throw new DomainError('invalid-argument', `filesystem type "${value}" is not supported (supported: ${SUPPORTED_FS_TYPES.join(', ')})`);
}

/** KEY=value lines of `blkid -o export`. */
export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/**
 * Reads the first sector ourselves before asking blkid: blkid answers "nothing found" (exit 2) both for a blank
 * device and for one it could not open or read, and only the first may be formatted.
 */
async function checkReadable(device: string): Promise<void> {
  let handle;
  try {
    handle = await open(device, 'r');
    const { bytesRead } = await handle.read(Buffer.alloc(4096), 0, 4096, 0);
    // A device node with nothing behind it (an unbound loop device, a volume being unmapped) reads as empty.
    if (bytesRead === 0) throw new DomainError('unavailable', `device ${device} has no data behind it (size 0)`);
  } catch (err) {
    if (err instanceof DomainError) throw err;
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENXIO') throw new DomainError('not-found', `device ${device} does not exist`, { cause: err });
    throw new DomainError('unavailable', `cannot read device ${device}: ${errorMessage(err)}`, { cause: err });
  } finally {
    await handle?.close();
  }
}

/**
 * What is on `device`: its filesystem type ('ext4', 'xfs', 'swap', 'LVM2_member', 'crypto_LUKS', ...), or
 * 'partition-table:<type>' for a partitioned device, or undefined when it is blank and may be formatted.
 *
 * `blkid -p` probes the device itself (no cache, which could be stale after a snapshot restore). Exit 2 is "nothing
 * found"; exit 8 is "ambivalent" (several signatures): `failed-precondition`, never a reason to format.
 * A device that is missing is `not-found`; one that cannot be read is `unavailable`.
 */
export async function probeFilesystem(device: string, options: NodeCallOptions = {}): Promise<string | undefined> {
  requireAbsolutePath(device, 'device');
  throwIfAborted(options.signal, `probe ${device}`);
  await checkReadable(device);
  const result = await exec('blkid', ['-p', '-o', 'export', '--', device], {
    timeoutMs: options.timeoutMs ?? PROBE_TIMEOUT_MS,
    okExitCodes: [2, 8],
    signal: options.signal,
    logger: options.logger,
  });
  if (result.exitCode === 8) {
    throw new DomainError('failed-precondition', `device ${device} carries several conflicting signatures (blkid -p is ambivalent); refusing to use it`);
  }
  if (result.exitCode === 2) return undefined;
  const fields = parseBlkidExport(result.stdout);
  if (fields.TYPE) return fields.TYPE;
  if (fields.PTTYPE) return `partition-table:${fields.PTTYPE}`;
  // Exit 0 with neither: something was identified; say so rather than call the device blank.
  return 'unknown';
}

/**
 * mkfs.<fsType> on a blank device. Refuses (`failed-precondition`) when the device is mounted or when blkid finds
 * anything on it: the caller probes first, but a second look costs milliseconds and the alternative is lost data.
 * `extraArgs` are validated like the mkfsOptions parameter (see mkfs-options.ts) and merged with Ferry's defaults.
 */
export interface MakeFilesystemOptions extends NodeCallOptions {
  /**
   * The caller knows that our own mkfs on this device was cut short (node-volumes.ts keeps that in the volume's
   * record): a filesystem of this type that is provably unfinished (isUnfinishedFilesystem) may be formatted over.
   */
  replaceUnfinished?: boolean;
}

export async function makeFilesystem(device: string, fsType: FsType, extraArgs: readonly string[] = [], options: MakeFilesystemOptions = {}): Promise<void> {
  requireAbsolutePath(device, 'device');
  parseFsType(fsType);
  const args = mkfsArguments(fsType, extraArgs);
  const call = { signal: options.signal, logger: options.logger };
  const mounted = await mountsOfSource(device, call);
  if (mounted.length > 0) {
    throw new DomainError('failed-precondition', `device ${device} is mounted at ${mounted.map((m) => m.mountPoint).join(', ')}; refusing to format it`);
  }
  // A command a crashed instance left behind may still be writing here: never a second one beside it.
  await waitUntilNoHolder(device, call);
  const existing = await probeFilesystem(device, call);
  if (existing !== undefined && !(options.replaceUnfinished === true && existing === fsType && (await isUnfinishedFilesystem(device, existing, call)))) {
    throw new DomainError('failed-precondition', `device ${device} already has ${existing} on it; refusing to format it`);
  }
  options.logger?.info({ device, fsType, args }, 'making filesystem');
  await exec(`mkfs.${fsType}`, [...args, '--', device], {
    timeoutMs: options.timeoutMs ?? MKFS_TIMEOUT_MS,
    signal: options.signal,
    logger: options.logger,
  });
}

/**
 * Whether the `fsType` filesystem blkid found on `device` is one that mkfs never finished. mkfs.xfs marks the
 * superblock `inprogress` until its very last write, and the kernel refuses to mount such a filesystem, so it holds
 * nothing. mke2fs writes the primary superblock last: an ext4 that blkid sees is never taken for unfinished.
 */
export async function isUnfinishedFilesystem(device: string, fsType: string, options: NodeCallOptions = {}): Promise<boolean> {
  requireAbsolutePath(device, 'device');
  if (fsType !== 'xfs') return false;
  const result = await exec('xfs_db', ['-r', '-c', 'sb 0', '-c', 'print inprogress', device], {
    timeoutMs: options.timeoutMs ?? QUERY_TIMEOUT_MS,
    signal: options.signal,
    logger: options.logger,
    okExitCodes: [1],
  });
  return /^inprogress = 1$/m.test(result.stdout);
}

/** Size of a block device in bytes (`blockdev --getsize64`; the device must be an absolute path: blockdev has no `--`). */
export async function deviceSize(device: string, options: NodeCallOptions = {}): Promise<bigint> {
  requireAbsolutePath(device, 'device');
  const { stdout } = await exec('blockdev', ['--getsize64', device], {
    timeoutMs: options.timeoutMs ?? QUERY_TIMEOUT_MS,
    signal: options.signal,
    logger: options.logger,
  });
  const text = stdout.trim();
  if (!/^\d+$/.test(text)) throw new DomainError('internal', `blockdev --getsize64 ${device} printed "${text}", not a size`);
  return BigInt(text);
}

/** The data area of a filesystem: what growing changes. (statfs totals leave out metadata and the xfs log.) */
export interface FilesystemGeometry {
  blockSize: bigint;
  blockCount: bigint;
  bytes: bigint;
}

function geometry(blockSize: bigint, blockCount: bigint): FilesystemGeometry {
  return { blockSize, blockCount, bytes: blockSize * blockCount };
}

/** `dumpe2fs -h` header → block size × block count. */
export function parseDumpe2fs(text: string): FilesystemGeometry {
  const count = /^Block count:\s+(\d+)\s*$/m.exec(text)?.[1];
  const size = /^Block size:\s+(\d+)\s*$/m.exec(text)?.[1];
  if (count === undefined || size === undefined) throw new DomainError('internal', 'dumpe2fs -h printed no "Block count" / "Block size"');
  return geometry(BigInt(size), BigInt(count));
}

/** `xfs_info` → the data section's bsize × blocks ("data     =      bsize=4096   blocks=81920, imaxpct=25"). */
export function parseXfsInfo(text: string): FilesystemGeometry {
  const match = /^data\s+=\s*bsize=(\d+)\s+blocks=(\d+)/m.exec(text);
  if (match?.[1] === undefined || match[2] === undefined) throw new DomainError('internal', 'xfs_info printed no data section (bsize=, blocks=)');
  return geometry(BigInt(match[1]), BigInt(match[2]));
}

export interface FilesystemSizeOptions extends NodeCallOptions {
  /** Where it is mounted: xfs_info asks the mounted filesystem, which is current after an online grow. */
  mountPath?: string;
}

/**
 * The filesystem's data size. ext4: the superblock via `dumpe2fs -h` on the device (mounted or not; the kernel writes
 * the superblock through the device's page cache, so an online resize is visible). xfs: `xfs_info` on the mount path
 * when given, else on the device.
 */
export async function filesystemSize(device: string, fsType: FsType, options: FilesystemSizeOptions = {}): Promise<FilesystemGeometry> {
  requireAbsolutePath(device, 'device');
  const call = { timeoutMs: options.timeoutMs ?? QUERY_TIMEOUT_MS, signal: options.signal, logger: options.logger };
  switch (parseFsType(fsType)) {
    case 'ext4':
      return parseDumpe2fs((await exec('dumpe2fs', ['-h', device], call)).stdout);
    case 'xfs': {
      const target = options.mountPath === undefined ? device : requireAbsolutePath(options.mountPath, 'mount path');
      return parseXfsInfo((await exec('xfs_info', [target], call)).stdout);
    }
  }
}

export interface GrowthCheck {
  deviceBytes: bigint;
  filesystemBytes: bigint;
  /** The device has room for at least one more filesystem block. */
  needsGrow: boolean;
}

/** Whether the filesystem on `device` is smaller than the device (after a ControllerExpand, or a half-done expand). */
export async function checkGrowth(device: string, fsType: FsType, options: FilesystemSizeOptions = {}): Promise<GrowthCheck> {
  const [deviceBytes, fs] = await Promise.all([deviceSize(device, options), filesystemSize(device, fsType, options)]);
  return { deviceBytes, filesystemBytes: fs.bytes, needsGrow: deviceBytes - fs.bytes >= fs.blockSize };
}

/** Linux capability number of CAP_SYS_RESOURCE: ext4's online-resize ioctl demands it, root or not. */
const CAP_SYS_RESOURCE = 24n;

/** Whether this process holds a capability, from the CapEff mask in /proc/self/status. */
export async function hasCapability(bit: bigint): Promise<boolean> {
  const status = await readFile('/proc/self/status', 'utf8');
  const mask = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return mask !== undefined && ((BigInt(`0x${mask}`) >> bit) & 1n) === 1n;
}

/**
 * Grows the filesystem to fill its device. Growing to the current size is a no-op for every tool, so a retry is
 * harmless.
 *  - Mounted (`mountPath` given): `resize2fs <device>` for ext4 (online resize through the mounted filesystem; the
 *    kernel demands CAP_SYS_RESOURCE, and its absence is reported up front as `failed-precondition`, not as resize2fs's
 *    "Permission denied"), `xfs_growfs <mountPath>` for xfs.
 *  - Not mounted (`mountPath` undefined): ext4 only (xfs grows only while mounted: `invalid-argument`). resize2fs
 *    insists on a fresh check of an unmounted filesystem, so `e2fsck -f -p` (preen: only safe automatic repairs) runs
 *    first; if the device turns out to be mounted after all, this is `failed-precondition`.
 */
export interface GrowOptions extends NodeCallOptions {
  /**
   * Offline ext4 only: where resize2fs keeps its undo file (`-z`) while it runs. An offline resize2fs cut short
   * leaves a filesystem that no e2fsck -p accepts; with the undo file, rollBackCutShortResize puts it back as it was.
   */
  undoFile?: string;
}

/**
 * Undoes an offline resize2fs that was cut short (its undo file still exists): e2undo writes back every block the
 * resize had changed, and the grow can then start again. e2undo refuses (exit 1) when the filesystem's superblock is
 * not the one the undo file was made for: nothing of the resize had been written yet, or the filesystem has been
 * used since; either way there is nothing to undo. The undo file is gone afterwards.
 */
export async function rollBackCutShortResize(device: string, undoFile: string, options: NodeCallOptions = {}): Promise<'rolled-back' | 'nothing-to-undo' | 'no-undo-file'> {
  requireAbsolutePath(device, 'device');
  requireAbsolutePath(undoFile, 'undo file');
  if (!(await exists(undoFile))) return 'no-undo-file';
  await waitUntilNoHolder(device, options);
  const result = await exec('e2undo', [undoFile, device], {
    timeoutMs: options.timeoutMs ?? GROW_TIMEOUT_MS,
    signal: options.signal,
    logger: options.logger,
    okExitCodes: [1],
  });
  const outcome = result.exitCode === 0 ? 'rolled-back' : 'nothing-to-undo';
  options.logger?.warn({ device, outcome, e2undo: (result.stdout + result.stderr).trim() }, 'a resize of this filesystem was cut short');
  await rm(undoFile, { force: true });
  return outcome;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

export async function growFilesystem(device: string, mountPath: string | undefined, fsType: FsType, options: GrowOptions = {}): Promise<void> {
  requireAbsolutePath(device, 'device');
  if (mountPath !== undefined) requireAbsolutePath(mountPath, 'mount path');
  const call = { timeoutMs: options.timeoutMs ?? GROW_TIMEOUT_MS, signal: options.signal, logger: options.logger };
  switch (parseFsType(fsType)) {
    case 'ext4':
      if (mountPath !== undefined) {
        if (!(await hasCapability(CAP_SYS_RESOURCE))) {
          throw new DomainError('failed-precondition', `online resize of ext4 on ${device} needs CAP_SYS_RESOURCE, which this process lacks; grow it while unmounted`);
        }
        await waitUntilNoHolder(device, { signal: options.signal, logger: options.logger });
      } else {
        const mounted = await mountsOfSource(device, { signal: options.signal, logger: options.logger });
        if (mounted.length > 0) {
          throw new DomainError('failed-precondition', `device ${device} is mounted at ${mounted.map((m) => m.mountPoint).join(', ')}; an offline grow needs it unmounted`);
        }
        await waitUntilNoHolder(device, { signal: options.signal, logger: options.logger });
        // Exit 1 means "errors corrected", which is fine to resize after; 2 and up are left to a human.
        await exec('e2fsck', ['-f', '-p', device], { ...call, okExitCodes: [1] });
        if (options.undoFile !== undefined) {
          requireAbsolutePath(options.undoFile, 'undo file');
          await mkdir(path.dirname(options.undoFile), { recursive: true, mode: 0o700 });
          await rm(options.undoFile, { force: true });
          await exec('resize2fs', ['-z', options.undoFile, device], call);
          // Done: there is nothing to undo any more (and undoing a finished grow would only shrink it back).
          await rm(options.undoFile, { force: true });
          return;
        }
      }
      await exec('resize2fs', [device], call);
      return;
    case 'xfs':
      if (mountPath === undefined) throw new DomainError('invalid-argument', `xfs on ${device} can only grow while mounted`);
      await exec('xfs_growfs', [mountPath], call);
      return;
  }
}
