import { randomUUID } from 'node:crypto';
import { mkdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { VolumeCapability } from '../gen/csi/v1/VolumeCapability.js';
import { detachLoopsUnder, unmountUnder } from '../harness/cleanup.js';
import { ferryCli } from '../harness/cli-entry.js';
import { call } from '../harness/csi-client.js';
import { startDriver, writeDriverConfig, writeNodeConfig, type DriverHandle } from '../harness/driver.js';
import { startPool, type PoolHandle, type PoolHost } from '../harness/pool.js';
import { Teardown, type UndoEntry } from '../harness/teardown.js';
import { formatBytes, GiB, mountCapability, storageClassParameters } from '../harness/volumes.js';
import { createWorkspace, removeWorkspace, type Workspace } from '../harness/workspace.js';
import { findMount } from '../node/mount-table.js';
import { AOF_FILE, hashFile, writeAof, type AofSummary } from './aof.js';
import { Reporter } from './reporter.js';

/**
 * The demo's story, on the embedded default: Redis keeps its append-only file on a Ferry volume; its pod moves from
 * node01 to node02 and the data moves with it; a snapshot of the volume becomes a new volume with the same data.
 * Everything a Kubernetes cluster would do is done here over real gRPC, as the CO: the external-provisioner's
 * CreateVolume, the attacher's ControllerPublish, the kubelet's NodeStage and NodePublish, and back.
 */
export interface DemoOptions {
  /** Where everything goes (default: a new temporary directory). */
  dataDir: string | undefined;
  /** After the story, leave everything up until `signal` aborts (Ctrl-C), then tear down. */
  keep: boolean;
  /** Copy the child processes' logs to stderr. */
  verbose: boolean;
  /** The pool serves HTTPS with its own CA (default) or plain HTTP. */
  tls: boolean;
  /** Size of the append-only file to write. */
  aofBytes: number;
  write: (line: string) => void;
  /** Stops the story after the step in progress (Ctrl-C); the teardown runs all the same. */
  signal: AbortSignal;
}

export interface DemoResult {
  ok: boolean;
  failures: string[];
  dataDir: string | undefined;
}

const FS_TYPE = 'ext4';
const VOLUME_BYTES = 16 * GiB;
const LEFTOVER_CHECK = 'check that no mount and no loop device is left';

interface NodePlugin {
  host: PoolHost;
  driver: DriverHandle;
  /** What NodeGetInfo answered: the id the CO publishes to. */
  nodeId: string;
  dir: string;
}

interface DemoVolume {
  name: string;
  id: string;
  context: Record<string, string>;
}

interface Placement {
  volume: DemoVolume;
  node: NodePlugin;
  targetPath: string;
  /** NodeUnpublish, NodeUnstage, ControllerUnpublish: in the order they are done. */
  undo: UndoEntry[];
}

class Interrupted extends Error {
  override readonly name = 'Interrupted';
}

/** Marks an error the reporter has printed already. */
class Reported extends Error {
  override readonly name = 'Reported';
}

function shortHash(sha256: string): string {
  return `${sha256.slice(0, 16)}…`;
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  return new DemoRun(options).run();
}

class DemoRun {
  private readonly report: Reporter;
  private readonly teardown = new Teardown();
  private readonly capability: VolumeCapability = mountCapability(FS_TYPE);
  private readonly cli = ferryCli();
  private ws: Workspace | undefined;
  private pool: PoolHandle | undefined;
  private controller: DriverHandle | undefined;

  constructor(private readonly options: DemoOptions) {
    this.report = new Reporter(options.write);
  }

  async run(): Promise<DemoResult> {
    const { report, teardown } = this;
    report.raw('ferry demo: a Redis pod keeps its append-only file on a Ferry volume; the pod moves from node01 to node02, and a');
    report.raw('           snapshot of the volume comes back as a new volume. One ferry pool, one controller, two node plugins, real gRPC.');
    try {
      await this.story();
    } catch (err) {
      if (!(err instanceof Reported)) report.fail('demo', err);
    }

    if (teardown.size > 0) report.raw('tearing down:');
    for (const entry of teardown.drain()) {
      await report.step(entry.label, entry.run, (detail) => detail || undefined).catch(() => undefined);
    }

    const ok = report.failures.length === 0;
    if (ok) report.raw(`ferry demo: every check held (${report.steps} steps in ${report.elapsedSeconds.toFixed(1)} s)`);
    else {
      report.raw(`ferry demo: FAILED (${report.failures.length} problem${report.failures.length > 1 ? 's' : ''}):`);
      for (const failure of report.failures) report.raw(`  - ${failure}`);
      if (this.ws) report.raw(`  the child processes' logs: ${this.ws.logsDir}`);
    }
    return { ok, failures: report.failures, dataDir: this.ws?.dir };
  }

  /** One step of the story: printed with its timing; not started once the demo was interrupted. */
  private async step<T>(label: string, run: () => Promise<T>, describe?: (value: T) => string | undefined): Promise<T> {
    if (this.options.signal.aborted) throw new Interrupted(`interrupted before: ${label}`);
    try {
      return await this.report.step(label, run, describe);
    } catch (err) {
      throw new Reported(err instanceof Error ? err.message : String(err), { cause: err });
    }
  }

  private async story(): Promise<void> {
    const { options, teardown, report } = this;
    const work = await this.step('prepare the data directory', () => createWorkspace(options.dataDir, 'ferry-demo-'), (w) => `${w.dir} (child logs in ${w.logsDir})`);
    this.ws = work;
    teardown.push(options.dataDir === undefined ? 'remove the data directory' : `empty ${work.dir} (logs stay)`, async () => {
      const keepLogs = !work.temporary || report.failures.length > 0;
      await removeWorkspace(work, keepLogs);
      return keepLogs ? `logs kept in ${work.logsDir}` : `${work.dir} removed`;
    });
    // Runs after every process has stopped: whatever is still mounted or attached then was left behind.
    teardown.push(LEFTOVER_CHECK, async () => {
      const mounts = await unmountUnder(work.dir);
      const loops = await detachLoopsUnder(work.dir);
      if (mounts.length + loops.length > 0) {
        throw new Error(`left behind (now removed): ${[...mounts.map((m) => `mount ${m}`), ...loops.map((l) => `loop device ${l}`)].join(', ')}`);
      }
      return `none under ${work.dir}`;
    });

    const hosts: PoolHost[] = ['node01', 'node02'].map((name) => ({ name, guid: randomUUID().toUpperCase() }));
    const pool = await this.step(
      'start ferry pool',
      () =>
        startPool({
          ...this.cli,
          dataDir: work.path('pool'),
          passwordFile: work.path('pool-password'),
          hosts,
          tls: options.tls,
          capacity: '256Gi',
          logFile: work.logFile('pool'),
          verbose: options.verbose,
        }),
      (p) => `${p.url} (${p.caFile ? 'TLS, its own CA' : 'plain HTTP'}), system ${p.systemId}, pid ${p.process.pid}, hosts ${hosts.map((h) => h.name).join(' and ')}`,
    );
    this.pool = pool;
    teardown.push('stop ferry pool', () => pool.stop().then(() => 'exit 0'));

    const controller = await this.startController(work, pool);
    this.controller = controller;
    const node01 = await this.startNodePlugin(work, pool, hosts[0] as PoolHost);
    const node02 = await this.startNodePlugin(work, pool, hosts[1] as PoolHost);

    // The external-provisioner, for the claim of the StatefulSet's pod redis-0.
    const data = await this.createVolume('redis-data', undefined);

    // The pod starts on node01; Redis writes its append-only file.
    const first = await this.attach(data, node01, 'redis-0');
    const written = await this.step(
      `redis-0 on node01 writes ${AOF_FILE} (Redis AOF format, generated)`,
      () => writeAof(path.join(first.targetPath, AOF_FILE), options.aofBytes),
      (s) => `${formatBytes(s.bytes)}, ${s.commands} commands, sha256 ${shortHash(s.sha256)}`,
    );

    // node01 is drained: the pod goes, the volume is detached and follows the pod to node02.
    await this.detach(first);
    const second = await this.attach(data, node02, 'redis-0');
    await this.verify(second, written, 'on node02');

    // A VolumeSnapshot of the claim, and a new claim restored from it.
    const snapshot = await this.step(
      'CreateSnapshot redis-data-snap',
      () => call(controller.clients.controller, 'CreateSnapshot', { name: 'redis-data-snap', source_volume_id: data.id, parameters: {} }),
      (r) => `${r.snapshot?.snapshot_id ?? '?'}, ${formatBytes(Number(r.snapshot?.size_bytes ?? 0))}, ready ${String(r.snapshot?.ready_to_use)}`,
    );
    const snapshotId = snapshot.snapshot?.snapshot_id;
    if (!snapshotId) throw new Error('CreateSnapshot answered no snapshot id');
    teardown.push('DeleteSnapshot redis-data-snap', () => call(controller.clients.controller, 'DeleteSnapshot', { snapshot_id: snapshotId }).then(() => undefined));

    const restored = await this.createVolume('redis-restore', snapshotId);
    const third = await this.attach(restored, node01, 'redis-restore-0');
    await this.verify(third, written, 'on the volume restored from the snapshot (node01)');

    if (options.keep && !options.signal.aborted) await this.keepRunning(work, pool, controller, [node01, node02], [second, third]);
  }

  private async startController(work: Workspace, pool: PoolHandle): Promise<DriverHandle> {
    const dir = work.path('controller');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const configFile = path.join(dir, 'ferry.yaml');
    await writeDriverConfig(configFile, pool);
    const driver = await this.step(
      'start the controller',
      () =>
        startDriver({
          ...this.cli,
          name: 'controller',
          mode: 'controller',
          socket: path.join(dir, 'csi.sock'),
          configFile,
          logFile: work.logFile('controller'),
          verbose: this.options.verbose,
        }),
      (d) => `ferry driver --mode controller, pid ${d.process.pid}, unix://${d.socket}, Probe ready`,
    );
    this.teardown.push('stop the controller', () => driver.stop().then(() => 'exit 0'));
    return driver;
  }

  private async startNodePlugin(work: Workspace, pool: PoolHandle, host: PoolHost): Promise<NodePlugin> {
    const dir = work.path(host.name);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const configFile = path.join(dir, 'ferry.yaml');
    await writeNodeConfig(configFile, pool, { sdcGuid: host.guid, deviceDir: pool.byIdDir(host.guid), stateDir: path.join(dir, 'state'), kubeletRoots: [dir] });
    const driver = await this.step(
      `start the node plugin of ${host.name}`,
      () =>
        startDriver({
          ...this.cli,
          name: host.name,
          mode: 'node',
          socket: path.join(dir, 'csi.sock'),
          configFile,
          logFile: work.logFile(host.name),
          verbose: this.options.verbose,
        }),
      (d) => `ferry driver --mode node, pid ${d.process.pid}, unix://${d.socket}, Probe ready`,
    );
    this.teardown.push(`stop the node plugin of ${host.name}`, () => driver.stop().then(() => 'exit 0'));
    const info = await this.step(`NodeGetInfo on ${host.name}`, () => call(driver.clients.node, 'NodeGetInfo', {}), (i) => `node id ${i.node_id}`);
    if (info.node_id !== host.guid) throw new Error(`${host.name} answered node id ${info.node_id}, not its SDC GUID ${host.guid}`);
    return { host, driver, nodeId: info.node_id, dir };
  }

  private async createVolume(name: string, fromSnapshot: string | undefined): Promise<DemoVolume> {
    const controller = this.running(this.controller, 'the controller');
    const created = await this.step(
      `CreateVolume ${name}${fromSnapshot ? ' from the snapshot' : ''}`,
      () =>
        call(controller.clients.controller, 'CreateVolume', {
          name,
          capacity_range: { required_bytes: String(VOLUME_BYTES) },
          volume_capabilities: [this.capability],
          parameters: storageClassParameters(FS_TYPE),
          ...(fromSnapshot ? { volume_content_source: { snapshot: { snapshot_id: fromSnapshot } } } : {}),
        }),
      (r) => `${r.volume?.volume_id ?? '?'}, ${formatBytes(Number(r.volume?.capacity_bytes ?? 0))}, ${FS_TYPE}`,
    );
    const id = created.volume?.volume_id;
    if (!id) throw new Error(`CreateVolume ${name} answered no volume id`);
    this.teardown.push(`DeleteVolume ${name}`, () => call(controller.clients.controller, 'DeleteVolume', { volume_id: id }).then(() => undefined));
    return { name, id, context: created.volume?.volume_context ?? {} };
  }

  /** ControllerPublish (the attacher), then NodeStage and NodePublish (the kubelet) for `pod` on `node`. */
  private async attach(volume: DemoVolume, node: NodePlugin, pod: string): Promise<Placement> {
    const controller = this.running(this.controller, 'the controller');
    const pool = this.running(this.pool, 'the pool');
    const { teardown, report } = this;
    const where = node.host.name;
    const stagingPath = path.join(node.dir, 'staging', volume.name);
    const targetPath = path.join(node.dir, 'pods', pod, 'volumes', volume.name);
    const request = { volume_id: volume.id, volume_capability: this.capability, volume_context: volume.context };

    // Each undo is registered before its call: they are all idempotent, and a call that failed half-way is undone too.
    const unpublishController = teardown.push(`ControllerUnpublishVolume ${volume.name} from ${where}`, () =>
      call(controller.clients.controller, 'ControllerUnpublishVolume', { volume_id: volume.id, node_id: node.nodeId }).then(() => undefined),
    );
    const published = await this.step(`ControllerPublishVolume ${volume.name} to ${where}`, () =>
      call(controller.clients.controller, 'ControllerPublishVolume', { ...request, node_id: node.nodeId, readonly: false }),
    );
    const link = path.join(pool.byIdDir(node.host.guid), `emc-vol-${volume.id.slice(volume.id.indexOf(':') + 1)}`);
    const device = await readlink(link).catch(() => undefined);
    if (device) report.note(`${where} sees it: ${path.basename(link)} -> ${device}`);

    const unstage = teardown.push(`NodeUnstageVolume ${volume.name} on ${where}`, () =>
      call(node.driver.clients.node, 'NodeUnstageVolume', { volume_id: volume.id, staging_target_path: stagingPath }).then(() => undefined),
    );
    await this.step(`NodeStageVolume ${volume.name} on ${where}`, () =>
      call(node.driver.clients.node, 'NodeStageVolume', { ...request, publish_context: published.publish_context, staging_target_path: stagingPath }),
    );
    const staged = await findMount(stagingPath);
    if (staged) report.note(`${staged.fsType} on ${staged.source} mounted at ${stagingPath}`);

    const unpublish = teardown.push(`NodeUnpublishVolume ${volume.name} on ${where}`, () =>
      call(node.driver.clients.node, 'NodeUnpublishVolume', { volume_id: volume.id, target_path: targetPath }).then(() => undefined),
    );
    await this.step(
      `NodePublishVolume ${volume.name} on ${where} for pod ${pod}`,
      () =>
        call(node.driver.clients.node, 'NodePublishVolume', {
          ...request,
          publish_context: published.publish_context,
          staging_target_path: stagingPath,
          target_path: targetPath,
          readonly: false,
        }),
      () => targetPath,
    );
    return { volume, node, targetPath, undo: [unpublish, unstage, unpublishController] };
  }

  /** The pod is gone from the node: NodeUnpublish, NodeUnstage, ControllerUnpublish, now rather than at the end. */
  private async detach(placement: Placement): Promise<void> {
    for (const entry of placement.undo) await this.step(entry.label, () => this.teardown.take(entry).run());
  }

  private async verify(placement: Placement, written: AofSummary, where: string): Promise<void> {
    const file = path.join(placement.targetPath, AOF_FILE);
    const read = await this.step(`read ${AOF_FILE} ${where}`, () => hashFile(file), (r) => `${formatBytes(r.bytes)}, sha256 ${shortHash(r.sha256)}`);
    const same = read.sha256 === written.sha256 && read.bytes === written.bytes;
    const ok = this.report.check(
      same,
      `checksum matches ${where}: sha256 ${written.sha256}`,
      `checksum differs ${where}: wrote ${written.bytes} bytes with sha256 ${written.sha256}, read ${read.bytes} bytes with sha256 ${read.sha256}`,
    );
    if (!ok) throw new Reported(`checksum differs ${where}`);
  }

  private async keepRunning(work: Workspace, pool: PoolHandle, controller: DriverHandle, nodes: NodePlugin[], placements: Placement[]): Promise<void> {
    const { report, options } = this;
    report.raw('--keep: everything stays up until Ctrl-C (or SIGTERM); then the demo tears down as usual.');
    report.raw(`  pool        ${pool.url}, user ${pool.username}, password in ${pool.passwordFile}${pool.caFile ? `, CA ${pool.caFile}` : ''}`);
    report.raw(`  controller  unix://${controller.socket}`);
    for (const n of nodes) report.raw(`  ${n.host.name.padEnd(10)}  unix://${n.driver.socket} (node id ${n.nodeId})`);
    for (const p of placements) report.raw(`  ${p.volume.name} on ${p.node.host.name}: ${path.join(p.targetPath, AOF_FILE)}`);
    report.raw(`  logs        ${work.logsDir}`);
    await new Promise<void>((resolve) => {
      if (options.signal.aborted) resolve();
      else options.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  private running<T>(handle: T | undefined, what: string): T {
    if (handle === undefined) throw new Error(`${what} is not running`);
    return handle;
  }
}
