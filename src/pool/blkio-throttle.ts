import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import type { Logger } from '../util/log.js';

/**
 * The pool's QoS enforcement: the kernel's cgroup v1 blkio throttling (blkio.throttle.{read,write}_{bps,iops}_device)
 * on the loop device a mapping is served by, so a limit set with setMappedSdcLimits really holds for I/O that reaches
 * the device (direct I/O, and buffered writes as the flusher writes them back).
 *
 * cgroup v1 throttling is flat: a rule binds the tasks of the one cgroup it is written in, never those of its
 * children (tested on this kernel: a rule in the root cgroup leaves a process in a child cgroup at full speed). So
 * every rule is written into every cgroup of the blkio hierarchy, and cgroups made later (a pod started after the
 * mapping) get the rules at the next sweep. Each cgroup then has the limit to itself: two cgroups writing at once get
 * it twice over, which a volume used by one pod at a time does not see. Without a cgroup v1 blkio hierarchy (a pure
 * cgroup v2 host) limits are recorded and reported but not enforced, and the pool says so once.
 */
export interface DeviceLimits {
  /** Bytes per second, each direction; 0 = unlimited. */
  bps: bigint;
  /** Operations per second, each direction; 0 = unlimited. */
  iops: bigint;
}

const FILES = {
  bps: ['blkio.throttle.read_bps_device', 'blkio.throttle.write_bps_device'],
  iops: ['blkio.throttle.read_iops_device', 'blkio.throttle.write_iops_device'],
} as const;

/** How often cgroups made since the last rule change are given the rules. */
const SWEEP_MS = 500;

/** The mount point of the cgroup v1 hierarchy that has the blkio controller, from /proc/self/mountinfo. */
export async function findBlkioMount(): Promise<string | undefined> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [before, after] = line.split(' - ');
    if (before === undefined || after === undefined) continue;
    const [fsType, , superOptions = ''] = after.split(' ');
    if (fsType === 'cgroup' && superOptions.split(',').includes('blkio')) return before.split(' ')[4];
  }
  return undefined;
}

async function cgroupDirs(root: string): Promise<string[]> {
  const dirs = [root];
  for (let i = 0; i < dirs.length; i += 1) {
    const dir = dirs[i] as string;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) if (entry.isDirectory()) dirs.push(path.join(dir, entry.name));
  }
  return dirs;
}

/** "7:3" for /dev/loop3, as the kernel numbers it. */
async function deviceNumber(device: string): Promise<string> {
  return (await readFile(`/sys/block/${path.basename(device)}/dev`, 'utf8')).trim();
}

export class BlkioThrottle {
  /** Rules in force, by device number. */
  private readonly rules = new Map<string, DeviceLimits>();
  /** Cgroups that have every rule in `rules`. */
  private covered = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();

  private constructor(
    private readonly root: string | undefined,
    private readonly logger: Logger,
  ) {}

  static async open(logger: Logger): Promise<BlkioThrottle> {
    const root = await findBlkioMount();
    if (root === undefined) logger.warn('no cgroup v1 blkio hierarchy on this host: mapping limits (setMappedSdcLimits) are recorded but not enforced');
    return new BlkioThrottle(root, logger);
  }

  get enforcing(): boolean {
    return this.root !== undefined;
  }

  /** Puts `limits` on `device` (a loop device) in every cgroup; all zero removes its rules. */
  async set(device: string, limits: DeviceLimits): Promise<void> {
    if (this.root === undefined) return;
    const number = await deviceNumber(device);
    const before = this.rules.get(number) ?? { bps: 0n, iops: 0n };
    if (before.bps === limits.bps && before.iops === limits.iops) return;
    if (limits.bps === 0n && limits.iops === 0n) this.rules.delete(number);
    else this.rules.set(number, limits);
    await this.serial(async () => {
      const dirs = await cgroupDirs(this.root as string);
      for (const dir of dirs) await this.write(dir, number, limits);
      this.covered = new Set(dirs);
    });
    this.logger.info({ device, number, bps: String(limits.bps), iops: String(limits.iops) }, 'blkio throttle set');
    this.schedule();
  }

  /** Removes the device's rules (before the device is detached: the kernel keeps rules for a reused loop number). */
  async clear(device: string): Promise<void> {
    await this.set(device, { bps: 0n, iops: 0n });
  }

  /** Removes every rule the pool set; the state keeps the limits, and the next start puts them back. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const numbers = [...this.rules.keys()];
    this.rules.clear();
    if (this.root === undefined || numbers.length === 0) return;
    await this.serial(async () => {
      for (const dir of await cgroupDirs(this.root as string)) for (const number of numbers) await this.write(dir, number, { bps: 0n, iops: 0n });
    });
  }

  private schedule(): void {
    if (this.rules.size === 0) {
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    if (this.timer) return;
    this.timer = setInterval(() => void this.serial(() => this.sweep()), SWEEP_MS);
    this.timer.unref();
  }

  /** Gives cgroups made since the last pass every rule. */
  private async sweep(): Promise<void> {
    if (this.root === undefined || this.rules.size === 0) return;
    const dirs = await cgroupDirs(this.root);
    for (const dir of dirs) {
      if (this.covered.has(dir)) continue;
      for (const [number, limits] of this.rules) await this.write(dir, number, limits);
    }
    this.covered = new Set(dirs);
  }

  private serial(task: () => Promise<void>): Promise<void> {
    const next = this.sweeping.then(task, task);
    this.sweeping = next.catch(() => undefined);
    return next;
  }

  private async write(dir: string, number: string, limits: DeviceLimits): Promise<void> {
    for (const [kind, files] of Object.entries(FILES) as [keyof DeviceLimits, readonly string[]][]) {
      for (const file of files) {
        try {
          // "MAJ:MIN 0" removes the rule; writing it where there is none is harmless.
          await writeFile(path.join(dir, file), `${number} ${limits[kind]}\n`);
        } catch (err) {
          // A cgroup removed between the listing and the write has nothing left to throttle.
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT' && code !== 'ENODEV') this.logger.warn({ dir, file, number, err: errorMessage(err) }, 'cannot write a blkio throttle rule');
        }
      }
    }
  }
}
