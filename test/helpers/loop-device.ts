import { mkdir, mkdtemp, readFile, realpath, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exec } from '../../src/util/exec.js';

/**
 * Sparse files behind loop devices in a private temporary directory, with cleanup that holds even when a test fails
 * half-way: every mount under the directory (and every mount registered with `trackMount`) is unmounted newest
 * first, every loop device whose backing file lies in the directory is detached, then the directory is removed.
 *
 *   let fx: LoopFixture;
 *   beforeEach(async () => { fx = await LoopFixture.create(); });
 *   afterEach(() => fx.cleanup());
 *   afterAll(cleanupAllLoopFixtures);          // safety net for a beforeEach that threw half-way
 *
 *   const loop = await fx.loopDevice(512n * MiB);      // { device: '/dev/loopN', file }
 *   const dir = await fx.dir('staging');                // created inside the fixture's directory
 *   await fx.grow(loop, 1024n * MiB);                   // truncate + losetup -c
 *
 * Loop devices are detached by backing file, never by name alone: a name we detached before may already belong to
 * another test process by the time cleanup runs.
 */
export interface LoopDevice {
  /** /dev/loopN */
  device: string;
  /** The sparse backing file. */
  file: string;
}

const TIMEOUT_MS = 30_000;
const live = new Set<LoopFixture>();

interface LosetupJson {
  loopdevices?: { name?: unknown; 'back-file'?: unknown }[];
}

interface MountLine {
  id: number;
  parentId: number;
  mountPoint: string;
}

function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Deliberately independent of src/node/mount-table.ts: the fixture must clean up even if that parser is broken. */
async function mountLines(): Promise<MountLine[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const f = l.split(' ');
      return { id: Number(f[0]), parentId: Number(f[1]), mountPoint: unescapeOctal(f[4] ?? '') };
    });
}

function isUnder(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir + path.sep);
}

export class LoopFixture {
  private readonly loops: LoopDevice[] = [];
  private readonly extraMounts: string[] = [];
  private cleaned = false;

  private constructor(readonly root: string) {}

  /** A fresh fixture in its own temporary directory (`prefix` may contain spaces, to exercise escaping). */
  static async create(prefix = 'ferry-node-'): Promise<LoopFixture> {
    // realpath: /tmp may be a symlink, and the mount table and losetup both print resolved paths.
    const root = await realpath(await mkdtemp(path.join(os.tmpdir(), prefix)));
    const fixture = new LoopFixture(root);
    live.add(fixture);
    return fixture;
  }

  /** A directory inside the fixture (created, with parents). */
  async dir(...parts: string[]): Promise<string> {
    const p = path.join(this.root, ...parts);
    await mkdir(p, { recursive: true });
    return p;
  }

  /** A path inside the fixture, not created. */
  path(...parts: string[]): string {
    return path.join(this.root, ...parts);
  }

  /** A sparse file of `size` bytes attached to a free loop device. */
  async loopDevice(size: bigint | number, name = `disk${this.loops.length}.img`): Promise<LoopDevice> {
    const file = path.join(this.root, name);
    await rm(file, { force: true });
    await writeFile(file, '');
    await truncate(file, Number(size));
    const { stdout } = await exec('losetup', ['--find', '--show', file], { timeoutMs: TIMEOUT_MS });
    const device = stdout.trim();
    if (!device.startsWith('/dev/loop')) throw new Error(`losetup --find --show printed "${device}"`);
    const loop = { device, file };
    this.loops.push(loop);
    return loop;
  }

  /** Grows the backing file and tells the loop device (`losetup -c`), as a storage-side volume expansion would. */
  async grow(loop: LoopDevice, size: bigint | number): Promise<void> {
    await truncate(loop.file, Number(size));
    await exec('losetup', ['--set-capacity', loop.device], { timeoutMs: TIMEOUT_MS });
  }

  /** Registers a mount made outside the fixture's directory, to be unmounted by cleanup. */
  trackMount(mountPoint: string): void {
    this.extraMounts.push(mountPoint);
  }

  /** Undoes everything; safe to call twice, and it never throws before it has tried every step. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    const problems: string[] = [];

    // Leaves of the mount tree first (a mount nothing else of ours sits on), round after round, which undoes them
    // in reverse order of mounting. Mount ids cannot order them: the kernel reuses the lowest free id.
    for (let round = 0; round < 20; round++) {
      const ours = (await mountLines()).filter((m) => isUnder(m.mountPoint, this.root) || this.extraMounts.includes(m.mountPoint));
      if (ours.length === 0) break;
      const parents = new Set(ours.map((m) => m.parentId));
      const leaves = ours.filter((m) => !parents.has(m.id));
      for (const m of leaves) {
        // A failure here may only mean another mount hides this one for now; what is left at the end is reported.
        await exec('umount', ['--', m.mountPoint], { timeoutMs: TIMEOUT_MS }).catch(() =>
          exec('umount', ['-l', '--', m.mountPoint], { timeoutMs: TIMEOUT_MS }).catch(() => undefined),
        );
      }
    }

    try {
      const { stdout } = await exec('losetup', ['--json', '--list'], { timeoutMs: TIMEOUT_MS });
      const parsed = (stdout.trim() === '' ? {} : JSON.parse(stdout)) as LosetupJson;
      for (const entry of parsed.loopdevices ?? []) {
        if (typeof entry.name !== 'string' || typeof entry['back-file'] !== 'string') continue;
        const backFile = entry['back-file'].replace(/ \(deleted\)$/, '');
        if (!isUnder(backFile, this.root)) continue;
        await exec('losetup', ['--detach', entry.name], { timeoutMs: TIMEOUT_MS }).catch((err: unknown) => {
          problems.push(`losetup -d ${entry.name}: ${String(err)}`);
        });
      }
    } catch (err) {
      problems.push(`listing loop devices: ${String(err)}`);
    }

    const remaining = await mountLines();
    const leftTracked = remaining.filter((m) => this.extraMounts.includes(m.mountPoint));
    if (leftTracked.length > 0) problems.push(`still mounted: ${leftTracked.map((m) => m.mountPoint).join(', ')}`);
    // Removing a directory with something still mounted below would delete the mounted filesystem's files.
    const stillMounted = remaining.filter((m) => isUnder(m.mountPoint, this.root));
    if (stillMounted.length === 0) {
      await rm(this.root, { recursive: true, force: true }).catch((err: unknown) => problems.push(`rm ${this.root}: ${String(err)}`));
    } else {
      problems.push(`left ${this.root} in place: still mounted: ${stillMounted.map((m) => m.mountPoint).join(', ')}`);
    }

    this.cleaned = true;
    live.delete(this);
    if (problems.length > 0) throw new Error(`loop fixture cleanup incomplete:\n${problems.join('\n')}`);
  }
}

/** Cleans every fixture this process created and has not cleaned yet. */
export async function cleanupAllLoopFixtures(): Promise<void> {
  const errors: string[] = [];
  for (const fixture of [...live]) {
    await fixture.cleanup().catch((err: unknown) => errors.push(String(err)));
  }
  if (errors.length > 0) throw new Error(errors.join('\n'));
}
