import type { AccessMode } from './wire.js';
import type { Attachments } from './attachments.js';
import type { BlkioThrottle, DeviceLimits } from './blkio-throttle.js';
import type { VolumeRecord } from './state.js';

const MiB = 1024n * 1024n;
const MODES: readonly AccessMode[] = ['ReadWrite', 'ReadOnly'];

/**
 * What one loop device enforces for the mappings it serves. The mappings of one mode share one device (see
 * attachments.ts), so a device cannot tell their hosts apart: it takes the strictest non-zero limit among them, so
 * that no mapping runs faster than it was limited to (hosts sharing a device share its limit).
 */
export function deviceLimits(volume: VolumeRecord, mode: AccessMode): DeviceLimits {
  const strictest = (values: number[]): bigint => {
    const set = values.filter((v) => v > 0);
    return set.length === 0 ? 0n : BigInt(Math.min(...set));
  };
  const mappings = volume.mappings.filter((m) => m.accessMode === mode);
  return { bps: strictest(mappings.map((m) => m.limitBwInMbps)) * MiB, iops: strictest(mappings.map((m) => m.limitIops)) };
}

/** Makes the throttle rules of the volume's devices match its mappings' limits. */
export async function syncDeviceLimits(volume: VolumeRecord, attachments: Attachments, throttle: BlkioThrottle): Promise<void> {
  for (const mode of MODES) {
    const device = attachments.device(volume.id, mode);
    if (device !== undefined) await throttle.set(device, deviceLimits(volume, mode));
  }
}
