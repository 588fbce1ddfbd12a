import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { detachLoopsUnder, unmountUnder } from '../harness/cleanup.js';
import { ferryCli } from '../harness/cli-entry.js';
import { call, type CsiClients } from '../harness/csi-client.js';
import { startDriver, writeDriverConfig } from '../harness/driver.js';
import { startPool } from '../harness/pool.js';
import { preflightProblems } from '../harness/preflight.js';
import { Teardown } from '../harness/teardown.js';
import { GiB, mountCapability, storageClassParameters } from '../harness/volumes.js';
import { createWorkspace, removeWorkspace } from '../harness/workspace.js';
import { floorContext, floorLifecycle } from './floor.js';
import { cpuSeconds, latencyTable, overheadTable, RssSampler, statusBytes } from './stats.js';

/**
 * `npm run bench:provision`: the whole life of N volumes, C at a time, through one `ferry driver --mode all` on a fresh
 * `ferry pool`: CreateVolume → ControllerPublish → NodeStage → NodePublish → NodeUnpublish → NodeUnstage →
 * ControllerUnpublish → DeleteVolume, over real gRPC, with real mkfs, mounts and loop devices. Prints the latency
 * percentiles of each RPC, the wall time, the throughput and the driver's peak memory. A benchmark prints figures; it
 * judges nothing (exit 1 only when an RPC failed or the clean-up found something left behind).
 *
 * In the same run, the floor (floor.ts): the same volumes' gateway requests and commands made directly, with no
 * driver, at the same concurrency; the driver's own cost per RPC is its latency less the floor's.
 */
const RPCS = [
  'CreateVolume',
  'ControllerPublishVolume',
  'NodeStageVolume',
  'NodePublishVolume',
  'NodeUnpublishVolume',
  'NodeUnstageVolume',
  'ControllerUnpublishVolume',
  'DeleteVolume',
] as const;
type Rpc = (typeof RPCS)[number];

const HOST = { name: 'node01', guid: '0BE4C4A1-5E7D-4F3A-9C21-6D8E2B7F1A90' };

interface BenchFlags {
  volumes: number;
  concurrency: number;
  fsType: string;
  sizeGib: number;
  plainHttp?: boolean;
  verbose?: boolean;
  dataDir?: string;
  driverNodeFlags?: string;
  overheadVolumes: number;
}

function positiveInt(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`a whole number from 1 to ${max}`);
    return n;
  };
}

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '?' : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function machine(): Promise<string> {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const meminfo = await readFile('/proc/meminfo', 'utf8').catch(() => '');
  const total = /^MemTotal:\s+(\d+) kB$/m.exec(meminfo)?.[1];
  const memory = total === undefined ? `${(os.totalmem() / GiB).toFixed(1)} GiB` : `${(Number(total) / 1024 / 1024).toFixed(1)} GiB`;
  return `${os.availableParallelism()} CPUs (${cpu}), ${memory} memory, Linux ${os.release()}, Node ${process.version}`;
}

interface Lifecycle {
  clients: CsiClients;
  nodeId: string;
  dir: string;
  fsType: string;
  sizeBytes: number;
}

