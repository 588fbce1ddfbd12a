import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageEvidence } from '../../preemption/evidence.js';
import type { OpContext } from '../backend.js';
import type { PowerFlexClient } from './client.js';
import type { Sdc, VolumeStatistics } from './types.js';

function ioCount(stats: VolumeStatistics): number {
  return (stats.userDataReadBwc?.numOccured ?? 0) + (stats.userDataWriteBwc?.numOccured ?? 0);
}

/**
 * The storage side's evidence about a holder: its SDC's connection as the MDM sees it, and whether its volumes do
 * I/O over a confirmation window (Dell's pod monitor treats read + write operations > 0 as "I/O in progress"). The
 * first statistics read opens the window; only the second one counts. `'since-last-read'` opens none: one read, and
 * it counts (the counters cover the time since the previous look, which confirmed a window of its own moments ago).
 * A holder of no volumes does no I/O.
 */
export async function gatherStorageEvidence(
  client: PowerFlexClient,
  holder: Sdc | undefined,
  volumeIds: readonly string[],
  windowMs: number | 'since-last-read',
  ctx: OpContext,
): Promise<StorageEvidence> {
  const clientState = holder?.mdmConnectionState ?? 'Unknown';
  if (clientState !== 'Disconnected') return { clientState, ioDuringWindow: undefined };
  const read = (): Promise<VolumeStatistics[]> =>
    Promise.all(volumeIds.map((id) => client.volumes.getVolumeStatistics(id, { signal: ctx.signal })));
  if (windowMs !== 'since-last-read') {
    await read();
    await sleep(windowMs, undefined, { signal: ctx.signal });
  }
  const after = await read();
  return { clientState, ioDuringWindow: after.some((stats) => ioCount(stats) > 0) };
}
