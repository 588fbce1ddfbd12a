import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMountTable } from '../../../src/node/mount-table.js';
import { devicesUnder, listLoopDevices } from '../../../src/pool/loop.js';

/**
 * `ferry demo` and `npm run bench:provision` as a user runs them: the built CLI and the built benchmark, as processes,
 * judged by their exit status and what they print (the benchmark's figures are not judged). Root: loop devices.
 */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = path.join(REPO_ROOT, 'dist', 'cli.js');
const BENCH = path.join(REPO_ROOT, 'dist', 'bench', 'provision.js');

interface Run {
  code: number | null;
  stdout: string;
  output: string;
}

/** Runs to completion. Past the timeout it gets SIGTERM (and tears down, as on Ctrl-C), then SIGKILL. */
function run(args: readonly string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    let timedOut = false;
    const term = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutMs);
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 60_000);
    child.once('close', (code) => {
      clearTimeout(term);
      clearTimeout(kill);
      if (timedOut) reject(new Error(`node ${args.join(' ')} did not finish within ${timeoutMs / 1000} s:\n${output}`));
      else resolve({ code, stdout, output });
    });
  });
}

async function leftoversUnder(dir: string): Promise<string[]> {
  const mounts = (await readMountTable()).filter((e) => e.mountPoint === dir || e.mountPoint.startsWith(`${dir}/`)).map((e) => e.mountPoint);
  const loops = devicesUnder(await listLoopDevices(), dir).map((d) => d.name);
  return [...mounts, ...loops];
}

beforeAll(() => {
  for (const file of [CLI, BENCH]) if (!existsSync(file)) throw new Error(`${file} does not exist: run "npm run build" first`);
});

describe('ferry demo', () => {
  it('carries the data from node01 to node02 and back from a snapshot, then leaves nothing behind', async () => {
    const result = await run([CLI, 'demo'], 300_000);
    if (result.code !== 0) throw new Error(`ferry demo exited ${result.code}:\n${result.output}`);

    const moved = /^\s+[\d.]+s\s+ok\s+checksum matches on node02: sha256 ([0-9a-f]{64})$/m.exec(result.stdout);
    const restored = /^\s+[\d.]+s\s+ok\s+checksum matches on the volume restored from the snapshot \(node01\): sha256 ([0-9a-f]{64})$/m.exec(result.stdout);
    expect(moved).not.toBeNull();
    expect(restored).not.toBeNull();
    expect(restored?.[1]).toBe(moved?.[1]);
    expect(result.stdout).not.toMatch(/\bFAIL\b/);
    expect(result.stdout).toMatch(/ok\s+check that no mount and no loop device is left: none under /);
    expect(result.stdout).toMatch(/^ferry demo: every check held/m);

    // The temporary data directory is gone, and nothing of it is mounted or attached.
    const dataDir = /prepare the data directory: (\S+)/.exec(result.stdout)?.[1];
    expect(dataDir).toBeDefined();
    expect(existsSync(dataDir ?? '/nonexistent')).toBe(false);
    expect(await leftoversUnder(dataDir ?? '/nonexistent')).toEqual([]);
  }, 360_000);

  it('fails with exit status 1, before starting anything, on a data directory that is not empty', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-demo-test-'));
    try {
      writeFileSync(path.join(dir, 'somebody-elses-file'), 'keep me');
      const result = await run([CLI, 'demo', '--data-dir', dir], 60_000);
      expect(result.code).toBe(1);
      expect(result.output).toContain('is not empty (somebody-elses-file)');
      expect(result.output).toMatch(/^ferry demo: FAILED/m);
      expect(result.output).not.toContain('start ferry pool');
      expect(existsSync(path.join(dir, 'somebody-elses-file'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bench:provision', () => {
  it('prints the percentile table of every RPC, the wall time, the throughput and the peak RSS', async () => {
    const result = await run([BENCH, '--volumes', '4', '--concurrency', '2'], 300_000);
    if (result.code !== 0) throw new Error(`bench:provision exited ${result.code}:\n${result.output}`);
    const out = result.stdout;
    expect(out).toMatch(/^RPC\s+calls\s+p50 ms\s+p95 ms\s+p99 ms\s+max ms$/m);
    for (const rpc of [
      'CreateVolume',
      'ControllerPublishVolume',
      'NodeStageVolume',
      'NodePublishVolume',
      'NodeUnpublishVolume',
      'NodeUnstageVolume',
      'ControllerUnpublishVolume',
      'DeleteVolume',
      'whole lifecycle',
    ]) {
      expect(out).toMatch(new RegExp(`^${rpc}\\s+4(\\s+\\d+\\.\\d){4}$`, 'm'));
    }
    expect(out).toMatch(/^volumes completed\s+4 of 4$/m);
    expect(out).toMatch(/^total wall time\s+\d+\.\d+ s$/m);
    expect(out).toMatch(/^throughput\s+\d+\.\d+ volumes\/s$/m);
    expect(out).toMatch(/^driver peak RSS\s+\d+\.\d MiB/m);

    const workDir = /work directory (\S+)/.exec(out)?.[1];
    expect(workDir).toBeDefined();
    expect(existsSync(workDir ?? '/nonexistent')).toBe(false);
    expect(await leftoversUnder(workDir ?? '/nonexistent')).toEqual([]);
  }, 360_000);
});
