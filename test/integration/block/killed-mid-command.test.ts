import { status } from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { call } from '../../helpers/csi-client.js';
import {
  useBlockCluster,
  GiB,
  MiB,
  filesystemUuid,
  mountCapability,
  sha256File,
  writeRandomFile,
  type BlockCluster,
  type NodeName,
} from '../../helpers/block-cluster.js';
import { exec } from '../../../src/util/exec.js';
import { groupMembers, processInfo, type ProcessInfo } from '../../../src/util/processes.js';
import path from 'node:path';

/**
 * Issue 17: the node plugin killed with SIGKILL while one of its commands is running (mkfs.ext4, mkfs.xfs, the
 * offline resize2fs of a grown ext4, the xfs_growfs of a grown xfs), at several offsets after the command started.
 * The plugin runs the real tools straight from PATH (no shims), exactly as in production, so the command is the
 * plugin's own child. At the offset the command is frozen (SIGSTOP), so it is caught mid-way on a fast machine too,
 * then the plugin is killed; a command still there 300 ms later is an orphan, and is let go on (SIGCONT) as it would
 * have. For every kill:
 *  - the command does not outlive the plugin (before this issue, it ran on as an orphan);
 *  - after the restart no process of its group is left;
 *  - the retried call succeeds; a blank volume ends with one complete filesystem, formatted again only when the
 *    killed mkfs had not finished one; a volume with data keeps it, its filesystem checks clean and fills the device.
 * Each tool must have been caught running at least once, or the test proves nothing and fails.
 */
let cluster: BlockCluster;
const NODE: NodeName = 'node01';

useBlockCluster('ferry-killed-mid-', (started) => (cluster = started), { shims: false });

interface KillRecord {
  tool: string;
  offsetMs: number;
  /** The command was still running when the plugin was killed. */
  during: boolean;
  /** How long the command went on after the plugin had died (0: gone within ORPHAN_GRACE_MS of it). */
  outlivedMs: number;
  /** Processes of its group alive after the restart. */
  straysAfterRestart: number;
  /** mkfs only: the killed mkfs had finished a filesystem, so the retry must not format again. */
  completeBeforeRetry?: boolean;
  /** The call had ended before the kill point, so nothing was killed. */
  callEnded?: boolean;
}

const records: KillRecord[] = [];

afterAll(() => {
  const lines = records.map(
    (r) =>
      `${r.tool.padEnd(11)} +${String(r.offsetMs).padStart(3)} ms  ${r.during ? 'running' : 'done   '} at the kill  outlived the plugin ${String(r.outlivedMs).padStart(4)} ms  strays after restart ${r.straysAfterRestart}` +
      (r.completeBeforeRetry === undefined ? '' : `  left a ${r.completeBeforeRetry ? 'complete' : 'partial'} filesystem`) +
      (r.callEnded ? '  (the call had ended: not killed)' : ''),
  );
  console.log(`killed mid-command (${records.length} kills):\n${lines.join('\n')}`);
});

function childrenOf(pid: number): ProcessInfo[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    return [];
  }
  return text
    .trim()
    .split(/\s+/)
    .filter((s) => s !== '')
    .map((s) => processInfo(Number(s)))
    .filter((p): p is ProcessInfo => p !== undefined);
}

/**
 * The plugin's `tool` child, once it shows. Undefined when the call `ended()` without our seeing one: a command of a
 * few milliseconds can come and go between two looks when this process is descheduled (a loaded machine).
 */
async function waitForChild(plugin: number, tool: string, ended: () => boolean, timeoutMs = 30_000): Promise<ProcessInfo | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = childrenOf(plugin).find((p) => p.comm === tool);
    if (found) return found;
    if (ended()) return undefined;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`the node plugin ran no ${tool} within ${timeoutMs} ms`);
}

function stopProcess(p: ProcessInfo): void {
  try {
    process.kill(p.pid, 'SIGSTOP');
  } catch {
    // Already gone.
  }
}

function continueProcess(p: ProcessInfo): void {
  if (!alive(p)) return;
  try {
    process.kill(p.pid, 'SIGCONT');
  } catch {
    // Already gone.
  }
}

function alive(p: ProcessInfo): boolean {
  const now = processInfo(p.pid);
  // A zombie has ended: only its exit status is left for a parent to collect.
  return now !== undefined && now.startTime === p.startTime && now.state !== 'Z';
}

/**
 * Runs `action` (a call to the node plugin), kills the plugin `offsetMs` after its `tool` child appeared, restarts
 * it, and returns what was seen; the call in flight must fail as UNAVAILABLE (the connection went with the plugin).
 */