/** One volume's whole life; each RPC's duration goes to `record`. Undoes what it did when a step fails. */
async function lifecycle(index: number, ctx: Lifecycle, record: (rpc: Rpc, ms: number) => void): Promise<void> {
  const { controller, node } = ctx.clients;
  const name = `bench-${String(index).padStart(5, '0')}`;
  const capability = mountCapability(ctx.fsType);
  const stagingPath = path.join(ctx.dir, 'staging', name);
  const targetPath = path.join(ctx.dir, 'pods', name, 'volume');
  const timed = async <T>(rpc: Rpc, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const value = await run();
    record(rpc, performance.now() - started);
    return value;
  };

  let volumeId: string | undefined;
  try {
    const created = await timed('CreateVolume', () =>
      call(controller, 'CreateVolume', {
        name,
        capacity_range: { required_bytes: String(ctx.sizeBytes) },
        volume_capabilities: [capability],
        parameters: storageClassParameters(ctx.fsType),
      }),
    );
    volumeId = created.volume?.volume_id;
    if (!volumeId) throw new Error(`CreateVolume ${name} answered no volume id`);
    const id = volumeId;
    const context = created.volume?.volume_context ?? {};
    const published = await timed('ControllerPublishVolume', () =>
      call(controller, 'ControllerPublishVolume', { volume_id: id, node_id: ctx.nodeId, volume_capability: capability, readonly: false, volume_context: context }),
    );
    const common = { volume_id: id, publish_context: published.publish_context, volume_capability: capability, volume_context: context };
    await timed('NodeStageVolume', () => call(node, 'NodeStageVolume', { ...common, staging_target_path: stagingPath }));
    await timed('NodePublishVolume', () => call(node, 'NodePublishVolume', { ...common, staging_target_path: stagingPath, target_path: targetPath, readonly: false }));
    await timed('NodeUnpublishVolume', () => call(node, 'NodeUnpublishVolume', { volume_id: id, target_path: targetPath }));
    await timed('NodeUnstageVolume', () => call(node, 'NodeUnstageVolume', { volume_id: id, staging_target_path: stagingPath }));
    await timed('ControllerUnpublishVolume', () => call(controller, 'ControllerUnpublishVolume', { volume_id: id, node_id: ctx.nodeId }));
    await timed('DeleteVolume', () => call(controller, 'DeleteVolume', { volume_id: id }));
  } catch (err) {
    // Best effort, every step idempotent: leave nothing of this volume behind for the next ones.
    const id = volumeId;
    if (id !== undefined) {
      await call(node, 'NodeUnpublishVolume', { volume_id: id, target_path: targetPath }).catch(() => undefined);
      await call(node, 'NodeUnstageVolume', { volume_id: id, staging_target_path: stagingPath }).catch(() => undefined);
      await call(controller, 'ControllerUnpublishVolume', { volume_id: id, node_id: ctx.nodeId }).catch(() => undefined);
      await call(controller, 'DeleteVolume', { volume_id: id }).catch(() => undefined);
    }
    throw new Error(`${name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

async function bench(flags: BenchFlags): Promise<boolean> {
  const tls = flags.plainHttp !== true;
  const problems = await preflightProblems('bench:provision', { tls, fsType: flags.fsType });
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`bench:provision: ${p}\n`);
    return false;
  }
  const cli = ferryCli();
  const teardown = new Teardown();
  const failures: string[] = [];
  const interrupt = new AbortController();
  const onSignal = (): void => {
    if (interrupt.signal.aborted) process.exit(130);
    process.stderr.write('bench:provision: interrupted: no new volumes; finishing those in flight, then cleaning up\n');
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  out(`bench:provision: ${flags.volumes} volumes, ${flags.concurrency} at a time, ${flags.sizeGib} GiB ${flags.fsType} each`);
  out(`  one ferry pool (${tls ? 'HTTPS' : 'plain HTTP'}) and one ferry driver --mode all, on ${await machine()}`);
  try {
    const ws = await createWorkspace(flags.dataDir, 'ferry-bench-');
    teardown.push('remove the work directory', () => removeWorkspace(ws, !ws.temporary || failures.length > 0));
    teardown.push('check that nothing is left', async () => {
      const left = [...(await unmountUnder(ws.dir)).map((m) => `mount ${m}`), ...(await detachLoopsUnder(ws.dir)).map((l) => `loop device ${l}`)];
      if (left.length > 0) throw new Error(`left behind (now removed): ${left.join(', ')}`);
    });
    out(`  work directory ${ws.dir} (child logs in ${ws.logsDir})`);

    const pool = await startPool({
      ...cli,
      dataDir: ws.path('pool'),
      passwordFile: ws.path('pool-password'),
      hosts: [HOST],
      tls,
      capacity: '64Ti',
      logFile: ws.logFile('pool'),
      verbose: flags.verbose === true,
    });
    teardown.push('stop ferry pool', () => pool.stop());
    const nodeDir = ws.path('node01');
    await mkdir(nodeDir, { recursive: true, mode: 0o700 });
    const configFile = ws.path('ferry.yaml');
    await writeDriverConfig(configFile, pool, { sdcGuid: HOST.guid, deviceDir: pool.byIdDir(HOST.guid), stateDir: path.join(nodeDir, 'state'), kubeletRoots: [nodeDir] });
    const driver = await startDriver({
      ...cli,
      name: 'driver',
      mode: 'all',
      socket: ws.path('csi.sock'),
      configFile,
      logFile: ws.logFile('driver'),
      verbose: flags.verbose === true,
      nodeFlags: flags.driverNodeFlags?.split(/\s+/).filter((f) => f !== '') ?? [],
    });
    teardown.push('stop the driver', () => driver.stop());
    const info = await call(driver.clients.node, 'NodeGetInfo', {});
    const ctx: Lifecycle = { clients: driver.clients, nodeId: info.node_id, dir: nodeDir, fsType: flags.fsType, sizeBytes: flags.sizeGib * GiB };

    // One volume first, not counted: the first login, the first mkfs and the JIT are not what is being measured.
    await lifecycle(0, ctx, () => undefined);
    const floor = await floorContext(pool, HOST.guid, nodeDir, flags.fsType, flags.sizeGib * GiB);
    teardown.push('close the floor\'s gateway connections', () => Promise.resolve(floor.gateway.close()));
    await floorLifecycle(0, floor, () => undefined);
    // Idle: started, logged in, one volume served, then a second with nothing to do.
    await new Promise((r) => setTimeout(r, 1_000));
    const idle = { driver: await statusBytes(driver.process.pid, 'VmRSS'), pool: await statusBytes(pool.process.pid, 'VmRSS') };

    const samples = new Map<Rpc, number[]>(RPCS.map((rpc) => [rpc, []]));
    const whole: number[] = [];
    const rss = new RssSampler([driver.process.pid, pool.process.pid]);
    const cpuBefore = { driver: await cpuSeconds(driver.process.pid), pool: await cpuSeconds(pool.process.pid) };
    /** Runs `life` for volumes 1..N, C at a time; answers the wall time in seconds. */
    const phase = async (life: (index: number) => Promise<void>): Promise<number> => {
      let next = 1;
      const started = performance.now();
      const worker = async (): Promise<void> => {
        while (next <= flags.volumes && failures.length === 0 && !interrupt.signal.aborted) {
          const index = next++;
          try {
            await life(index);
          } catch (err) {
            failures.push(err instanceof Error ? err.message : String(err));
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(flags.concurrency, flags.volumes) }, worker));
      return (performance.now() - started) / 1000;
    };
    const wallSeconds = await phase(async (index) => {
      const begun = performance.now();
      await lifecycle(index, ctx, (rpc, ms) => samples.get(rpc)?.push(ms));
      whole.push(performance.now() - begun);
    });
    await rss.sample();
    rss.stop();
    const driverHwm = await statusBytes(driver.process.pid, 'VmHWM');
    const poolHwm = await statusBytes(pool.process.pid, 'VmHWM');
    const cpuAfter = { driver: await cpuSeconds(driver.process.pid), pool: await cpuSeconds(pool.process.pid) };
    // The floor: the same requests and commands with no driver, the same number in flight, right after.
    const floorSamples = new Map<Rpc, number[]>(RPCS.map((rpc) => [rpc, []]));
    const floorWhole: number[] = [];
    const floorWallSeconds = await phase(async (index) => {
      const begun = performance.now();
      await floorLifecycle(index, floor, (rpc, ms) => floorSamples.get(rpc)?.push(ms));
      floorWhole.push(performance.now() - begun);
    });
    const cpu = (before: number | undefined, after: number | undefined): string =>
      before === undefined || after === undefined ? '?' : `${(after - before).toFixed(1)} s (${(((after - before) / wallSeconds) * 100).toFixed(0)}% of one CPU)`;

    out();
    for (const line of latencyTable([...RPCS.map((rpc) => ({ name: rpc, samples: samples.get(rpc) ?? [] })), { name: 'whole lifecycle', samples: whole }])) out(line);
    out();
    out(`volumes completed   ${whole.length} of ${flags.volumes}${interrupt.signal.aborted ? ' (interrupted)' : ''}`);
    out(`total wall time     ${wallSeconds.toFixed(2)} s`);
    out(`throughput          ${(whole.length / wallSeconds).toFixed(2)} volumes/s`);
    // VmHWM is the kernel's high-water mark, but it is only brought up to date at some events (unmaps, exit): the
    // sampled VmRSS can be higher. The peak is the higher of the two.
    const peak = (hwm: number | undefined, sampled: number | undefined): string =>
      `${mib(Math.max(hwm ?? 0, sampled ?? 0) || undefined)} (VmHWM ${mib(hwm)}; VmRSS sampled every 100 ms peaked at ${mib(sampled)})`;
    out(`driver idle RSS     ${mib(idle.driver)}`);
    out(`driver peak RSS     ${peak(driverHwm, rss.peak(driver.process.pid))}`);
    out(`pool idle RSS       ${mib(idle.pool)}`);
    out(`pool peak RSS       ${peak(poolHwm, rss.peak(pool.process.pid))}`);
    out(`CPU time            driver ${cpu(cpuBefore.driver, cpuAfter.driver)}, pool ${cpu(cpuBefore.pool, cpuAfter.pool)}`);
    const paired = (driverRpc: Map<Rpc, number[]>, driverWhole: number[], floorRpc: Map<Rpc, number[]>, floorWholeMs: number[]): string[] =>
      overheadTable([
        ...RPCS.map((rpc) => ({ name: rpc, driver: driverRpc.get(rpc) ?? [], floor: floorRpc.get(rpc) ?? [] })),
        { name: 'whole lifecycle', driver: driverWhole, floor: floorWholeMs },
      ]);
    out();
    out(`the floor: the same gateway requests and commands, no driver, ${flags.concurrency} at a time (${floorWhole.length} volumes in ${floorWallSeconds.toFixed(2)} s)`);
    for (const line of paired(samples, whole, floorSamples, floorWhole)) out(line);

    // The driver's own cost per RPC, without queueing: one volume at a time, driver and floor taking turns, so both
    // see the same machine (other work on it comes and goes).
    const own = { driver: new Map<Rpc, number[]>(RPCS.map((rpc) => [rpc, []])), floor: new Map<Rpc, number[]>(RPCS.map((rpc) => [rpc, []])) };
    const ownWhole = { driver: [] as number[], floor: [] as number[] };
    for (let i = 1; i <= flags.overheadVolumes && failures.length === 0 && !interrupt.signal.aborted; i++) {
      const index = flags.volumes + i;
      try {
        let begun = performance.now();
        await lifecycle(index, ctx, (rpc, ms) => own.driver.get(rpc)?.push(ms));
        ownWhole.driver.push(performance.now() - begun);
        begun = performance.now();
        await floorLifecycle(index, floor, (rpc, ms) => own.floor.get(rpc)?.push(ms));
        ownWhole.floor.push(performance.now() - begun);
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
      }
    }
    out();
    out(`the driver's own cost per RPC: ${ownWhole.driver.length} volumes one at a time, driver and floor taking turns`);
    for (const line of paired(own.driver, ownWhole.driver, own.floor, ownWhole.floor)) out(line);
  } catch (err) {
    failures.push(err instanceof Error ? err.message : String(err));
  } finally {
    for (const entry of teardown.drain()) {
      await entry.run().catch((err: unknown) => failures.push(`${entry.label}: ${err instanceof Error ? err.message : String(err)}`));
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  for (const failure of failures) process.stderr.write(`bench:provision: FAILED: ${failure}\n`);
  return failures.length === 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('bench:provision')
    .description('provision, attach, mount and tear down N volumes through ferry driver on a local ferry pool (root)')
    .exitOverride()
    .addOption(new Option('--volumes <n>', 'how many volumes').argParser(positiveInt(100_000)).default(100))
    .addOption(new Option('--concurrency <c>', 'volumes in flight at once').argParser(positiveInt(1_000)).default(10))
    .addOption(new Option('--fs-type <type>', 'filesystem').choices(['ext4', 'xfs']).default('ext4'))
    .addOption(new Option('--size-gib <n>', 'volume size (the pool allocates in 8 GiB units)').argParser(positiveInt(1024)).default(8))
    .addOption(new Option('--plain-http', 'the pool serves plain HTTP (default: HTTPS with its own CA)'))
    .addOption(new Option('--verbose', "copy the child processes' logs to stderr"))
    .addOption(new Option('--overhead-volumes <n>', 'volumes run one at a time, driver and floor in turn, for the per-RPC overhead').argParser(positiveInt(10_000)).default(30))
    .addOption(new Option('--driver-node-flags <flags>', 'Node.js flags for the driver, space-separated (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")'))
    .addOption(new Option('--data-dir <dir>', 'a new or empty work directory (default: a temporary one, removed afterwards)'));
  try {
    program.parse([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  return (await bench(program.opts<BenchFlags>())) ? 0 : 1;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench:provision: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
