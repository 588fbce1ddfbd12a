import path from 'node:path';
import { DomainError } from '../errors.js';
import type { Logger } from '../util/log.js';

/**
 * What every node helper that touches the system accepts. `signal` cancels the call (a child process's whole group
 * is killed by util/exec); `timeoutMs` overrides the helper's own bound, which each helper always sets explicitly.
 */
export interface NodeCallOptions {
  signal?: AbortSignal;
  logger?: Logger;
  timeoutMs?: number;
}

/** The errno code of a failed fs call ('ENOENT', 'EIO', ...), or undefined for anything else. */
export function errnoCode(err: unknown): string | undefined {
  // Not `instanceof Error`: errors from node:fs come from another realm under jest's VM modules.
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/**
 * Paths handed to mount, mkfs and friends must be absolute: a relative path would depend on our working directory,
 * and one starting with '-' could be read as an option by tools that do not accept `--` (blockdev).
 */
export function requireAbsolutePath(value: string, what: string): string {
  if (typeof value !== 'string' || value === '' || !path.isAbsolute(value)) {
    throw new DomainError('invalid-argument', `${what} must be an absolute path, got "${String(value)}"`);
  }
  if (value.includes('\0') || value.includes('\n')) {
    throw new DomainError('invalid-argument', `${what} contains a NUL or newline character`);
  }
  return value;
}

/** Throws the signal's reason as a DomainError when the caller has already given up. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (reason instanceof DomainError) throw reason;
  throw new DomainError('aborted', `${what}: cancelled`, { cause: reason });
}
