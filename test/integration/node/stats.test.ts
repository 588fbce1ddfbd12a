import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { exec } from '../../../src/util/exec.js';
import { MiB } from '../../../src/util/size.js';
import type { FsType } from '../../../src/node/filesystem.js';
import { makeFilesystem } from '../../../src/node/filesystem.js';
import { bindMount, mount, unmount } from '../../../src/node/mounter.js';
import { majorMinorOf } from '../../../src/node/mount-table.js';
import { blockDeviceStats, volumeCondition, volumeStats } from '../../../src/node/stats.js';
import { cleanupAllLoopFixtures, LoopFixture } from '../../helpers/loop-device.js';

let fx: LoopFixture;
beforeEach(async () => {
  fx = await LoopFixture.create();
});
afterEach(() => fx.cleanup());
afterAll(cleanupAllLoopFixtures);

async function writeFileSynced(file: string, bytes: number): Promise<void> {
  const handle = await open(file, 'w');
  await handle.write(randomBytes(bytes));
  await handle.sync();
  await handle.close();
}

describe.each<[FsType, bigint]>([
  ['ext4', 128n * MiB],
  ['xfs', 320n * MiB],
])('volume stats on %s', (fsType, size) => {
  it('are sane and follow a 10 MiB write', async () => {
    const { device } = await fx.loopDevice(size);
    await makeFilesystem(device, fsType, []);
    const staging = fx.path('staging');
    await mount(device, staging, { fsType });

    const before = await volumeStats(staging);
    // statfs leaves out metadata (and xfs its internal log), so "total" is somewhat below the device size.
    expect(before.totalBytes).toBeLessThanOrEqual(size);
    expect(before.totalBytes).toBeGreaterThan((size * 7n) / 10n);
    expect(before.usedBytes + before.availableBytes).toBeLessThanOrEqual(before.totalBytes);
    expect(before.usedBytes).toBeGreaterThanOrEqual(0n);
    expect(before.totalInodes).toBeGreaterThan(0n);
    expect(before.usedInodes + before.freeInodes).toBe(before.totalInodes);
    expect(typeof before.totalBytes).toBe('bigint');

    await writeFileSynced(path.join(staging, 'ten-mib'), 10 * Number(MiB));
    const after = await volumeStats(staging);
    expect(after.usedBytes - before.usedBytes).toBeGreaterThanOrEqual(10n * MiB);
    expect(after.usedBytes - before.usedBytes).toBeLessThan(12n * MiB);
    expect(before.availableBytes - after.availableBytes).toBeGreaterThanOrEqual(10n * MiB);
    expect(after.usedInodes).toBeGreaterThan(before.usedInodes);
    expect(after.totalBytes).toBe(before.totalBytes);

    expect(await blockDeviceStats(majorMinorOf((await stat(device, { bigint: true })).rdev))).toEqual({ totalBytes: size });
    // A device number with no device behind it (the minor is past any loop device here) is not-found, not a failure.
    await expect(blockDeviceStats('7:1048575')).rejects.toMatchObject({ kind: 'not-found' });
  });
});

describe('volume stats errors', () => {
  it('a missing path is not-found', async () => {
    await expect(volumeStats(fx.path('gone'))).rejects.toMatchObject({ kind: 'not-found' });
  });
});

describe('volume condition', () => {
  it('healthy, then read-only when it should not be, then gone', async () => {
    const { device } = await fx.loopDevice(64n * MiB);
    await makeFilesystem(device, 'ext4', []);
    const staging = fx.path('staging');
    const target = fx.path('target');
    await mount(device, staging, { fsType: 'ext4' });
    await bindMount(staging, target);

    expect(await volumeCondition(target)).toEqual({ abnormal: false, message: `${target} is mounted read-write and readable` });

    // Someone remounted the publish read-only behind our back.
    await exec('mount', ['-o', 'remount,bind,ro', target], { timeoutMs: 10_000 });
    const ro = await volumeCondition(target);
    expect(ro.abnormal).toBe(true);
    expect(ro.message).toMatch(/read-only but should be writable/);
    // ... which is what a read-only publish looks like, and then it is fine.
    expect((await volumeCondition(target, { readOnly: true })).abnormal).toBe(false);

    // The whole filesystem going read-only (as errors=remount-ro does) is reported as such.
    await exec('mount', ['-o', 'remount,ro', staging], { timeoutMs: 10_000 });
    expect((await volumeCondition(staging)).message).toMatch(/filesystem at .* has become read-only/);
    await exec('mount', ['-o', 'remount,rw', staging], { timeoutMs: 10_000 });

    await unmount(target);
    const gone = await volumeCondition(target);
    expect(gone).toEqual({ abnormal: true, message: `${target} is no longer a mount point: the volume was unmounted` });
    expect((await volumeCondition(fx.path('never-there'))).message).toMatch(/does not exist/);
  });

  it('raw block: healthy while bound, abnormal once the bind is gone', async () => {
    const loop = await fx.loopDevice(16n * MiB);
    const target = fx.path('block-target');
    await bindMount(loop.device, target);
    expect(await volumeCondition(target, { block: true })).toMatchObject({ abnormal: false });
    // The volume vanishes underneath (here: the backing file shrinks to nothing).
    await fx.grow(loop, 0);
    expect(await volumeCondition(target, { block: true })).toEqual({ abnormal: true, message: `the device at ${target} has no data behind it (size 0)` });
    await fx.grow(loop, 16n * MiB);
    expect(await volumeCondition(target, { block: true })).toMatchObject({ abnormal: false });
    await unmount(target);
    expect(await volumeCondition(target, { block: true })).toMatchObject({ abnormal: true });
  });
});
