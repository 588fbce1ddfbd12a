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
    await checkCallerPath(p, 'target_path', signal);
  } catch (err) {
    if (err instanceof DomainError && err.kind === 'invalid-argument') return err.message;
    throw err;
  }
  throw new Error(`${p} was accepted`);
}

test('an ordinary path, existing or not, is accepted as given', async () => {
  expect(await checkCallerPath(`${tmp}/pods/uid/volumes/x/mount`, 'target_path', signal)).toBe(`${tmp}/pods/uid/volumes/x/mount`);
  expect(await checkCallerPath(tmp, 'target_path', signal)).toBe(tmp);
});

test('refused: named under /proc, /sys or /dev, also after normalisation, or relative', async () => {
  expect(await refusal('/proc/self/fd/3/x')).toBe('target_path /proc/self/fd/3/x is under /proc: volumes are never staged or published there');
  expect(await refusal('/sys/fs/x')).toMatch(/is under \/sys/);
  expect(await refusal('/var/../dev/x')).toMatch(/is under \/dev/);
  expect(await refusal('relative/x')).toMatch(/must be an absolute path/);
});

test('refused: a symlink on the way that leads into /proc', async () => {
  const link = path.join(tmp, 'link');
  symlinkSync('/proc/self', link);
  expect(await refusal(`${link}/fd/3/stage`)).toMatch(/leads to \/proc\/\d+, under \/proc/);
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
