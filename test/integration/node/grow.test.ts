import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exec } from '../../../src/util/exec.js';
import { MiB } from '../../../src/util/size.js';
import { type FsType, checkGrowth, deviceSize, filesystemSize, growFilesystem, hasCapability, makeFilesystem } from '../../../src/node/filesystem.js';
import { mount, unmount } from '../../../src/node/mounter.js';
import { volumeStats } from '../../../src/node/stats.js';
import { cleanupAllLoopFixtures, LoopFixture } from '../../helpers/loop-device.js';

/** A storage-side expansion (backing file grows, `losetup -c`) followed by NodeExpandVolume's online grow. */
let fx: LoopFixture;
beforeEach(async () => {
  fx = await LoopFixture.create();
});
afterEach(() => fx.cleanup());
afterAll(cleanupAllLoopFixtures);

const CAP_SYS_RESOURCE = 24n;

const sha256 = async (file: string): Promise<string> => createHash('sha256').update(await readFile(file)).digest('hex');

describe.each<[FsType, bigint, bigint, string[]]>([
  ['ext4', 128n * MiB, 256n * MiB, ['e2fsck', '-f', '-n']],
  ['xfs', 320n * MiB, 512n * MiB, ['xfs_repair', '-n']],
])('%s', (fsType, size, grown, check) => {
  it('grows to fill the grown device (online where the kernel allows it), keeping the data', async () => {
    const loop = await fx.loopDevice(size);
    await makeFilesystem(loop.device, fsType, []);
    const staging = fx.path('staging');
    await mount(loop.device, staging, { fsType });
    const file = path.join(staging, 'data.bin');
    await writeFile(file, randomBytes(4 * Number(MiB)));
    const checksum = await sha256(file);
    const statsBefore = await volumeStats(staging);
    expect((await checkGrowth(loop.device, fsType, { mountPath: staging })).needsGrow).toBe(false);

    await fx.grow(loop, grown);
    expect(await deviceSize(loop.device)).toBe(grown);
    const pending = await checkGrowth(loop.device, fsType, { mountPath: staging });
    expect(pending).toMatchObject({ deviceBytes: grown, needsGrow: true });
    expect(pending.filesystemBytes).toBeLessThanOrEqual(size);

    if (fsType === 'ext4' && !(await hasCapability(CAP_SYS_RESOURCE))) {
      // This sandbox withholds CAP_SYS_RESOURCE, which ext4's online resize requires even of root: the call says so
      // clearly, and the filesystem is grown unmounted instead (the path NodeStage can take on such a host).
      await expect(growFilesystem(loop.device, staging, fsType)).rejects.toMatchObject({ kind: 'failed-precondition', message: expect.stringMatching(/CAP_SYS_RESOURCE/) });
      await expect(growFilesystem(loop.device, undefined, fsType)).rejects.toThrow(/is mounted at/);
      await unmount(staging);
      await growFilesystem(loop.device, undefined, fsType);
      await mount(loop.device, staging, { fsType });
    } else {
      await growFilesystem(loop.device, staging, fsType);
    }
    const grownStats = await volumeStats(staging);
    expect(grownStats.totalBytes - statsBefore.totalBytes).toBeGreaterThan(((grown - size) * 9n) / 10n);
    expect((await filesystemSize(loop.device, fsType, { mountPath: staging })).bytes).toBe(grown);
    expect((await checkGrowth(loop.device, fsType, { mountPath: staging })).needsGrow).toBe(false);

    // A retried expand is a no-op.
    if (fsType === 'xfs' || (await hasCapability(CAP_SYS_RESOURCE))) {
      await growFilesystem(loop.device, staging, fsType);
      expect((await volumeStats(staging)).totalBytes).toBe(grownStats.totalBytes);
    }

    // The data survived, read back from the device after a remount rather than from the page cache.
    await unmount(staging);
    await exec(check[0] ?? 'false', [...check.slice(1), loop.device], { timeoutMs: 60_000 });
    expect((await filesystemSize(loop.device, fsType)).bytes).toBe(grown);
    await mount(loop.device, staging, { fsType });
    expect(await sha256(file)).toBe(checksum);
  });
});

it('growFilesystem rejects unsupported types, and xfs without a mount', async () => {
  await expect(growFilesystem('/dev/null', '/tmp', 'btrfs' as 'ext4')).rejects.toMatchObject({ kind: 'invalid-argument' });
  await expect(growFilesystem('/dev/null', undefined, 'xfs')).rejects.toMatchObject({ kind: 'invalid-argument' });
});

it('ext4 grows while unmounted too (e2fsck -f -p, then resize2fs), and a second grow is a no-op', async () => {
  const loop = await fx.loopDevice(64n * MiB);
  await makeFilesystem(loop.device, 'ext4', []);
  const staging = fx.path('staging');
  await mount(loop.device, staging, { fsType: 'ext4' });
  await writeFile(path.join(staging, 'marker'), 'kept');
  await unmount(staging);
  await fx.grow(loop, 96n * MiB);
  await growFilesystem(loop.device, undefined, 'ext4');
  await growFilesystem(loop.device, undefined, 'ext4');
  expect((await filesystemSize(loop.device, 'ext4')).bytes).toBe(96n * MiB);
  await mount(loop.device, staging, { fsType: 'ext4' });
  expect(await readFile(path.join(staging, 'marker'), 'utf8')).toBe('kept');
});
