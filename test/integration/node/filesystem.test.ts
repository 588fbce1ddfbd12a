import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { open } from 'node:fs/promises';
import { exec } from '../../../src/util/exec.js';
import { MiB } from '../../../src/util/size.js';
import type { FsType } from '../../../src/node/filesystem.js';
import { deviceSize, filesystemSize, makeFilesystem, parseMkfsOptions, probeFilesystem } from '../../../src/node/filesystem.js';
import { mount } from '../../../src/node/mounter.js';
import { cleanupAllLoopFixtures, LoopFixture } from '../../helpers/loop-device.js';

/** Probe and mkfs on real loop devices. xfs needs at least 300 MiB (sparse, so it costs nothing). */
let fx: LoopFixture;
beforeEach(async () => {
  fx = await LoopFixture.create();
});
afterEach(() => fx.cleanup());
afterAll(cleanupAllLoopFixtures);

describe.each<[FsType, bigint]>([
  ['ext4', 64n * MiB],
  ['xfs', 320n * MiB],
])('%s', (fsType, size) => {
  it('probe finds nothing on a blank device, mkfs makes one, probe finds it, mkfs then refuses', async () => {
    const { device } = await fx.loopDevice(size);
    expect(await deviceSize(device)).toBe(size);
    expect(await probeFilesystem(device)).toBeUndefined();

    await makeFilesystem(device, fsType, parseMkfsOptions('-L ferrytest', fsType));
    expect(await probeFilesystem(device)).toBe(fsType);
    const { stdout } = await exec('blkid', ['-p', '-s', 'LABEL', '-o', 'value', device], { timeoutMs: 10_000 });
    expect(stdout.trim()).toBe('ferrytest');

    const geometry = await filesystemSize(device, fsType);
    expect(geometry.bytes).toBeLessThanOrEqual(size);
    expect(geometry.bytes).toBeGreaterThan(size - geometry.blockSize);

    // The rule that protects data: a device with a filesystem is never formatted again.
    await expect(makeFilesystem(device, fsType, [])).rejects.toMatchObject({ kind: 'failed-precondition' });
    expect(await probeFilesystem(device)).toBe(fsType);
  });
});

describe('probe and mkfs edge cases', () => {
  it('ext4 defaults: no reserved blocks, lazy init', async () => {
    const { device } = await fx.loopDevice(64n * MiB);
    await makeFilesystem(device, 'ext4', []);
    const { stdout } = await exec('dumpe2fs', ['-h', device], { timeoutMs: 10_000 });
    expect(stdout).toMatch(/^Reserved block count:\s+0$/m);
  });

  it('a caller -m overrides the default reserve', async () => {
    const { device } = await fx.loopDevice(64n * MiB);
    await makeFilesystem(device, 'ext4', parseMkfsOptions('-m 5', 'ext4'));
    const { stdout } = await exec('dumpe2fs', ['-h', device], { timeoutMs: 10_000 });
    expect(stdout).not.toMatch(/^Reserved block count:\s+0$/m);
  });

  it('refuses to format a mounted device', async () => {
    const { device } = await fx.loopDevice(64n * MiB);
    await makeFilesystem(device, 'ext4', []);
    await mount(device, await fx.dir('staging'), { fsType: 'ext4' });
    await expect(makeFilesystem(device, 'xfs', [])).rejects.toThrow(/is mounted at/);
  });

  it('calls a partition table by its name, so it is never mistaken for blank', async () => {
    const { device } = await fx.loopDevice(64n * MiB);
    // One MBR partition entry (type 0x83) and the 0x55AA signature: what fdisk would write (no sfdisk on this host).
    const mbr = Buffer.alloc(512);
    mbr.writeUInt8(0x83, 446 + 4);
    mbr.writeUInt32LE(2048, 446 + 8);
    mbr.writeUInt32LE(1000, 446 + 12);
    mbr.writeUInt16LE(0xaa55, 510);
    const handle = await open(device, 'r+');
    await handle.write(mbr, 0, 512, 0);
    await handle.sync();
    await handle.close();
    expect(await probeFilesystem(device)).toBe('partition-table:dos');
    await expect(makeFilesystem(device, 'ext4', [])).rejects.toMatchObject({ kind: 'failed-precondition' });
  });

  it('a missing device is not-found, not "blank"', async () => {
    await expect(probeFilesystem(fx.path('no-such-device'))).rejects.toMatchObject({ kind: 'not-found' });
    await expect(makeFilesystem(fx.path('no-such-device'), 'ext4', [])).rejects.toMatchObject({ kind: 'not-found' });
  });

  it('refuses unsupported filesystem types and unsafe options before running anything', async () => {
    const { device } = await fx.loopDevice(64n * MiB);
    await expect(makeFilesystem(device, 'btrfs' as 'ext4', [])).rejects.toMatchObject({ kind: 'invalid-argument' });
    await expect(makeFilesystem(device, 'ext4', ['-J', 'device=UUID=x'])).rejects.toMatchObject({ kind: 'invalid-argument' });
    expect(await probeFilesystem(device)).toBeUndefined();
  });
});
