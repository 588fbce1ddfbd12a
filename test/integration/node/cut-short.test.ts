import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { access, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exec } from '../../../src/util/exec.js';
import { GiB, MiB } from '../../../src/util/size.js';
import { filesystemSize, growFilesystem, isUnfinishedFilesystem, makeFilesystem, rollBackCutShortResize } from '../../../src/node/filesystem.js';
import { mount, unmount } from '../../../src/node/mounter.js';
import { cleanupAllLoopFixtures, LoopFixture, type LoopDevice } from '../../helpers/loop-device.js';

/**
 * What a command cut short by a crash leaves on a device, made on purpose (no timing involved), and what the node
 * layer does with it (issue 17): an xfs whose mkfs never finished is formatted over only when the caller knows its
 * own mkfs was cut short, never a finished one; an offline ext4 grow cut short is rolled back from its undo file.
 * killed-mid-command.test.ts gets there by really killing the plugin; this pins down each state.
 */
let fx: LoopFixture;
beforeEach(async () => {
  fx = await LoopFixture.create('ferry-cut-short-');
});
afterEach(() => fx.cleanup());
afterAll(cleanupAllLoopFixtures);

async function markInProgress(device: string): Promise<void> {
  await exec('xfs_db', ['-x', '-c', 'sb 0', '-c', 'write inprogress 1', device], { timeoutMs: 30_000 });
}

async function uuid(device: string): Promise<string> {
  return (await exec('blkid', ['-p', '-s', 'UUID', '-o', 'value', device], { timeoutMs: 10_000 })).stdout.trim();
}

describe('an xfs whose mkfs never finished', () => {
  it('is recognised as unfinished, cannot be mounted, and is formatted over only with replaceUnfinished', async () => {
    const { device } = await fx.loopDevice(320n * MiB);
    await makeFilesystem(device, 'xfs', []);
    expect(await isUnfinishedFilesystem(device, 'xfs')).toBe(false);
    const first = await uuid(device);
    await markInProgress(device);
    expect(await isUnfinishedFilesystem(device, 'xfs')).toBe(true);
    // What made this state dangerous: blkid calls it xfs, and no kernel mounts it.
    await expect(mount(device, await fx.dir('m'), { fsType: 'xfs' })).rejects.toThrow();

    await expect(makeFilesystem(device, 'xfs', [])).rejects.toMatchObject({ kind: 'failed-precondition' });
    await makeFilesystem(device, 'xfs', [], { replaceUnfinished: true });
    expect(await isUnfinishedFilesystem(device, 'xfs')).toBe(false);
    expect(await uuid(device)).not.toBe(first);
  });

  it('a finished xfs is never formatted over, even with replaceUnfinished', async () => {
    const { device } = await fx.loopDevice(320n * MiB);
    await makeFilesystem(device, 'xfs', []);
    const first = await uuid(device);
    await expect(makeFilesystem(device, 'xfs', [], { replaceUnfinished: true })).rejects.toMatchObject({ kind: 'failed-precondition' });
    expect(await uuid(device)).toBe(first);
  });

  it('an ext4 is never taken for unfinished', async () => {
    const { device } = await fx.loopDevice(64n * MiB);
    await makeFilesystem(device, 'ext4', []);
    expect(await isUnfinishedFilesystem(device, 'ext4')).toBe(false);
    await expect(makeFilesystem(device, 'ext4', [], { replaceUnfinished: true })).rejects.toMatchObject({ kind: 'failed-precondition' });
  });
});

