import { open, rm, stat, truncate } from 'node:fs/promises';
import { ExecError, exec } from '../util/exec.js';
import type { Logger } from '../util/log.js';
import { CODES, businessError } from './errors.js';

/**
 * Volume files: a volume is a sparse file of its provisioned size. Thick volumes are allocated in full
 * (fallocate), so the disk really holds what the pool reports as reserved; a full disk surfaces as the pool's
 * no-space error rather than as I/O errors later.
 */
const COPY_TIMEOUT_MS = 30 * 60_000;
const FALLOCATE_TIMEOUT_MS = 10 * 60_000;

function noSpace(err: unknown): boolean {
  return (
    (err as NodeJS.ErrnoException).code === 'ENOSPC' || (err instanceof ExecError && /No space left on device/i.test(err.stderr))
  );
}

function rethrowNoSpace(err: unknown): never {
  if (noSpace(err)) throw businessError(CODES.PoolNoSpace, 'Not enough capacity on the disk behind the storage pool');
  throw err;
}

async function allocate(file: string, bytes: bigint, logger?: Logger): Promise<void> {
  // Mode 0 fallocate reserves blocks for holes and leaves written data alone: safe on a file with content.
  await exec('fallocate', ['--length', bytes.toString(), file], { timeoutMs: FALLOCATE_TIMEOUT_MS, logger });
}

/** Creates the file of a new volume; on any failure nothing is left behind. */
export async function createVolumeFile(file: string, bytes: bigint, thick: boolean, logger?: Logger): Promise<void> {
  const handle = await open(file, 'wx', 0o600);
  try {
    await handle.truncate(Number(bytes));
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    if (thick) await allocate(file, bytes, logger);
  } catch (err) {
    await rm(file, { force: true });
    rethrowNoSpace(err);
  }
}

/** Grows a volume file (never shrinks it). */
export async function growVolumeFile(file: string, bytes: bigint, thick: boolean, logger?: Logger): Promise<void> {
  const current = BigInt((await stat(file)).size);
  try {
    if (current < bytes) await truncate(file, Number(bytes));
    if (thick) await allocate(file, bytes, logger);
  } catch (err) {
    rethrowNoSpace(err);
  }
}

/**
 * A point-in-time copy: shares blocks where the filesystem can (reflink) and keeps holes as holes otherwise.
 * Writing onto an existing `dest` keeps its inode, so a loop device attached to it stays attached.
 */
export async function copyVolumeFile(source: string, dest: string, logger?: Logger): Promise<void> {
  try {
    await exec('cp', ['--reflink=auto', '--sparse=always', source, dest], { timeoutMs: COPY_TIMEOUT_MS, logger });
  } catch (err) {
    rethrowNoSpace(err);
  }
}

/** Bytes the disk really holds for a file (its allocated blocks), which is what thin accounting reports. */
export async function allocatedBytes(file: string): Promise<bigint> {
  try {
    return BigInt((await stat(file)).blocks) * 512n;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0n;
    throw err;
  }
}

export async function fileSize(file: string): Promise<bigint | undefined> {
  try {
    return BigInt((await stat(file)).size);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function removeVolumeFile(file: string): Promise<void> {
  await rm(file, { force: true });
}