async function killDuring(tool: string, offsetMs: number, action: () => Promise<unknown>, beforeRestart?: () => Promise<Partial<KillRecord>>): Promise<KillRecord> {
  const plugin = cluster.pid(NODE);
  if (plugin === undefined) throw new Error('no node plugin');
  let settled = false;
  const outcome = action().then(
    () => ((settled = true), undefined),
    (err: unknown) => ((settled = true), err),
  );
  const child = await waitForChild(plugin, tool, () => settled);
  if (child === undefined) {
    // The command and then the whole call were over before we saw it: nothing to kill, as below.
    expect(await outcome).toBeUndefined();
    const extra = beforeRestart ? await beforeRestart() : {};
    const record = { tool, offsetMs, during: false, outlivedMs: 0, straysAfterRestart: 0, callEnded: true, ...extra };
    records.push(record);
    return record;
  }
  if (offsetMs > 0) await new Promise((resolve) => setTimeout(resolve, offsetMs));
  // Frozen where it is, so that it is still mid-way however fast this machine runs it; a stopped process dies of
  // SIGKILL at once, and goes on where it was when continued. When the command is over already, the kill lands on
  // a later step of the call (the mount): recorded as such.
  stopProcess(child);
  const during = alive(child);
  if (settled) {
    continueProcess(child);
    // The whole call was over before the kill point (this run was quicker than the measured one): nothing to kill.
    expect(await outcome).toBeUndefined();
    const extra = beforeRestart ? await beforeRestart() : {};
    const record = { tool, offsetMs, during: false, outlivedMs: 0, straysAfterRestart: groupMembers(child.pid).length, callEnded: true, ...extra };
    records.push(record);
    return record;
  }
  process.kill(plugin, 'SIGKILL');
  expect(await cluster.waitForExit(NODE)).toBe('SIGKILL');
  const died = Date.now();
  // Still there a moment after its parent died: an orphan. Let it go on, as it would have without the freeze.
  await new Promise((resolve) => setTimeout(resolve, ORPHAN_GRACE_MS));
  const orphaned = alive(child);
  if (orphaned) continueProcess(child);
  while (alive(child) && Date.now() - died < 10_000) await new Promise((resolve) => setTimeout(resolve, 5));
  const outlivedMs = orphaned ? Date.now() - died : 0;
  const answer = await outcome;
  // The command was over and the call's answer already on its way when the kill landed (between the look at
  // `settled` and the kill): the call had ended, which only a command that was no longer running allows.
  const answered = answer === undefined && !during;
  if (!answered) expect(answer).toMatchObject({ code: status.UNAVAILABLE });
  const extra = beforeRestart ? await beforeRestart() : {};
  await cluster.restart(NODE);
  const straysAfterRestart = groupMembers(child.pid).length;
  const record = { tool, offsetMs, during, outlivedMs, straysAfterRestart, ...(answered ? { callEnded: true } : {}), ...extra };
  records.push(record);
  return record;
}

function mkfsRuns(): number {
  return cluster.logs(NODE).split('\n').filter((line) => line.includes('"msg":"making filesystem"')).length;
}

async function filesystemChecksClean(device: string, fsType: 'ext4' | 'xfs'): Promise<void> {
  const result = fsType === 'ext4' ? await exec('e2fsck', ['-f', '-n', device], { timeoutMs: 60_000, okExitCodes: [1, 4, 8] }) : await exec('xfs_repair', ['-n', device], { timeoutMs: 60_000, okExitCodes: [1] });
  expect({ device, exitCode: result.exitCode, output: result.exitCode === 0 ? '' : result.stdout + result.stderr }).toEqual({ device, exitCode: 0, output: '' });
}

/** Whether `device` holds a finished filesystem of `fsType` (blkid sees it and its checker passes). */
async function completeFilesystem(device: string, fsType: 'ext4' | 'xfs'): Promise<boolean> {
  // Killed after its mount: the kernel mounted it, so it is whole (and a checker cannot look at it mounted).
  const mounted = await exec('findmnt', ['-n', '-S', device], { timeoutMs: 10_000, okExitCodes: [1] });
  if (mounted.exitCode === 0) return true;
  const probe = await exec('blkid', ['-p', '-o', 'value', '-s', 'TYPE', device], { timeoutMs: 30_000, okExitCodes: [2] });
  if (probe.stdout.trim() !== fsType) return false;
  const check = fsType === 'ext4' ? await exec('e2fsck', ['-f', '-n', device], { timeoutMs: 60_000, okExitCodes: [1, 4, 8, 12] }) : await exec('xfs_repair', ['-n', device], { timeoutMs: 60_000, okExitCodes: [1, 2] });
  return check.exitCode === 0;
}

