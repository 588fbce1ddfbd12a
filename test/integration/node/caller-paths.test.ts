import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bounded, checkCallerPath } from '../../../src/node/caller-paths.js';
import { DomainError } from '../../../src/errors.js';

/**
 * The node plugin's check of a caller's path, on the real filesystem: pseudo-filesystems are refused by name, through
 * a symlink and as a mount elsewhere (procfs mounted in a temporary directory, unmounted after); and a step that never
 * returns gives up at the call's signal.
 */
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ferry-caller-paths-'));
const signal = new AbortController().signal;

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function refusal(p: string): Promise<string> {
  try {
    await checkCallerPath(p, 'target_path', [tmp, '/var'], signal);
  } catch (err) {
    if (err instanceof DomainError && err.kind === 'invalid-argument') return err.message;
    throw err;
  }
  throw new Error(`${p} was accepted`);
}

test('an ordinary path below the root, existing or not, is accepted, one spelling per path', async () => {
  expect(await checkCallerPath(`${tmp}/pods/uid/volumes/x/mount`, 'target_path', [tmp], signal)).toBe(`${tmp}/pods/uid/volumes/x/mount`);
  expect(await checkCallerPath(`${tmp}//pods/x/`, 'target_path', [`${tmp}/`], signal)).toBe(`${tmp}/pods/x`);
});

test('refused: named under /proc, /sys or /dev, also after normalisation, or relative', async () => {
  expect(await refusal('/proc/self/fd/3/x')).toBe('target_path /proc/self/fd/3/x is under /proc: volumes are never staged or published there');
  expect(await refusal('/sys/fs/x')).toMatch(/is under \/sys/);
  expect(await refusal('/var/../dev/x')).toMatch(/is under \/dev/);
  expect(await refusal('relative/x')).toMatch(/must be an absolute path/);
});

test('refused: a symlink anywhere below the root, wherever it leads', async () => {
  const link = path.join(tmp, 'link');
  symlinkSync('/proc/self', link);
  expect(await refusal(`${link}/fd/3/stage`)).toBe(`target_path ${link}/fd/3/stage has a symlink at ${link}: volumes are never staged or published there`);
  mkdirSync(path.join(tmp, 'real'));
  symlinkSync(path.join(tmp, 'real'), path.join(tmp, 'to-real'));
  expect(await refusal(path.join(tmp, 'to-real'))).toMatch(/has a symlink at/);
  expect(await refusal(`${tmp}/to-real/x/y`)).toMatch(/has a symlink at/);
});

test('refused: outside the kubelet root, a `..` or `.` component, a component over NAME_MAX, a path over PATH_MAX', async () => {
  expect(await refusal('/etc/x')).toBe(`target_path /etc/x is not under the kubelet root (${tmp}, /var): volumes are never staged or published there`);
  expect(await refusal(`${tmp}/../etc`)).toMatch(/has a "\.\." component/);
  expect(await refusal(`${tmp}/a/../b`)).toMatch(/has a "\.\." component/);
  expect(await refusal(`${tmp}/./b`)).toMatch(/has a "\." component/);
  expect(await refusal(`${tmp}/${'n'.repeat(256)}`)).toMatch(/a component of 256 bytes, over NAME_MAX \(255\)/);
  expect(await refusal(`${tmp}/${Array.from({ length: 20 }, () => 'd'.repeat(250)).join('/')}`)).toMatch(/over PATH_MAX \(4095\)/);
  // A root given with a trailing slash, or a prefix that is not a whole component, does not widen what is allowed.
  expect(await refusal(`${tmp}-other/x`)).toMatch(/is not under the kubelet root/);
  expect(await refusal(tmp)).toMatch(/is the kubelet root itself/);
});

test('refused: procfs mounted somewhere else', async () => {
  const mnt = path.join(tmp, 'procfs');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'proc', 'proc', mnt]);
  try {
    expect(await refusal(`${mnt}/self/fd/3/stage`)).toMatch(/is on a proc filesystem/);
  } finally {
    execFileSync('umount', [mnt]);
  }
});

test('a step that never returns gives up when the call is cancelled', async () => {
  const abort = new AbortController();
  const never = new Promise<never>(() => undefined);
  const started = Date.now();
  setTimeout(() => abort.abort(new DomainError('deadline-exceeded', 'the call deadline passed')), 100);
  await expect(bounded(never, abort.signal, 'mkdir /x')).rejects.toMatchObject({ kind: 'deadline-exceeded' });
  expect(Date.now() - started).toBeLessThan(2_000);
  await expect(bounded(never, undefined, 'mkdir /x', 50)).rejects.toMatchObject({ kind: 'deadline-exceeded', message: 'mkdir /x: no answer within 50 ms' });
});
