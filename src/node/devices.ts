import { realpath, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DomainError, errorMessage, isDomainError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { errnoCode, requireAbsolutePath, throwIfAborted } from './common.js';

/**
 * Finding a volume's block device on this host. The storage system names a device by a stable link
 * (/dev/disk/by-id/emc-vol-<system>-<volume> for PowerFlex; the local pool writes the same kind of link), which
 * resolves to the kernel's name (/dev/sciniX, /dev/loopN). The link appears some time after the volume is mapped,
 * when the data client has noticed the mapping, so it is polled for.
 */

export interface ResolveOptions {
  logger?: Logger;
}

type Lookup = { kind: 'device'; device: string } | { kind: 'missing' } | { kind: 'not-block'; resolved: string };

async function lookup(p: string): Promise<Lookup> {
  let resolved: string;
  try {
    resolved = await realpath(p);
  } catch (err) {
    const code = errnoCode(err);
    // A dangling link (target not there yet) answers ENOENT as well.
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    throw new DomainError('internal', `cannot resolve ${p}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const st = await stat(resolved);
    return st.isBlockDevice() ? { kind: 'device', device: resolved } : { kind: 'not-block', resolved };
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { kind: 'missing' };
    throw new DomainError('internal', `cannot stat ${resolved}: ${errorMessage(err)}`, { cause: err });
  }
}

/** The kernel's device node behind `p` (a by-id link, or the node itself): "/dev/loop3", "/dev/scinia". */
export async function resolveDevice(p: string, _options: ResolveOptions = {}): Promise<string> {
  requireAbsolutePath(p, 'device path');
  const found = await lookup(p);
  switch (found.kind) {
    case 'device':
      return found.device;
    case 'missing':
      throw new DomainError('not-found', `device ${p} does not exist`);
    case 'not-block':
      throw new DomainError('failed-precondition', `${p} resolves to ${found.resolved}, which is not a block device`);
  }
}

export interface WaitForDeviceOptions {
  /** How long to wait in all. */
  timeoutMs: number;
  /** Pause between looks (default 250 ms). */
  intervalMs?: number;
  /**
   * Asks the system to look for new devices (an SDC rescan, a SCSI host scan). Called once after the first miss and
   * then at most every `rescanIntervalMs`; never two at a time. Its failures are logged, not fatal: the device may
   * still appear on its own.
   */
  rescan?: () => Promise<void>;
  /** Minimum pause between two rescans (default 5000 ms). */
  rescanIntervalMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

export const DEFAULT_DEVICE_POLL_MS = 250;
export const DEFAULT_RESCAN_INTERVAL_MS = 5_000;

/**
 * Polls until `p` exists and resolves to a block device; returns the resolved device node.
 *
 * Giving up after `timeoutMs` is `unavailable`, not `deadline-exceeded`: the bound is ours, not the RPC's, and the
 * condition is "the device is not here yet", which the sidecar's retry can fix. The caller's signal firing (the RPC's
 * own deadline or cancellation) ends the wait with that signal's reason, or `aborted`.
 */
export async function waitForDevice(p: string, options: WaitForDeviceOptions): Promise<string> {
  requireAbsolutePath(p, 'device path');
  const interval = Math.max(1, options.intervalMs ?? DEFAULT_DEVICE_POLL_MS);
  const rescanEvery = options.rescanIntervalMs ?? DEFAULT_RESCAN_INTERVAL_MS;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  let lastRescan: number | undefined;
  let rescanning = false;
  let last: Lookup = { kind: 'missing' };

  const startRescan = (): void => {
    const rescan = options.rescan;
    if (rescan === undefined || rescanning) return;
    if (lastRescan !== undefined && Date.now() - lastRescan < rescanEvery) return;
    rescanning = true;
    lastRescan = Date.now();
    // Not awaited: a slow rescan must not stop us from noticing the device, nor hold us past our bound.
    rescan()
      .catch((err: unknown) => options.logger?.warn({ device: p, err: errorMessage(err) }, 'device rescan failed'))
      .finally(() => {
        rescanning = false;
      });
  };

  for (;;) {
    throwIfAborted(options.signal, `waiting for device ${p}`);
    last = await lookup(p);
    if (last.kind === 'device') {
      options.logger?.debug({ device: p, resolved: last.device, ms: Date.now() - started }, 'device present');
      return last.device;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    startRescan();
    try {
      await sleep(Math.min(interval, remaining), undefined, { signal: options.signal });
    } catch (err) {
      if (isDomainError(err)) throw err;
      throwIfAborted(options.signal, `waiting for device ${p}`);
      throw err;
    }
  }

  const waited = Date.now() - started;
  const why = last.kind === 'not-block' ? `resolves to ${last.resolved}, which is not a block device` : 'did not appear';
  throw new DomainError('unavailable', `device ${p} ${why} within ${waited} ms (limit ${options.timeoutMs} ms)`);
}