async function newVolume(label: string, fsType: 'ext4' | 'xfs'): Promise<string> {
  const volume = await cluster.createVolume(label, { capability: mountCapability(fsType), requiredBytes: 16n * GiB });
  await cluster.controllerPublish(volume.volume_id, NODE, mountCapability(fsType));
  return volume.volume_id;
}

/** How long `tool` runs (from the plugin's child appearing to its end) in an uninterrupted `action`. */
async function measureRun(tool: string, action: () => Promise<unknown>): Promise<number> {
  const plugin = cluster.pid(NODE);
  if (plugin === undefined) throw new Error('no node plugin');
  let settled = false;
  const done = action().finally(() => (settled = true));
  const child = await waitForChild(plugin, tool, () => settled);
  if (child === undefined) {
    // Over before we could see it: shorter than one look, so every kill point is "at once".
    await done;
    return 0;
  }
  const seen = Date.now();
  while (alive(child)) await new Promise((resolve) => setImmediate(resolve));
  const ms = Date.now() - seen;
  await done;
  return ms;
}

/** Kill points spread over a run of `runMs`: at once, and at a quarter, half and three quarters of the way. */
function offsetsWithin(runMs: number): number[] {
  return [0, Math.floor(runMs / 4), Math.floor(runMs / 2), Math.floor((runMs * 3) / 4)];
}

/** Each volume goes as soon as its case is done: four grown to 512 GiB would not fit the pool together. */
async function dropVolume(volumeId: string): Promise<void> {
  await cluster.controllerUnpublish(volumeId, NODE);
  await call(cluster.controller, 'DeleteVolume', { volume_id: volumeId });
}

/**
 * How long after the plugin's death a command still there counts as left running. With the parent-death signal the
 * kernel kills it as the plugin exits, before the test even sees the exit; without it the command stays (stopped
 * here) as long as anybody lets it.
 */
const ORPHAN_GRACE_MS = 300;


