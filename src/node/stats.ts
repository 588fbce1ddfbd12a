import { lstat, open, opendir, readFile, statfs } from 'node:fs/promises';
import { DomainError, errorMessage } from '../errors.js';
import { errnoCode, requireAbsolutePath, throwIfAborted, type NodeCallOptions } from './common.js';
import { findMount, isReadOnlyEntry } from './mount-table.js';

/** What NodeGetVolumeStats reports: bytes and inodes of a mounted volume, or the size of a raw block volume. */
export interface VolumeStats {
  totalBytes: bigint;
  availableBytes: bigint;
  usedBytes: bigint;
  totalInodes: bigint;
  freeInodes: bigint;
  usedInodes: bigint;
}

/**
 * statfs on the mounted volume. `available` is what an unprivileged writer may still use (bavail), so with ext4's
 * reserved blocks `used + available < total`; CSI expects exactly that split. A missing path is `not-found`.
 */
export async function volumeStats(path: string, options: NodeCallOptions = {}): Promise<VolumeStats> {
  requireAbsolutePath(path, 'volume path');
  throwIfAborted(options.signal, `stats of ${path}`);
  let st;
  try {
    st = await statfs(path, { bigint: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new DomainError('not-found', `volume path ${path} does not exist`, { cause: err });
    throw new DomainError('internal', `statfs ${path}: ${errorMessage(err)}`, { cause: err });
  }
  return {
    totalBytes: st.blocks * st.bsize,
    availableBytes: st.bavail * st.bsize,
    usedBytes: (st.blocks - st.bfree) * st.bsize,
    totalInodes: st.files,
    freeInodes: st.ffree,
    usedInodes: st.files - st.ffree,
  };
}

export interface BlockDeviceStats {
  totalBytes: bigint;
}

/**
 * Raw block volumes have no filesystem to ask: their size is all there is, read from sysfs by the device number
 * (`major:minor`, from a stat of the published path) rather than by opening the path: a target taken down meanwhile
 * by an unpublish cannot turn a stats call into a failed command. A device that is gone is `not-found`.
 */
export async function blockDeviceStats(deviceNumber: string): Promise<BlockDeviceStats> {
  if (!/^\d+:\d+$/.test(deviceNumber)) throw new DomainError('internal', `"${deviceNumber}" is not a device number`);
  let text: string;
  try {
    text = await readFile(`/sys/dev/block/${deviceNumber}/size`, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new DomainError('not-found', `block device ${deviceNumber} is gone`, { cause: err });
    throw new DomainError('internal', `size of block device ${deviceNumber}: ${errorMessage(err)}`, { cause: err });
  }
  // sysfs counts 512-byte sectors whatever the device's own block size.
  const sectors = text.trim();
  if (!/^\d+$/.test(sectors)) throw new DomainError('internal', `sysfs size of block device ${deviceNumber} is "${sectors}"`);
  return { totalBytes: BigInt(sectors) * 512n };
}

export interface VolumeCondition {
  abnormal: boolean;
  message: string;
}

export interface VolumeConditionOptions extends NodeCallOptions {
  /** The volume was published read-only: a read-only mount is then expected, not a fault. */
  readOnly?: boolean;
  /** The path is a raw block publish (a device node bound onto a file) rather than a mounted filesystem. */
  block?: boolean;
}

const healthy = (message: string): VolumeCondition => ({ abnormal: false, message });
const abnormal = (message: string): VolumeCondition => ({ abnormal: true, message });

/**
 * The VolumeCondition of a staged or published path, for NodeGetVolumeStats. Abnormal when:
 *  - nothing is mounted there any more (someone unmounted it, or the path is gone);
 *  - it is read-only though it should be writable (ext4 errors=remount-ro shows as 'ro' in the super options);
 *  - the filesystem (or the device, for raw block) cannot be read: statfs or a directory read fails (EIO, ENOTCONN).
 * Failures to *check* (the mount table unreadable) are thrown, not reported as a volume fault.
 */
export async function volumeCondition(path: string, options: VolumeConditionOptions = {}): Promise<VolumeCondition> {
  requireAbsolutePath(path, 'volume path');
  throwIfAborted(options.signal, `condition of ${path}`);
  const entry = await findMount(path, { signal: options.signal, logger: options.logger });
  if (entry === undefined) {
    const exists = await lstat(path).then(
      () => true,
      (err: unknown) => errnoCode(err) !== 'ENOENT',
    );
    return abnormal(exists ? `${path} is no longer a mount point: the volume was unmounted` : `${path} does not exist`);
  }
  if (!options.readOnly && isReadOnlyEntry(entry)) {
    return abnormal(
      entry.superOptions.includes('ro')
        ? `the filesystem at ${path} has become read-only (errors on the device?)`
        : `${path} is mounted read-only but should be writable`,
    );
  }
  try {
    if (options.block) {
      const handle = await open(path, 'r');
      try {
        const { bytesRead } = await handle.read(Buffer.alloc(4096), 0, 4096, 0);
        // A device whose volume went away underneath (unmapped, shrunk to nothing) reads as empty rather than failing.
        if (bytesRead === 0) return abnormal(`the device at ${path} has no data behind it (size 0)`);
      } finally {
        await handle.close();
      }
    } else {
      await statfs(path);
      // statfs is often answered from memory; reading the root directory touches the filesystem for real.
      const dir = await opendir(path);
      try {
        await dir.read();
      } finally {
        await dir.close();
      }
    }
  } catch (err) {
    return abnormal(`${path} cannot be read: ${errnoCode(err) ?? errorMessage(err)}`);
  }
  return healthy(`${path} is mounted ${isReadOnlyEntry(entry) ? 'read-only' : 'read-write'} and readable`);
}
