import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdir, symlink } from 'node:fs/promises';
import { MiB } from '../../../src/util/size.js';
import { resolveDevice, waitForDevice } from '../../../src/node/devices.js';
import { cleanupAllLoopFixtures, LoopFixture } from '../../helpers/loop-device.js';

/** Device discovery against a real loop device and a by-id style link that appears late. */
let fx: LoopFixture;
beforeEach(async () => {
  fx = await LoopFixture.create();
});
afterEach(() => fx.cleanup());
afterAll(cleanupAllLoopFixtures);

describe('waitForDevice', () => {
  it('times out within its bound on a path that never appears', async () => {
    const started = Date.now();
    await expect(waitForDevice(fx.path('by-id', 'emc-vol-x-y'), { timeoutMs: 500, intervalMs: 50 })).rejects.toMatchObject({ kind: 'unavailable' });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(490);
    expect(took).toBeLessThan(1_500);
  });

  it('returns the loop device once a link to it appears after a delay', async () => {
    const { device } = await fx.loopDevice(16n * MiB);
    const byId = await fx.dir('by-id');
    const link = `${byId}/emc-vol-sys-vol1`;
    const timer = setTimeout(() => void symlink(device, link), 600);
    try {
      const started = Date.now();
      expect(await waitForDevice(link, { timeoutMs: 10_000, intervalMs: 50 })).toBe(device);
      expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    } finally {
      clearTimeout(timer);
    }
    expect(await resolveDevice(link)).toBe(device);
    expect(await resolveDevice(device)).toBe(device);
  });

  it('a rescan that makes the link appear ends the wait', async () => {
    const { device } = await fx.loopDevice(16n * MiB);
    const link = fx.path('by-id', 'emc-vol-sys-vol2');
    let rescans = 0;
    const rescan = async (): Promise<void> => {
      rescans++;
      await mkdir(fx.path('by-id'), { recursive: true });
      await symlink(device, link);
    };
    expect(await waitForDevice(link, { timeoutMs: 5_000, intervalMs: 20, rescan })).toBe(device);
    expect(rescans).toBe(1);
  });

  it('a dangling link counts as missing until its target exists', async () => {
    const link = fx.path('dangling');
    await symlink(fx.path('not-yet'), link);
    await expect(waitForDevice(link, { timeoutMs: 200, intervalMs: 20 })).rejects.toThrow(/did not appear within/);
    await expect(resolveDevice(link)).rejects.toMatchObject({ kind: 'not-found' });
  });
});
