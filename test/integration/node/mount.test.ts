import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdir, open, opendir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exec } from '../../../src/util/exec.js';
import { MiB } from '../../../src/util/size.js';
import { makeFilesystem } from '../../../src/node/filesystem.js';
import { findMount, isMountReadOnly, mountsOfSource } from '../../../src/node/mount-table.js';
import { bindMount, isMountPoint, mount, unmount } from '../../../src/node/mounter.js';
import { ensureDirectory, ensureFile, removeTarget } from '../../../src/node/paths.js';
import { cleanupAllLoopFixtures, LoopFixture, type LoopDevice } from '../../helpers/loop-device.js';

/** Stage (mount), publish (bind, read-only bind, raw block bind), unpublish and unstage on a real loop device. */
let fx: LoopFixture;
let loop: LoopDevice;
beforeEach(async () => {
  fx = await LoopFixture.create();
  loop = await fx.loopDevice(64n * MiB);
  await makeFilesystem(loop.device, 'ext4', []);
});
afterEach(() => fx.cleanup());
afterAll(cleanupAllLoopFixtures);

async function expectErrno(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code });
}

describe('mount, bind, unmount', () => {
  it('stages, publishes read-write and read-only, and unpublishes idempotently', async () => {
    const staging = fx.path('plugins', 'pv', 'globalmount');
    const target = fx.path('pods', 'uid', 'volumes', 'pvc', 'mount');
    const roTarget = fx.path('pods', 'uid2', 'volumes', 'pvc', 'mount');

    expect(await isMountPoint(staging)).toBe(false);
    await mount(loop.device, staging, { fsType: 'ext4', options: ['nodev'] });
    expect(await isMountPoint(staging)).toBe(true);
    expect((await stat(staging)).mode & 0o777).toBe(0o755); // the filesystem's own root, once mounted
    const staged = await findMount(staging);
    expect(staged).toMatchObject({ source: loop.device, fsType: 'ext4', root: '/', mountPoint: staging });
    expect(staged?.options).toContain('nodev');

    await writeFile(path.join(staging, 'hello.txt'), 'from staging');
    await bindMount(staging, target);
    expect(await readFile(path.join(target, 'hello.txt'), 'utf8')).toBe('from staging');
    expect(await isMountReadOnly(target)).toBe(false);

    await bindMount(staging, roTarget, { readOnly: true, options: ['nosuid'] });
    expect(await isMountReadOnly(roTarget)).toBe(true);
    expect((await findMount(roTarget))?.options).toEqual(expect.arrayContaining(['ro', 'nosuid']));
    await expectErrno(writeFile(path.join(roTarget, 'nope.txt'), 'x'), 'EROFS');
    // The read-only bind does not make the filesystem read-only: staging and the rw target still write.
    await writeFile(path.join(target, 'rw.txt'), 'ok');
    expect(await isMountReadOnly(staging)).toBe(false);

    const sources = await mountsOfSource(loop.device);
    expect(sources.map((e) => e.mountPoint).sort()).toEqual([staging, target, roTarget].sort());

    expect(await unmount(roTarget)).toBe(true);
    expect(await unmount(roTarget)).toBe(false);
    expect(await removeTarget(roTarget)).toBe('removed');
    expect(await unmount(roTarget)).toBe(false); // gone entirely
    expect(await removeTarget(roTarget)).toBe('absent');

    // Removal refuses while mounted and never deletes data.
    await expect(removeTarget(target)).rejects.toMatchObject({ kind: 'failed-precondition' });
    expect(await unmount(target, { lazy: true })).toBe(true);
    expect(await isMountPoint(target)).toBe(false);
    await removeTarget(target);

    expect(await unmount(staging)).toBe(true);
    expect(await unmount(staging)).toBe(false);
    expect(await mountsOfSource(loop.device)).toEqual([]);
    await writeFile(path.join(staging, 'left-behind'), 'someone else\'s');
    await expect(removeTarget(staging)).rejects.toThrow(/not empty/);
    expect(await readFile(path.join(staging, 'left-behind'), 'utf8')).toBe('someone else\'s');
  });

  it('unmount is fine with paths that are not mount points or do not exist', async () => {
    expect(await unmount(fx.path('does', 'not', 'exist'))).toBe(false);
    expect(await unmount(await fx.dir('plain-dir'))).toBe(false);
    await expect(unmount('relative/path')).rejects.toMatchObject({ kind: 'invalid-argument' });
  });

  it('finds a mount through a symlink, and by the path the table prints', async () => {
    const staging = fx.path('staging');
    await mount(loop.device, staging, { fsType: 'ext4' });
    const link = fx.path('link-to-staging');
    await symlink(staging, link);
    expect(await isMountPoint(link)).toBe(true);
    expect(await unmount(link)).toBe(true);
    expect(await isMountPoint(staging)).toBe(false);
  });

  it('maps failures: missing source is not-found, a failing mount is internal with stderr, secrets stay hidden', async () => {
    await expect(mount(fx.path('no-device'), fx.path('m1'), { fsType: 'ext4' })).rejects.toMatchObject({ kind: 'not-found' });
    await expect(bindMount(fx.path('no-dir'), fx.path('m2'))).rejects.toMatchObject({ kind: 'not-found' });

    const wrongType = mount(loop.device, fx.path('m3'), { fsType: 'xfs' });
    await expect(wrongType).rejects.toMatchObject({ kind: 'internal' });
    await expect(wrongType).rejects.toThrow(/wrong fs type|bad superblock|mount/);

    const leaky = mount('tmpfs', fx.path('m4'), { fsType: 'tmpfs', options: ['size=1m', 'nr_inodes=s3cr3t-value', 'password=hunter2'], secrets: ['s3cr3t-value'] });
    const err = await leaky.catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'internal' });
    expect(String((err as Error).message)).not.toMatch(/s3cr3t-value|hunter2/);
    expect(await isMountPoint(fx.path('m4'))).toBe(false);

    await expect(mount(loop.device, 'relative', { fsType: 'ext4' })).rejects.toMatchObject({ kind: 'invalid-argument' });
    await expect(mount('-oremount', fx.path('m5'))).rejects.toMatchObject({ kind: 'invalid-argument' });
    await expect(mount(loop.device, fx.path('m6'), { fsType: 'ext4,nonfs' })).rejects.toMatchObject({ kind: 'invalid-argument' });
  });

  it('handles a directory name with spaces and a tab (mountinfo escapes)', async () => {
    const spaced = await LoopFixture.create('ferry node spaced ');
    try {
      const dir = await spaced.dir('with space\tand tab', 'mount point');
      await mount(loop.device, dir, { fsType: 'ext4' });
      const entry = await findMount(dir);
      expect(entry?.mountPoint).toBe(dir);
      expect(await isMountPoint(dir)).toBe(true);
      expect((await mountsOfSource(loop.device)).map((e) => e.mountPoint)).toEqual([dir]);

      // A bind of a subdirectory shows that subdirectory as the root.
      await mkdir(path.join(dir, 'sub dir'));
      const bindTarget = await spaced.dir('bind target');
      await bindMount(path.join(dir, 'sub dir'), bindTarget);
      expect((await findMount(bindTarget))?.root).toBe('/sub dir');

      expect(await unmount(bindTarget)).toBe(true);
      expect(await unmount(dir)).toBe(true);
      expect(await isMountPoint(dir)).toBe(false);
    } finally {
      await spaced.cleanup();
    }
  });
});