describe('node plugin killed while a command of its runs', () => {
  it.each(['ext4', 'xfs'] as const)('mkfs.%s: no orphan; the retried NodeStage ends with one complete filesystem', async (fsType) => {
    const tool = `mkfs.${fsType}`;
    const probeId = await newVolume(`mkfs-${fsType}-measure`, fsType);
    const runMs = await measureRun(tool, () => cluster.stage(NODE, probeId, `mkfs-${fsType}-measure`, mountCapability(fsType)));
    await cluster.unstage(NODE, probeId, `mkfs-${fsType}-measure`);
    await dropVolume(probeId);
    for (const offset of offsetsWithin(runMs)) {
      const label = `mkfs-${fsType}-${offset}`;
      const volumeId = await newVolume(label, fsType);
      const device = await cluster.device(NODE, volumeId);
      let uuidAfterKill: string | undefined;
      const kill = await killDuring(tool, offset, () => cluster.stage(NODE, volumeId, label, mountCapability(fsType)), async () => {
        const complete = await completeFilesystem(device, fsType);
        if (complete) uuidAfterKill = await filesystemUuid(device);
        return { completeBeforeRetry: complete };
      });
      expect(kill).toMatchObject({ straysAfterRestart: 0 });
      expect(kill.outlivedMs).toBe(0);

      const runsBefore = mkfsRuns();
      const stagingPath = await cluster.stage(NODE, volumeId, label, mountCapability(fsType));
      const uuid = await filesystemUuid(device);
      // A finished filesystem is never formatted again; an unfinished one is formatted once more, and only once.
      if (uuidAfterKill !== undefined) expect(uuid).toBe(uuidAfterKill);
      expect(mkfsRuns() - runsBefore).toBe(uuidAfterKill !== undefined ? 0 : 1);
      const sum = await writeRandomFile(path.join(stagingPath, 'data'), 4 * MiB);
      expect(await sha256File(path.join(stagingPath, 'data'))).toBe(sum);
      await cluster.unstage(NODE, volumeId, label);
      await filesystemChecksClean(device, fsType);
      await dropVolume(volumeId);
    }
    expect(records.filter((r) => r.tool === tool && r.during).length).toBeGreaterThan(0);
  }, 300_000);

  /** A volume with 32 MiB of data, unstaged, then grown at the controller: the next NodeStage grows its filesystem. */
  async function grownVolume(label: string, fsType: 'ext4' | 'xfs'): Promise<{ volumeId: string; stagingPath: string; sum: string }> {
    const volumeId = await newVolume(label, fsType);
    const stagingPath = await cluster.stage(NODE, volumeId, label, mountCapability(fsType));
    const sum = await writeRandomFile(path.join(stagingPath, 'data'), 32 * MiB);
    await cluster.unstage(NODE, volumeId, label);
    // Much bigger, so the grow takes long enough to be cut at several points.
    await call(cluster.controller, 'ControllerExpandVolume', { volume_id: volumeId, capacity_range: { required_bytes: String(512n * GiB) }, volume_capability: mountCapability(fsType) });
    return { volumeId, stagingPath, sum };
  }

  it.each([
    ['resize2fs', 'ext4'],
    ['xfs_growfs', 'xfs'],
  ] as const)('%s of a grown %s volume: no orphan; the data is intact and the retried NodeStage fills the device', async (tool, fsType) => {
    const probe = await grownVolume(`${tool}-measure`, fsType);
    const runMs = await measureRun(tool, () => cluster.stage(NODE, probe.volumeId, `${tool}-measure`, mountCapability(fsType)));
    await cluster.unstage(NODE, probe.volumeId, `${tool}-measure`);
    await dropVolume(probe.volumeId);
    for (const offset of offsetsWithin(runMs)) {
      const label = `${tool}-${offset}`;
      const { volumeId, stagingPath, sum } = await grownVolume(label, fsType);
      const device = await cluster.device(NODE, volumeId);

      const kill = await killDuring(tool, offset, () => cluster.stage(NODE, volumeId, label, mountCapability(fsType)));
      expect(kill).toMatchObject({ straysAfterRestart: 0 });
      expect(kill.outlivedMs).toBe(0);

      await cluster.stage(NODE, volumeId, label, mountCapability(fsType));
      expect(await sha256File(path.join(stagingPath, 'data'))).toBe(sum);
      const { stdout } = await exec('df', ['--output=size', '-B1', stagingPath], { timeoutMs: 10_000 });
      const fsBytes = BigInt(stdout.trim().split('\n').at(-1) ?? '0');
      // df leaves out metadata and the log: within 2 % of the device is "filled".
      expect(fsBytes).toBeGreaterThan((512n * GiB * 98n) / 100n);
      await cluster.unstage(NODE, volumeId, label);
      await filesystemChecksClean(device, fsType);
      await dropVolume(volumeId);
    }
    expect(records.filter((r) => r.tool === tool && r.during).length).toBeGreaterThan(0);
  }, 300_000);

  describe('a device another process holds open (a command a crash left stuck, or anybody else)', () => {
    function holdOpen(device: string): ChildProcess {
      const fd = openSync(device, 'r');
      try {
        return spawn('sleep', ['300'], { stdio: [fd, 'ignore', 'ignore'] });
      } finally {
        closeSync(fd);
      }
    }

    it('NodeStage waits for it to be let go, then formats once', async () => {
      const volumeId = await newVolume('held-then-free', 'ext4');
      const device = await cluster.device(NODE, volumeId);
      const holder = holdOpen(device);
      setTimeout(() => holder.kill('SIGKILL'), 2_000);
      const runsBefore = mkfsRuns();
      const started = Date.now();
      await cluster.stage(NODE, volumeId, 'held-then-free', mountCapability('ext4'));
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
      expect(mkfsRuns() - runsBefore).toBe(1);
      expect(cluster.logs(NODE)).toContain('device is held open by another process; waiting for it to let go');
    }, 60_000);

    it('NodeStage answers ABORTED while it stays held, and nothing touches the device', async () => {
      const volumeId = await newVolume('held', 'ext4');
      const device = await cluster.device(NODE, volumeId);
      const holder = holdOpen(device);
      try {
        const runsBefore = mkfsRuns();
        const err = await cluster.stage(NODE, volumeId, 'held', mountCapability('ext4'), 30_000).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toMatchObject({ code: status.ABORTED });
        expect(String((err as Error).message)).toMatch(/still in use by sleep \(pid \d+\)/);
        expect(mkfsRuns() - runsBefore).toBe(0);
        const probe = await exec('blkid', ['-p', device], { timeoutMs: 10_000, okExitCodes: [2] });
        expect(probe.exitCode).toBe(2);
      } finally {
        holder.kill('SIGKILL');
      }
      await cluster.stage(NODE, volumeId, 'held', mountCapability('ext4'));
    }, 60_000);
  });
});
