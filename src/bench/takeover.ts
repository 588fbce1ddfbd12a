import { Command, InvalidArgumentError, Option } from 'commander';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { exec } from '../util/exec.js';
import { detachLoopsUnder, unmountUnder } from '../harness/cleanup.js';
import { ferryCli } from '../harness/cli-entry.js';
import { call, type CsiClients } from '../harness/csi-client.js';
import { startDriver, writeDriverConfig, writeNodeConfig, type DriverHandle } from '../harness/driver.js';
import { startPool, type PoolHandle } from '../harness/pool.js';
import { preflightProblems } from '../harness/preflight.js';
import { Teardown } from '../harness/teardown.js';
import { GiB, mountCapability, storageClassParameters } from '../harness/volumes.js';
import { createWorkspace, removeWorkspace } from '../harness/workspace.js';

/**
 * `npm run bench:takeover`: the time from the moment a holder's SDC goes Disconnected to a successful
 * ControllerPublish of its volume on another node, with `preemption: safe`. Each round: a volume is published,
 * staged and written on node01; node01 "dies" (its filesystem frozen, so it does no more I/O, its plugin stopped);
 * the pool marks its SDC Disconnected; the controller is asked, like the attacher would, to publish on node02 until
 * it succeeds. Prints every round and the median; with `preemption: never` the same publish is refused for good.
 */
const HOSTS = [
  { name: 'node01', guid: '6C2B0E10-3A4D-4F5E-8A7B-9C0D1E2F3A01' },
  { name: 'node02', guid: '6C2B0E10-3A4D-4F5E-8A7B-9C0D1E2F3A02' },
] as const;

interface Flags {
  rounds: number;
  confirmSeconds: number;
  retryMs: number;
}

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

function number(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`a number from ${min} to ${max}`);
    return n;
  };
}

