import { realpath } from 'node:fs/promises';
import { DomainError } from '../errors.js';
import { deviceHolders, type DeviceHolder } from '../util/processes.js';
import { throwIfAborted, type NodeCallOptions } from './common.js';

/**
 * Before a command that writes a device (mkfs, e2fsck, resize2fs): no other process may hold it open. Within one
 * instance the per-volume in-flight key already keeps our own commands apart; what this catches is a command a
 * crashed instance left behind that the start-up sweep could not end (stuck in uninterruptible I/O), or anybody
 * else's. It waits for the device to be let go, within the call's deadline and at most `timeoutMs`, then answers
 * `aborted` (the CO retries) rather than run a second command beside the first.
 */
export const HOLDER_WAIT_MS = 10_000;
const POLL_MS = 100;

function describe(holders: readonly DeviceHolder[]): string {
  return holders.map((h) => `${h.comm} (pid ${h.pid})`).join(', ');
}

export async function waitUntilNoHolder(device: string, options: NodeCallOptions = {}): Promise<void> {
  const resolved = await realpath(device).catch(() => device);
  const deadline = Date.now() + (options.timeoutMs ?? HOLDER_WAIT_MS);
  let holders = deviceHolders(resolved);
  if (holders.length === 0) return;
  options.logger?.warn({ device: resolved, holders }, 'device is held open by another process; waiting for it to let go');
  while (holders.length > 0) {
    throwIfAborted(options.signal, `waiting for ${resolved} to be let go by ${describe(holders)}`);
    if (Date.now() >= deadline) {
      throw new DomainError('aborted', `device ${resolved} is still in use by ${describe(holders)}; not touching it while it is (retry later)`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    holders = deviceHolders(resolved);
  }
}