describe('an offline ext4 grow cut short', () => {
  async function ext4WithData(): Promise<{ loop: LoopDevice; sum: string; blocks: bigint }> {
    const loop = await fx.loopDevice(1n * GiB);
    await makeFilesystem(loop.device, 'ext4', []);
    const dir = await fx.dir('data');
    await mount(loop.device, dir, { fsType: 'ext4' });
    await exec('dd', ['if=/dev/urandom', `of=${path.join(dir, 'data')}`, 'bs=1M', 'count=8', 'status=none'], { timeoutMs: 30_000 });
    const sum = (await exec('sha256sum', [path.join(dir, 'data')], { timeoutMs: 30_000 })).stdout.split(' ')[0] ?? '';
    await unmount(dir);
    return { loop, sum, blocks: (await filesystemSize(loop.device, 'ext4')).blockCount };
  }

  async function dataSum(device: string): Promise<string> {
    const dir = await fx.dir('check');
    await mount(device, dir, { fsType: 'ext4', options: ['ro'] });
    try {
      return (await exec('sha256sum', [path.join(dir, 'data')], { timeoutMs: 30_000 })).stdout.split(' ')[0] ?? '';
    } finally {
      await unmount(dir);
    }
  }

  it('with no undo file there is nothing to roll back', async () => {
    const { loop } = await ext4WithData();
    expect(await rollBackCutShortResize(loop.device, path.join(fx.root, 'undo', 'none.e2undo'))).toBe('no-undo-file');
  });

  it('a finished grow leaves no undo file behind', async () => {
    const { loop, sum, blocks } = await ext4WithData();
    await fx.grow(loop, 64n * GiB);
    const undoFile = path.join(fx.root, 'undo', 'v.e2undo');
    await growFilesystem(loop.device, undefined, 'ext4', { undoFile });
    await expect(access(undoFile)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await filesystemSize(loop.device, 'ext4')).blockCount).toBeGreaterThan(blocks);
    expect(await dataSum(loop.device)).toBe(sum);
  });

  it('an undo file of a grow that was cut short puts the filesystem back as it was, and the grow can run again', async () => {
    const { loop, sum, blocks } = await ext4WithData();
    await fx.grow(loop, 64n * GiB);
    const undoFile = path.join(await fx.dir('undo'), 'v.e2undo');
    await exec('e2fsck', ['-f', '-p', loop.device], { timeoutMs: 60_000 });
    // A grow "cut short": resize2fs ran with the undo file, and the undo file is still there as a crash would leave it.
    await exec('resize2fs', ['-z', undoFile, loop.device], { timeoutMs: 60_000 });
    expect(await rollBackCutShortResize(loop.device, undoFile)).toBe('rolled-back');
    await expect(access(undoFile)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await filesystemSize(loop.device, 'ext4')).blockCount).toBe(blocks);
    const check = await exec('e2fsck', ['-f', '-n', loop.device], { timeoutMs: 60_000, okExitCodes: [1, 4, 8] });
    expect(check.exitCode).toBe(0);
    expect(await dataSum(loop.device)).toBe(sum);

    await growFilesystem(loop.device, undefined, 'ext4', { undoFile });
    expect((await filesystemSize(loop.device, 'ext4')).blockCount).toBeGreaterThan(blocks);
    expect(await dataSum(loop.device)).toBe(sum);
  });

  it('an undo file that does not match the filesystem (used since) is dropped, and nothing is written back', async () => {
    const { loop, sum } = await ext4WithData();
    await fx.grow(loop, 64n * GiB);
    const undoFile = path.join(await fx.dir('undo'), 'v.e2undo');
    await exec('e2fsck', ['-f', '-p', loop.device], { timeoutMs: 60_000 });
    await exec('resize2fs', ['-z', undoFile, loop.device], { timeoutMs: 60_000 });
    const grown = (await filesystemSize(loop.device, 'ext4')).blockCount;
    // Mounted and written since: the undo file belongs to a state that is gone.
    const dir = await fx.dir('later');
    await mount(loop.device, dir, { fsType: 'ext4' });
    await writeFile(path.join(dir, 'later'), 'written after the grow');
    await unmount(dir);
    expect(await rollBackCutShortResize(loop.device, undoFile)).toBe('nothing-to-undo');
    await expect(access(undoFile)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await filesystemSize(loop.device, 'ext4')).blockCount).toBe(grown);
    expect(await dataSum(loop.device)).toBe(sum);
  });
});