async function setState(pool: PoolHandle, guid: string, state: 'Connected' | 'Disconnected', password: string): Promise<void> {
  const res = await fetch(`${pool.url}/pool/hosts/${guid}/state`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${pool.username}:${password}`).toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ mdmConnectionState: state }),
  });
  if (!res.ok) throw new Error(`POST /pool/hosts/${guid}/state answered ${res.status}`);
}

interface Round {
  ms: number;
  attempts: number;
}

async function round(
  index: number,
  flags: Flags,
  preemption: 'safe' | 'never',
  env: { controller: CsiClients; node01: DriverHandle; pool: PoolHandle; password: string; dir: string },
): Promise<Round | undefined> {
  const capability = mountCapability('ext4');
  const { controller } = env.controller;
  const created = await call(controller, 'CreateVolume', {
    name: `takeover-${preemption}-${index}`,
    capacity_range: { required_bytes: String(16 * GiB) },
    volume_capabilities: [capability],
    parameters: { ...storageClassParameters('ext4'), preemption },
  });
  const volume = created.volume;
  if (!volume) throw new Error('CreateVolume answered no volume');
  const id = volume.volume_id;
  const context = volume.volume_context;
  const staging = path.join(env.dir, 'node01', `staging-${preemption}-${index}`);
  await call(controller, 'ControllerPublishVolume', { volume_id: id, node_id: HOSTS[0].guid, volume_capability: capability, volume_context: context });
  await call(env.node01.clients.node, 'NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: capability, volume_context: context });
  await writeFile(path.join(staging, 'appendonly.aof'), 'SET key value\n');
  await exec('sync', ['-f', path.join(staging, 'appendonly.aof')]);
  // node01 dies: no more I/O from it (frozen), and the storage system sees its client drop.
  await exec('fsfreeze', ['--freeze', staging]);
  let result: Round | undefined;
  try {
    const started = performance.now();
    await setState(env.pool, HOSTS[0].guid, 'Disconnected', env.password);
    const deadline = started + 60_000;
    let attempts = 0;
    for (;;) {
      attempts += 1;
      try {
        await call(controller, 'ControllerPublishVolume', { volume_id: id, node_id: HOSTS[1].guid, volume_capability: capability, volume_context: context });
        result = { ms: performance.now() - started, attempts };
        break;
      } catch (err) {
        if (preemption === 'never' || performance.now() > deadline) {
          out(`  round ${index} (${preemption}): refused after ${attempts} attempt(s): ${err instanceof Error ? err.message : String(err)}`);
          break;
        }
        await new Promise((r) => setTimeout(r, flags.retryMs));
      }
    }
  } finally {
    // Each step on its own: one that fails must not leave the next undone (a frozen filesystem never unmounts).
    const steps: (() => Promise<unknown>)[] = [
      () => exec('fsfreeze', ['--unfreeze', staging]),
      () => setState(env.pool, HOSTS[0].guid, 'Connected', env.password),
      () => call(env.node01.clients.node, 'NodeUnstageVolume', { volume_id: id, staging_target_path: staging }),
      ...HOSTS.map((host) => () => call(controller, 'ControllerUnpublishVolume', { volume_id: id, node_id: host.guid })),
      () => call(controller, 'DeleteVolume', { volume_id: id }),
    ];
    for (const step of steps) await step().catch((err: unknown) => out(`  clean-up: ${err instanceof Error ? err.message : String(err)}`));
  }
  return result;
}

async function main(flags: Flags): Promise<boolean> {
  const problems = await preflightProblems('bench:takeover', { tls: false, fsType: 'ext4' });
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`bench:takeover: ${p}\n`);
    return false;
  }
  const cli = ferryCli();
  const teardown = new Teardown();
  let ok = true;
  try {
    const ws = await createWorkspace(undefined, 'ferry-takeover-');
    teardown.push('remove the work directory', () => removeWorkspace(ws, !ok));
    teardown.push('check that nothing is left', async () => {
      const left = [...(await unmountUnder(ws.dir)), ...(await detachLoopsUnder(ws.dir))];
      if (left.length > 0) throw new Error(`left behind (now removed): ${left.join(', ')}`);
    });
    const pool = await startPool({ ...cli, dataDir: ws.path('pool'), passwordFile: ws.path('pool-password'), hosts: HOSTS, tls: false, capacity: '1Ti', logFile: ws.logFile('pool'), verbose: false });
    teardown.push('stop ferry pool', () => pool.stop());
    const controllerConfig = ws.path('controller.yaml');
    await writeDriverConfig(controllerConfig, pool, undefined, { preemptionConfirmSeconds: flags.confirmSeconds });
    const controller = await startDriver({ ...cli, name: 'controller', mode: 'controller', socket: ws.path('controller.sock'), configFile: controllerConfig, logFile: ws.logFile('controller'), verbose: false });
    teardown.push('stop the controller', () => controller.stop());
    await mkdir(ws.path('node01'), { recursive: true });
    const nodeConfig = ws.path('node01.yaml');
    await writeNodeConfig(nodeConfig, pool, { sdcGuid: HOSTS[0].guid, deviceDir: pool.byIdDir(HOSTS[0].guid), stateDir: ws.path('node01', 'state'), kubeletRoots: [ws.path('node01')] });
    const node01 = await startDriver({ ...cli, name: 'node01', mode: 'node', socket: ws.path('node01.sock'), configFile: nodeConfig, logFile: ws.logFile('node01'), verbose: false });
    teardown.push('stop node01', () => node01.stop());

    out(`bench:takeover: ${flags.rounds} rounds, confirmation window ${flags.confirmSeconds} s, the attacher's retry every ${flags.retryMs} ms`);
    out('  time from "node01\'s SDC Disconnected" to "ControllerPublish on node02 succeeded" (preemption: safe)');
    const env = { controller: controller.clients, node01, pool, password: await readFile(pool.passwordFile, 'utf8'), dir: ws.dir };
    const times: number[] = [];
    for (let i = 1; i <= flags.rounds; i += 1) {
      const r = await round(i, flags, 'safe', env);
      if (!r) {
        ok = false;
        continue;
      }
      times.push(r.ms);
      out(`  round ${i}: ${(r.ms / 1000).toFixed(2)} s (${r.attempts} publish attempt${r.attempts === 1 ? '' : 's'})`);
    }
    const sorted = [...times].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    if (median !== undefined) out(`  median ${(median / 1000).toFixed(2)} s, min ${((sorted[0] ?? 0) / 1000).toFixed(2)} s, max ${((sorted.at(-1) ?? 0) / 1000).toFixed(2)} s`);
    out('  the same with preemption: never (Dell\'s behaviour: the volume waits for a human or Kubernetes\' 6-minute force-detach):');
    const never = await round(0, flags, 'never', env);
    if (never) {
      out('  never: the publish unexpectedly succeeded');
      ok = false;
    }
  } catch (err) {
    ok = false;
    process.stderr.write(`bench:takeover: ${err instanceof Error ? err.message : String(err)}\n`);
  } finally {
    for (const entry of teardown.drain()) {
      try {
        await entry.run();
      } catch (err) {
        ok = false;
        process.stderr.write(`bench:takeover: ${entry.label}: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  }
  return ok;
}

const program = new Command('bench:takeover')
  .addOption(new Option('--rounds <n>', 'how many take-overs to time').argParser(number(1, 50)).default(5))
  .addOption(new Option('--confirm-seconds <s>', "the backend's preemptionConfirmSeconds").argParser(number(0, 60)).default(2))
  .addOption(new Option('--retry-ms <ms>', 'pause between publish attempts').argParser(number(10, 10_000)).default(500))
  .action(async (flags: Flags) => {
    process.exitCode = (await main(flags)) ? 0 : 1;
  });
await program.parseAsync(process.argv);
