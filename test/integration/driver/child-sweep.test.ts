import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CHILD_LEDGER_DIR } from '../../../src/util/child-ledger.js';
import { bootId, groupMembers, processInfo } from '../../../src/util/processes.js';
import { REPO_ROOT, startDriver, type DriverProcess } from '../../helpers/driver-process.js';

/**
 * Issue 17: what a killed Ferry leaves running is ended by the next one before it serves. A stand-in for "the plugin"
 * (a node process running util/exec from dist/, with the child ledger installed) starts a command that forks, and
 * is killed with SIGKILL: its direct child dies with it (parent-death signal), the fork does not, until a
 * `ferry driver --mode node` started on the same state directory sweeps the ledger. Records that do not name a
 * process of ours (a reused pid, another boot) kill nothing.
 */
const started: ChildProcess[] = [];
const drivers: DriverProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const d of drivers.splice(0)) await d.stop();
  for (const c of started.splice(0)) {
    if (c.pid !== undefined) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-child-sweep-'));
  dirs.push(dir);
  return dir;
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The stand-in plugin: runs `bash -c 'sleep 300 & …; wait'` through util/exec, with the ledger in `ledgerDir`. */
function standInPlugin(dir: string, ledgerDir: string): ChildProcess {
  const dist = path.join(REPO_ROOT, 'dist', 'util');
  const script = `
    const { exec } = await import(${JSON.stringify(path.join(dist, 'exec.js'))});
    const { ChildLedger, installChildLedger } = await import(${JSON.stringify(path.join(dist, 'child-ledger.js'))});
    installChildLedger(new ChildLedger(${JSON.stringify(ledgerDir)}));
    void exec('bash', ['-c', 'sleep 300 & echo "fork $!" > ${path.join(dir, 'fork.pid')}; wait'], { timeoutMs: 600000 });
    setInterval(() => undefined, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
  started.push(child);
  return child;
}

async function forkPid(dir: string): Promise<number> {
  const file = path.join(dir, 'fork.pid');
  let pid = 0;
  await until('the fork to start', () => {
    try {
      const text = readFileSync(file, 'utf8');
      pid = Number(/fork (\d+)/.exec(text)?.[1] ?? 0);
    } catch {
      pid = 0;
    }
    return pid > 0;
  });
  return pid;
}

function driverArgs(dir: string): Promise<string[]> {
  const config = path.join(dir, 'ferry.yaml');
  return writeFile(config, `node:\n  stateDir: ${dir}\n`).then(() => ['--mode', 'node', '--node-id', 'node01', '--config', config]);
}

describe('the child ledger', () => {
  it('a SIGKILLed plugin: its direct child dies with it, its fork is ended by the next driver before it serves', async () => {
    const dir = await stateDir();
    const ledgerDir = path.join(dir, CHILD_LEDGER_DIR);
    const plugin = standInPlugin(dir, ledgerDir);
    const fork = await forkPid(dir);
    const forkInfo = processInfo(fork);
    expect(forkInfo).toBeDefined();
    const bash = forkInfo?.pgrp ?? 0;
    // Written by the plugin right after the spawn returns, which the child may beat to its first line.
    await until('the ledger record', () => existsSync(path.join(ledgerDir, `${bash}.json`)));
    expect(await readdir(ledgerDir)).toEqual([`${bash}.json`]);

    plugin.kill('SIGKILL');
    await until('bash (the direct child) to die with the plugin', () => processInfo(bash) === undefined || processInfo(bash)?.state === 'Z');
    // What it forked is still there: exactly what the ledger is for.
    expect(processInfo(fork)?.state).not.toBe('Z');
    expect(groupMembers(bash).map((p) => p.pid)).toEqual([fork]);

    const driver = await startDriver(await driverArgs(dir));
    drivers.push(driver);
    // The sweep ran before "serving CSI", which startDriver waited for.
    expect(groupMembers(bash)).toEqual([]);
    expect(driver.output()).toContain('killing what a previous instance left running');
    expect(await readdir(ledgerDir)).toEqual([]);
  }, 60_000);

  it('a record naming a reused pid or another boot kills nothing', async () => {
    const dir = await stateDir();
    const ledgerDir = path.join(dir, CHILD_LEDGER_DIR);
    const bystander = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    started.push(bystander);
    const pid = bystander.pid ?? 0;
    const info = processInfo(pid);
    expect(info).toBeDefined();
    await rm(ledgerDir, { recursive: true, force: true });
    await mkdir(ledgerDir, { recursive: true });
    // Same pid, another start time: the pid was reused by a process that is not ours.
    await writeFile(path.join(ledgerDir, `${pid}.json`), JSON.stringify({ pgid: pid, startTime: String(BigInt(info?.startTime ?? '0') - 1n), bootId: bootId(), command: 'mkfs.ext4 /dev/loop9' }));
    const driver = await startDriver(await driverArgs(dir));
    drivers.push(driver);
    expect(processInfo(pid)?.startTime).toBe(info?.startTime);
    await driver.stop();
    drivers.length = 0;

    // The right start time, but written in another boot.
    await writeFile(path.join(ledgerDir, `${pid}.json`), JSON.stringify({ pgid: pid, startTime: info?.startTime, bootId: 'another-boot', command: 'mkfs.ext4 /dev/loop9' }));
    drivers.push(await startDriver(await driverArgs(dir)));
    expect(processInfo(pid)?.startTime).toBe(info?.startTime);
    expect(await readdir(ledgerDir)).toEqual([]);
  }, 60_000);
});
