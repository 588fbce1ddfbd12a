import { lstat, mkdir, open, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { DomainError, errorMessage } from '../errors.js';
import type { Logger } from '../util/log.js';
import { bounded } from './caller-paths.js';
import { errnoCode, requireAbsolutePath } from './common.js';
import { findMount } from './mount-table.js';

/**
 * Creating and removing publish targets. Creation is idempotent; removal only ever takes away what publish made:
 * an empty directory or an empty regular file, and never anything still mounted. Nothing here removes recursively:
 * a leftover file in a target directory is someone's data until proven otherwise.
 */
export interface PathOptions {
  logger?: Logger;
  /** Mode for directories we create (default 0750: kubelet and root only). */
  mode?: number;
  /** The call's: every step gives up when it fires (a path on a dead mount must not hold the call for ever). */
  signal?: AbortSignal;
}

export const TARGET_DIR_MODE = 0o750;
export const TARGET_FILE_MODE = 0o640;

function fsFailure(what: string, p: string, err: unknown): DomainError {
  return new DomainError('internal', `${what} ${p}: ${errorMessage(err)}`, { cause: err });
}

/** mkdir -p with a mode; fine when it exists as a directory, failed-precondition when something else is there. */
export async function ensureDirectory(dir: string, options: PathOptions = {}): Promise<void> {
  requireAbsolutePath(dir, 'directory');
  try {
    await bounded(mkdir(dir, { recursive: true, mode: options.mode ?? TARGET_DIR_MODE }), options.signal, `mkdir ${dir}`);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST' || errnoCode(err) === 'ENOTDIR') {
      throw new DomainError('failed-precondition', `${dir} exists and is not a directory`, { cause: err });
    }
    throw fsFailure('cannot create directory', dir, err);
  }
  // mkdir -p succeeds silently on an existing path only when it is a directory, but a symlink to one passes too.
  const st = await bounded(stat(dir), options.signal, `stat ${dir}`).catch((err: unknown) => {
    if (err instanceof DomainError) throw err;
    throw fsFailure('cannot stat', dir, err);
  });
  if (!st.isDirectory()) throw new DomainError('failed-precondition', `${dir} exists and is not a directory`);
}

/**
 * An empty regular file to bind-mount a block device onto (raw block publish). Its parent is created when missing.
 * An existing file is kept as it is (never truncated), and so is a block device node: that is a finished publish
 * seen through its bind mount.
 */
export async function ensureFile(file: string, options: PathOptions = {}): Promise<void> {
  requireAbsolutePath(file, 'file');
  await ensureDirectory(path.dirname(file), options);
  try {
    const st = await bounded(stat(file), options.signal, `stat ${file}`);
    if (st.isFile() || st.isBlockDevice()) return;
    throw new DomainError('failed-precondition', `${file} exists and is neither a regular file nor a block device`);
  } catch (err) {
    if (err instanceof DomainError) throw err;
    if (errnoCode(err) !== 'ENOENT') throw fsFailure('cannot stat', file, err);
  }
  try {
    // 'wx' would fail on a race with another creator; 'a' creates or opens without truncating, both of which are fine.
    const handle = await bounded(open(file, 'a', TARGET_FILE_MODE), options.signal, `create ${file}`);
    await handle.close();
  } catch (err) {
    if (err instanceof DomainError) throw err;
    throw fsFailure('cannot create file', file, err);
  }
}

export type RemoveResult = 'removed' | 'absent';

async function refuseIfMounted(p: string, logger?: Logger, signal?: AbortSignal): Promise<void> {
  if (await findMount(p, { logger, ...(signal ? { signal } : {}) })) {
    throw new DomainError('failed-precondition', `${p} is still a mount point; unmount it before removing it`);
  }
}

/** rmdir of an empty directory that is not a mount point; absent is fine. A non-empty one is left for a human. */
export async function removeDirectory(dir: string, options: PathOptions = {}): Promise<RemoveResult> {
  requireAbsolutePath(dir, 'directory');
  await refuseIfMounted(dir, options.logger, options.signal);
  try {
    await bounded(rmdir(dir), options.signal, `rmdir ${dir}`);
    return 'removed';
  } catch (err) {
    if (err instanceof DomainError) throw err;
    const code = errnoCode(err);
    if (code === 'ENOENT') return 'absent';
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw new DomainError('failed-precondition', `${dir} is not empty after unmount; leaving it in place`, { cause: err });
    }
    if (code === 'ENOTDIR') throw new DomainError('failed-precondition', `${dir} is not a directory`, { cause: err });
    throw fsFailure('cannot remove directory', dir, err);
  }
}

/** unlink of the empty regular file a raw block publish made; anything with content is refused. */
export async function removeFile(file: string, options: PathOptions = {}): Promise<RemoveResult> {
  requireAbsolutePath(file, 'file');
  await refuseIfMounted(file, options.logger, options.signal);
  let st;
  try {
    st = await bounded(lstat(file), options.signal, `lstat ${file}`);
  } catch (err) {
    if (err instanceof DomainError) throw err;
    if (errnoCode(err) === 'ENOENT') return 'absent';
    throw fsFailure('cannot stat', file, err);
  }
  if (!st.isFile()) throw new DomainError('failed-precondition', `${file} is not a regular file; leaving it in place`);
  if (st.size !== 0) throw new DomainError('failed-precondition', `${file} is not empty (${st.size} bytes); leaving it in place`);
  try {
    await bounded(unlink(file), options.signal, `unlink ${file}`);
    return 'removed';
  } catch (err) {
    if (err instanceof DomainError) throw err;
    if (errnoCode(err) === 'ENOENT') return 'absent';
    throw fsFailure('cannot remove file', file, err);
  }
}

/** Removes a publish target of either kind (directory for mount, file for raw block) after it was unmounted. */
export async function removeTarget(target: string, options: PathOptions = {}): Promise<RemoveResult> {
  requireAbsolutePath(target, 'target');
  let st;
  try {
    st = await bounded(lstat(target), options.signal, `lstat ${target}`);
  } catch (err) {
    if (err instanceof DomainError) throw err;
    if (errnoCode(err) === 'ENOENT') return 'absent';
    // A dead mount answers stat with ENOTCONN/EIO: let the mount check in removeDirectory explain the refusal.
    return removeDirectory(target, options);
  }
  return st.isDirectory() ? removeDirectory(target, options) : removeFile(target, options);
}