describe('a busy target', () => {
  it('waits out a brief hold (a directory open for a moment) and then unmounts', async () => {
    const staging = fx.path('busy', 'globalmount');
    await mount(loop.device, staging, { fsType: 'ext4' });
    // An open directory handle is what a concurrent NodeGetVolumeStats holds while it reads the root: umount says EBUSY.
    const dir = await opendir(staging);
    const released = new Promise<void>((resolve) => setTimeout(() => void dir.close().then(resolve), 250));
    const started = Date.now();
    expect(await unmount(staging)).toBe(true);
    await released;
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(await isMountPoint(staging)).toBe(false);
  });

  it('answers failed-precondition, not internal, when the hold lasts, and leaves the mount as it was', async () => {
    const staging = fx.path('held', 'globalmount');
    await mount(loop.device, staging, { fsType: 'ext4' });
    const handle = await open(path.join(staging, 'open-file'), 'w');
    try {
      await expect(unmount(staging)).rejects.toMatchObject({ kind: 'failed-precondition', message: expect.stringMatching(/still in use/) });
      expect(await isMountPoint(staging)).toBe(true);
    } finally {
      await handle.close();
    }
    expect(await unmount(staging)).toBe(true);
  });
});

describe('raw block publish', () => {
  it('binds the device node onto a file it creates, and I/O goes through to the device', async () => {
    await ensureDirectory(fx.path('publish'));
    const target = fx.path('publish', 'pod-uid');
    await bindMount(loop.device, target);
    expect(await isMountPoint(target)).toBe(true);
    const st = await stat(target);
    expect(st.isBlockDevice()).toBe(true);
    expect(st.rdev).toBe((await stat(loop.device)).rdev);

    const data = randomBytes(4096);
    const writer = await open(target, 'r+');
    await writer.write(data, 0, data.length, 1 * Number(MiB));
    await writer.sync();
    await writer.close();
    const reader = await open(loop.device, 'r');
    const back = Buffer.alloc(4096);
    await reader.read(back, 0, back.length, 1 * Number(MiB));
    await reader.close();
    expect(back.equals(data)).toBe(true);

    // Idempotent creation of the target file keeps what is there (here: the bound device node).
    await ensureFile(target);
    expect(await unmount(target)).toBe(true);
    expect((await stat(target)).isFile()).toBe(true);
    expect(await removeTarget(target)).toBe('removed');
  });

  it('refuses to bind a block device onto a directory', async () => {
    const dir = await fx.dir('a-directory');
    await expect(bindMount(loop.device, dir)).rejects.toMatchObject({ kind: 'failed-precondition' });
    expect(await isMountPoint(dir)).toBe(false);
  });

  it('refuses a read-only bind of a device node, because the kernel would still let it be written', async () => {
    const target = fx.path('ro-block');
    await expect(bindMount(loop.device, target, { readOnly: true })).rejects.toMatchObject({ kind: 'invalid-argument' });
    expect(await isMountPoint(target)).toBe(false);

    // Why: a read-only bind of a device node shows 'ro' in the table, yet writes through it reach the device.
    await ensureFile(target);
    await exec('mount', ['--bind', '-o', 'ro', loop.device, target], { timeoutMs: 10_000 });
    expect(await isMountReadOnly(target)).toBe(true);
    const marker = Buffer.from('written through a read-only bind');
    const handle = await open(target, 'r+');
    await handle.write(marker, 0, marker.length, 0);
    await handle.sync();
    await handle.close();
    const back = Buffer.alloc(marker.length);
    const reader = await open(loop.device, 'r');
    await reader.read(back, 0, back.length, 0);
    await reader.close();
    expect(back.equals(marker)).toBe(true);
  });
});
