import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, open, readFile, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { exec } from '../../src/util/exec.js';
import type { GroupControllerClient } from '../../src/gen/csi/v1/GroupController.js';
import type { IdentityClient } from '../../src/gen/csi/v1/Identity.js';
import type { ControllerClient } from '../../src/gen/csi/v1/Controller.js';
import type { NodeClient } from '../../src/gen/csi/v1/Node.js';
import type { Volume__Output } from '../../src/gen/csi/v1/Volume.js';
import type { Snapshot__Output } from '../../src/gen/csi/v1/Snapshot.js';
import type { VolumeCapability } from '../../src/gen/csi/v1/VolumeCapability.js';
import { call, csiClients, type CsiClients } from './csi-client.js';
import { startDriver, type DriverProcess } from './driver-process.js';
import { cleanupAllPools, powerFlexBackendYaml, startPool, type PoolProcess } from './pool.js';

/**
 * A small block "cluster" on this machine, everything real: one `ferry pool` with two hosts (node01, node02, fixed
 * SDC GUIDs), one controller (`ferry driver --mode controller`) and one node plugin per host (`--mode node`, each with
 * its host's deviceDir and its own stateDir), talking CSI over Unix sockets.
 *
 *   const cluster = await BlockCluster.start();
 *   afterEach(() => cluster.releaseVolumes());   // unmount, unpublish and delete what the test made
 *   afterAll(() => cluster.cleanup());           // processes, mounts, loop devices, temp dirs
 *
 * Every node plugin runs with PATH=<its shim dir>:$PATH. The shim dir holds one small bash script per tool the node
 * plugin runs (blkid, mkfs.*, mount, umount, resize2fs, e2fsck, dumpe2fs, blockdev, xfs_info, xfs_growfs): each runs
 * the real tool by its absolute path and logs what it did, and, when armed with `killAt(node, tool, 'before'|'after',
 * n)`, kills the node plugin with SIGKILL just before or just after the n-th run of that tool (or, with `armWalk`,
 * at the first point of a call not killed at yet in a walk; see test/integration/block/crash.test.ts; `delay` slows
 * a tool down instead). Real runs go to ran.log (so `mkfsRuns` counts real formats). No hook in production
 * code is involved: the shim's parent is the node plugin itself (util/exec spawns children directly, no shell).
 * Shims act only for the node plugin's own direct children (the pid in plugin.pid); anything else passes straight
 * through to the real tool.
 */
export const NODE_GUIDS = {
  node01: '0A0B0C0D-1111-4A1B-8C1D-000000000001',
  node02: '0A0B0C0D-2222-4A1B-8C1D-000000000002',
} as const;
export type NodeName = keyof typeof NODE_GUIDS;
export const NODE_NAMES: readonly NodeName[] = ['node01', 'node02'];

export const GiB = 1024n * 1024n * 1024n;
export const MiB = 1024 * 1024;

/** Everything NodeStage/NodePublish/NodeExpand/NodeUnstage/NodeUnpublish run (src/node/filesystem.ts, mounter.ts). */
export const SHIMMED_TOOLS = ['blkid', 'mkfs.ext4', 'mkfs.xfs', 'mount', 'umount', 'resize2fs', 'e2fsck', 'dumpe2fs', 'blockdev', 'xfs_info', 'xfs_growfs'] as const;
export type ShimmedTool = (typeof SHIMMED_TOOLS)[number];

export type AccessModeName =
  | 'SINGLE_NODE_WRITER'
  | 'SINGLE_NODE_READER_ONLY'
  | 'MULTI_NODE_READER_ONLY'
  | 'MULTI_NODE_SINGLE_WRITER'
  | 'MULTI_NODE_MULTI_WRITER'
  | 'SINGLE_NODE_SINGLE_WRITER'
  | 'SINGLE_NODE_MULTI_WRITER';

export function mountCapability(fsType: 'ext4' | 'xfs', mode: AccessModeName = 'SINGLE_NODE_WRITER', mountFlags: string[] = []): VolumeCapability {
  return { mount: { fs_type: fsType, mount_flags: mountFlags }, access_mode: { mode } };
}

export function blockCapability(mode: AccessModeName = 'SINGLE_NODE_WRITER'): VolumeCapability {
  return { block: {}, access_mode: { mode } };
}

/** The gRPC status code and message of a failed call (throws if the call succeeded or was not a gRPC error). */
export async function grpcError(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
  } catch (err) {
    if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'number') {
      const details = 'details' in err && typeof err.details === 'string' ? err.details : '';
      return { code: err.code, details };
    }
    throw err;
  }
  throw new Error('the call succeeded; a gRPC error was expected');
}

// ---------------------------------------------------------------------------------------------------------------
// Host-side helpers: the test's own view of mounts, devices and data (independent of src/node).

interface MountLine {
  id: number;
  parentId: number;
  majorMinor: string;
  mountPoint: string;
  fsType: string;
  source: string;
}

function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export async function mountLines(): Promise<MountLine[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const f = l.split(' ');
      const sep = f.indexOf('-', 6);
      return {
        id: Number(f[0]),
        parentId: Number(f[1]),
        majorMinor: f[2] ?? '',
        mountPoint: unescapeOctal(f[4] ?? ''),
        fsType: f[sep + 1] ?? '',
        source: unescapeOctal(f[sep + 2] ?? ''),
      };
    });
}

/** How many mounts sit exactly at `p` (stacked layers count one each). */
export async function mountCount(p: string): Promise<number> {
  return (await mountLines()).filter((m) => m.mountPoint === p).length;
}

export async function mountsAt(p: string): Promise<MountLine[]> {
  return (await mountLines()).filter((m) => m.mountPoint === p);
}

function isUnder(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir + path.sep);
}

/** Unmounts every mount under `dir`, leaves first (undoes stacking and nesting); lazy as a last resort. */
export async function unmountAllUnder(dir: string): Promise<string[]> {
  for (let round = 0; round < 30; round++) {
    const ours = (await mountLines()).filter((m) => isUnder(m.mountPoint, dir));
    if (ours.length === 0) return [];
    const parents = new Set(ours.map((m) => m.parentId));
    for (const m of ours.filter((o) => !parents.has(o.id))) {
      await exec('umount', ['--', m.mountPoint], { timeoutMs: 30_000 }).catch(() =>
        exec('umount', ['-l', '--', m.mountPoint], { timeoutMs: 30_000 }).catch(() => undefined),
      );
    }
  }
  return (await mountLines()).filter((m) => isUnder(m.mountPoint, dir)).map((m) => m.mountPoint);
}

/** The filesystem UUID on a device, probed from the device itself (no blkid cache). */
export async function filesystemUuid(device: string): Promise<string> {
  const { stdout } = await exec('blkid', ['-p', '-s', 'UUID', '-o', 'value', '--', device], { timeoutMs: 30_000, okExitCodes: [2] });
  return stdout.trim();
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(4 * MiB);
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** Writes `bytes` random bytes to a new file, fsyncs it, answers its sha256. */
export async function writeRandomFile(file: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(file, 'w');
  try {
    let left = bytes;
    while (left > 0) {
      const chunk = randomBytes(Math.min(left, 4 * MiB));
      hash.update(chunk);
      await handle.write(chunk, 0, chunk.length, null);
      left -= chunk.length;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** Writes `data` at `offset` of a block device (or a file bound to one), fsync'd. */
export async function writeAt(file: string, offset: number, data: Buffer): Promise<void> {
  const handle = await open(file, fsConstants.O_RDWR);
  try {
    await handle.write(data, 0, data.length, offset);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function readAt(file: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** syncfs of the filesystem holding `p` (sync -f). */
export async function syncFilesystem(p: string): Promise<void> {
  await exec('sync', ['-f', p], { timeoutMs: 60_000 });
}

async function which(tool: string): Promise<string> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (dir === '') continue;
    const candidate = path.join(dir, tool);
    if (await access(candidate, fsConstants.X_OK).then(() => true, () => false)) return candidate;
  }
  throw new Error(`${tool} is not on PATH`);
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

function shimScript(dir: string, tool: string, real: string): string {
  return `#!/bin/bash
# Test shim for ${tool} (test/helpers/block-cluster.ts): runs the real tool; when armed, kills the node plugin.
dir=${shellQuote(dir)}
tool=${shellQuote(tool)}
real=${shellQuote(real)}
plugin=$(cat "$dir/plugin.pid" 2>/dev/null)
# Only the node plugin's own calls are counted and may be fatal; the rest (helpers of helpers) pass through.
if [ -z "$plugin" ] || [ "$PPID" != "$plugin" ]; then exec "$real" "$@"; fi
# Counters under a lock: the plugin runs some tools side by side (blockdev and dumpe2fs).
exec 9>>"$dir/counter.lock"
flock 9
n=$(( $(cat "$dir/count.$tool" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$dir/count.$tool"
all=$(( $(cat "$dir/count.all" 2>/dev/null || echo 0) + 1 ))
echo "$all" > "$dir/count.all"
printf '%s #%s (call %s) %s\\n' "$tool" "$n" "$all" "$*" >> "$dir/calls.log"
when=''
if [ -f "$dir/kill-at" ]; then
  read -r m_tool m_when m_n < "$dir/kill-at"
  if [ "$m_tool" = walk ]; then
    # Walk mode: the first point (before or after the n-th run of a tool) not killed at yet in this walk.
    if ! grep -qxF "$tool#$n:before" "$dir/walk-done" 2>/dev/null; then m_when=before
    elif ! grep -qxF "$tool#$n:after" "$dir/walk-done" 2>/dev/null; then m_when=after
    else m_when=''
    fi
    if [ -n "$m_when" ] && mv "$dir/kill-at" "$dir/fired.$$"; then
      echo "$tool#$n:$m_when" >> "$dir/walk-done"
      when=$m_when
    fi
  elif { [ "$m_tool" = "$tool" ] && [ "$m_n" = "$n" ]; } || { [ "$m_tool" = '*' ] && [ "$m_n" = "$all" ]; }; then
    mv "$dir/kill-at" "$dir/fired.$$" && when=$m_when
  fi
fi
flock -u 9
exec 9>&-
if [ -f "$dir/delay.$tool" ]; then sleep "$(cat "$dir/delay.$tool")"; fi
if [ "$when" = before ]; then
  printf 'killed before %s #%s (call %s): %s\\n' "$tool" "$n" "$all" "$*" >> "$dir/kills.log"
  kill -9 "$PPID"
  exit 137
fi
"$real" "$@"
rc=$?
printf '%s rc=%s %s\\n' "$tool" "$rc" "$*" >> "$dir/ran.log"
if [ "$when" = after ]; then
  printf 'killed after %s #%s (call %s): %s\\n' "$tool" "$n" "$all" "$*" >> "$dir/kills.log"
  kill -9 "$PPID"
fi
exit $rc
`;
}

// ---------------------------------------------------------------------------------------------------------------

interface NodePlugin {
  name: NodeName;
  guid: string;
  config: string;
  stateDir: string;
  deviceDir: string;
  shimDir: string;
  driver: DriverProcess | undefined;
  clients: CsiClients | undefined;
  /** Output of earlier incarnations (the current one is driver.output()). */
  pastOutput: string;
}

interface Tracked {
  kind: 'volume' | 'snapshot';
  id: string;
}

export interface CreateVolumeOptions {
  capability: VolumeCapability;
  /** Default 16 GiB. */
  requiredBytes?: bigint;
  limitBytes?: bigint;
  parameters?: Record<string, string>;
  source?: { snapshot: string } | { volume: string };
}

export interface BlockClusterOptions {
  prefix?: string;
  logLevel?: string;
  /**
   * Default true. false: the node plugins run the real tools straight from PATH, as in production, so a command is
   * the plugin's own child (test/integration/block/killed-mid-command.test.ts kills the plugin while one runs).
   */
  shims?: boolean;
}

export class BlockCluster {
  private controllerDriver: DriverProcess | undefined;
  private controllerClients: CsiClients | undefined;
  private readonly tracked: Tracked[] = [];
  private cleaned = false;

  private constructor(
    readonly pool: PoolProcess,
    /** Temp dir holding configs, node state, shims, and every staging and publish path. */
    readonly root: string,
    private readonly nodes: Record<NodeName, NodePlugin>,
    private readonly controllerConfig: string,
    private readonly logLevel: string,
    private readonly shims: boolean,
  ) {}

  static async start(options: BlockClusterOptions = {}): Promise<BlockCluster> {
    const root = await realpath(await mkdtemp(path.join(os.tmpdir(), options.prefix ?? 'ferry-block-')));
    let pool: PoolProcess | undefined;
    let cluster: BlockCluster | undefined;
    try {
      pool = await startPool({ hosts: NODE_NAMES.map((name) => ({ name, guid: NODE_GUIDS[name] })), logLevel: 'info' });
      const backend = powerFlexBackendYaml(pool, ['requestTimeoutSeconds: 20']);
      const controllerConfig = path.join(root, 'controller.yaml');
      await writeFile(controllerConfig, [...backend, ''].join('\n'));
      const reals = new Map<string, string>();
      for (const tool of SHIMMED_TOOLS) reals.set(tool, await which(tool));
      const nodes = {} as Record<NodeName, NodePlugin>;
      for (const name of NODE_NAMES) {
        const guid = NODE_GUIDS[name];
        const base = path.join(root, name);
        const shimDir = path.join(base, 'shims');
        const stateDir = path.join(base, 'state');
        const deviceDir = path.join(pool.dataDir, 'hosts', guid, 'by-id');
        await mkdir(shimDir, { recursive: true });
        for (const tool of SHIMMED_TOOLS) {
          const file = path.join(shimDir, tool);
          await writeFile(file, shimScript(shimDir, tool, reals.get(tool) ?? tool));
          await chmod(file, 0o755);
        }
        const config = path.join(base, 'ferry.yaml');
        await writeFile(
          config,
          // The cluster's root is the kubelet root: staging and publish paths, and the strangers some tests mount.
          [...backend, 'node:', `  sdcGuid: ${guid}`, `  deviceDir: ${deviceDir}`, `  stateDir: ${stateDir}`, '  deviceWaitSeconds: 10', '  kubeletRoots:', `    - ${root}`, ''].join('\n'),
        );
        nodes[name] = { name, guid, config, stateDir, deviceDir, shimDir, driver: undefined, clients: undefined, pastOutput: '' };
      }
      cluster = new BlockCluster(pool, root, nodes, controllerConfig, options.logLevel ?? 'info', options.shims ?? true);
      await cluster.startController();
      for (const name of NODE_NAMES) await cluster.startNode(name);
      return cluster;
    } catch (err) {
      if (cluster) await cluster.cleanup().catch(() => undefined);
      else {
        await pool?.cleanup().catch(() => undefined);
        await rm(root, { recursive: true, force: true });
      }
      throw err;
    }
  }

  // ---- processes ---------------------------------------------------------------------------------------------

  private async startController(): Promise<void> {
    this.controllerDriver = await startDriver(['--mode', 'controller', '--config', this.controllerConfig, '--log-level', this.logLevel]);
    this.controllerClients = csiClients(this.controllerDriver.socket);
  }

  /** Starts a node plugin that is not running. */
  async startNode(name: NodeName): Promise<void> {
    const node = this.nodes[name];
    if (node.driver && !this.hasExited(node.driver)) throw new Error(`${name}'s node plugin is running already`);
    await this.forgetProcess(node);
    const env: Record<string, string> = this.shims ? { PATH: `${node.shimDir}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` } : {};
    node.driver = await startDriver(['--mode', 'node', '--node-id', name, '--config', node.config, '--log-level', this.logLevel], env);
    await writeFile(path.join(node.shimDir, 'plugin.pid'), String(node.driver.child.pid ?? ''));
    node.clients = csiClients(node.driver.socket);
  }

  /** SIGTERM (calls in flight finish) and wait. */
  async stopNode(name: NodeName): Promise<number | string | undefined> {
    const node = this.nodes[name];
    return this.forgetProcess(node);
  }

  /** SIGKILL the node plugin: no chance to tidy anything. */
  async kill9(name: NodeName): Promise<void> {
    const node = this.nodes[name];
    node.driver?.child.kill('SIGKILL');
    await this.forgetProcess(node);
  }

  /** Stops the node plugin (if it still runs) and starts it again: the start-up clean-up runs. */
  async restart(name: NodeName): Promise<void> {
    await this.stopNode(name);
    await this.startNode(name);
  }

  /** Waits until the node plugin has exited (e.g. killed by a shim); its exit code or signal. */
  async waitForExit(name: NodeName, timeoutMs = 10_000): Promise<number | string> {
    const driver = this.nodes[name].driver;
    if (!driver) throw new Error(`${name} has no node plugin`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name}'s node plugin did not exit within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([driver.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  isRunning(name: NodeName): boolean {
    const driver = this.nodes[name].driver;
    return driver !== undefined && !this.hasExited(driver);
  }

  pid(name: NodeName): number | undefined {
    return this.nodes[name].driver?.child.pid;
  }

  private hasExited(driver: DriverProcess): boolean {
    return driver.child.exitCode !== null || driver.child.signalCode !== null;
  }

  private async forgetProcess(node: NodePlugin): Promise<number | string | undefined> {
    node.clients?.close();
    node.clients = undefined;
    const driver = node.driver;
    node.driver = undefined;
    if (!driver) return undefined;
    const code = await driver.stop();
    node.pastOutput += driver.output();
    return code;
  }

  // ---- clients and paths -------------------------------------------------------------------------------------

  get controller(): ControllerClient {
    if (!this.controllerClients) throw new Error('the controller is not running');
    return this.controllerClients.controller;
  }

  get identity(): IdentityClient {
    if (!this.controllerClients) throw new Error('the controller is not running');
    return this.controllerClients.identity;
  }

  get groupController(): GroupControllerClient {
    if (!this.controllerClients) throw new Error('the controller is not running');
    return this.controllerClients.groupController;
  }

  node(name: NodeName): NodeClient {
    const clients = this.nodes[name].clients;
    if (!clients) throw new Error(`${name}'s node plugin is not running`);
    return clients.node;
  }

  nodeId(name: NodeName): string {
    return NODE_GUIDS[name];
  }

  /** Everything a node plugin wrote, across restarts. */
  logs(name: NodeName | 'controller'): string {
    if (name === 'controller') return this.controllerDriver?.output() ?? '';
    const node = this.nodes[name];
    return node.pastOutput + (node.driver?.output() ?? '');
  }

  stateDir(name: NodeName): string {
    return this.nodes[name].stateDir;
  }

  /** The global (staging) path of a volume on a node; not created. */
  stagingPath(name: NodeName, label: string): string {
    return path.join(this.root, name, 'plugins', 'staging', label);
  }

  /** A pod's publish path on a node: a directory for a filesystem, a file for raw block; not created. */
  targetPath(name: NodeName, label: string, pod = 'pod'): string {
    return path.join(this.root, name, 'pods', pod, label);
  }

  /** `<deviceDir>/emc-vol-<systemId>-<volumeId>`, the node's link to a mapped volume's device. */
  deviceLink(name: NodeName, volumeId: string): string {
    const local = volumeId.slice(volumeId.indexOf(':') + 1);
    return path.join(this.nodes[name].deviceDir, `emc-vol-${local}`);
  }

  /** The kernel device (/dev/loopN) behind a node's link. */
  async device(name: NodeName, volumeId: string): Promise<string> {
    return realpath(this.deviceLink(name, volumeId));
  }

  /** The pool's backing file of a volume. */
  volumeFile(volumeId: string): string {
    const local = volumeId.slice(volumeId.indexOf(':') + 1);
    return path.join(this.pool.dataDir, 'volumes', `${local.split('-')[1] ?? ''}.img`);
  }

  // ---- shims ---------------------------------------------------------------------------------------------------

  /**
   * Arms the node's shims: the `n`-th run of `tool` (counted from now; `'*'`: the n-th run of any shimmed tool)
   * kills the node plugin with SIGKILL, just before or just after the real tool runs. One shot: the marker is
   * consumed when it fires.
   */
  async killAt(name: NodeName, tool: ShimmedTool | '*', when: 'before' | 'after', n = 1): Promise<void> {
    const dir = this.nodes[name].shimDir;
    await this.resetCounts(name);
    await writeFile(path.join(dir, 'kill-at'), `${tool} ${when} ${n}\n`);
  }

  /** Starts a kill walk (see armWalk): nothing killed at yet. */
  async startWalk(name: NodeName): Promise<void> {
    await rm(path.join(this.nodes[name].shimDir, 'walk-done'), { force: true });
  }

  /**
   * Arms one step of a kill walk: the node plugin is killed at the first point of its next commands (before or after
   * the n-th run of a tool, counted from now) where this walk has not killed it yet. Retrying a call with a fresh
   * step each time until a step does not fire kills the call at every point of every path it takes.
   */
  async armWalk(name: NodeName): Promise<void> {
    await this.resetCounts(name);
    await writeFile(path.join(this.nodes[name].shimDir, 'kill-at'), 'walk\n');
  }

  /** Whether an armed kill is still waiting (it has not fired). */
  async killPending(name: NodeName): Promise<boolean> {
    return access(path.join(this.nodes[name].shimDir, 'kill-at')).then(() => true, () => false);
  }

  async disarm(name: NodeName): Promise<void> {
    const dir = this.nodes[name].shimDir;
    await rm(path.join(dir, 'kill-at'), { force: true });
    for (const f of await readdir(dir)) if (f.startsWith('delay.')) await rm(path.join(dir, f), { force: true });
  }

  /** Makes every run of `tool` by the node plugin wait `seconds` first (until disarm). */
  async delay(name: NodeName, tool: ShimmedTool, seconds: number): Promise<void> {
    await writeFile(path.join(this.nodes[name].shimDir, `delay.${tool}`), `${seconds}\n`);
  }

  async resetCounts(name: NodeName): Promise<void> {
    const dir = this.nodes[name].shimDir;
    for (const f of await readdir(dir)) if (f.startsWith('count.')) await rm(path.join(dir, f), { force: true });
  }

  /** Lines "tool rc=N args" of every real run of a tool by the node plugin, oldest first. */
  async toolRuns(name: NodeName, tool?: ShimmedTool): Promise<string[]> {
    const text = await readFile(path.join(this.nodes[name].shimDir, 'ran.log'), 'utf8').catch(() => '');
    return text.split('\n').filter((l) => l !== '' && (tool === undefined || l.startsWith(`${tool} `)));
  }

  /** Real mkfs runs by the node plugin on `device` (a /dev/loopN or a link), any filesystem type. */
  async mkfsRuns(name: NodeName, device?: string): Promise<string[]> {
    const runs = [...(await this.toolRuns(name, 'mkfs.ext4')), ...(await this.toolRuns(name, 'mkfs.xfs'))];
    return device === undefined ? runs : runs.filter((l) => l.endsWith(` ${device}`));
  }

  /** Kill log lines ("killed before mkfs.ext4 #1 (pid N)"). */
  async kills(name: NodeName): Promise<string[]> {
    const text = await readFile(path.join(this.nodes[name].shimDir, 'kills.log'), 'utf8').catch(() => '');
    return text.split('\n').filter((l) => l !== '');
  }

  /** The node plugin's shim call log: one line per command it ran ("tool #n (call k) args"), oldest first. */
  async callLog(name: NodeName): Promise<string> {
    return readFile(path.join(this.nodes[name].shimDir, 'calls.log'), 'utf8').catch(() => '');
  }

  // ---- CSI shortcuts (tracked for releaseVolumes) -------------------------------------------------------------

  async createVolume(name: string, options: CreateVolumeOptions): Promise<Volume__Output> {
    const res = await call(this.controller, 'CreateVolume', {
      name,
      capacity_range: { required_bytes: String(options.requiredBytes ?? 16n * GiB), limit_bytes: String(options.limitBytes ?? 0n) },
      volume_capabilities: [options.capability],
      parameters: options.parameters ?? {},
      ...(options.source
        ? { volume_content_source: 'snapshot' in options.source ? { snapshot: { snapshot_id: options.source.snapshot } } : { volume: { volume_id: options.source.volume } } }
        : {}),
    });
    if (!res.volume) throw new Error('CreateVolume answered no volume');
    this.track('volume', res.volume.volume_id);
    return res.volume;
  }

  async createSnapshot(name: string, sourceVolumeId: string): Promise<Snapshot__Output> {
    const res = await call(this.controller, 'CreateSnapshot', { name, source_volume_id: sourceVolumeId });
    if (!res.snapshot) throw new Error('CreateSnapshot answered no snapshot');
    this.track('snapshot', res.snapshot.snapshot_id);
    return res.snapshot;
  }

  /** Remembers an id made outside the shortcuts, for releaseVolumes. */
  track(kind: 'volume' | 'snapshot', id: string): void {
    if (!this.tracked.some((t) => t.kind === kind && t.id === id)) this.tracked.push({ kind, id });
  }

  async controllerPublish(volumeId: string, name: NodeName, capability: VolumeCapability, readonly = false): Promise<void> {
    await call(this.controller, 'ControllerPublishVolume', { volume_id: volumeId, node_id: this.nodeId(name), volume_capability: capability, readonly });
  }

  async controllerUnpublish(volumeId: string, name: NodeName): Promise<void> {
    await call(this.controller, 'ControllerUnpublishVolume', { volume_id: volumeId, node_id: this.nodeId(name) });
  }

  /** NodeStageVolume at stagingPath(name, label); answers the staging path. */
  async stage(name: NodeName, volumeId: string, label: string, capability: VolumeCapability, timeoutMs = 60_000): Promise<string> {
    const stagingPath = this.stagingPath(name, label);
    await call(this.node(name), 'NodeStageVolume', { volume_id: volumeId, staging_target_path: stagingPath, volume_capability: capability }, timeoutMs);
    return stagingPath;
  }

  async unstage(name: NodeName, volumeId: string, label: string): Promise<void> {
    await call(this.node(name), 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: this.stagingPath(name, label) });
  }

  /** NodePublishVolume from stagingPath(name, label) to targetPath(name, label, pod); answers the target path. */
  async publish(name: NodeName, volumeId: string, label: string, capability: VolumeCapability, options: { pod?: string; readonly?: boolean } = {}): Promise<string> {
    const targetPath = this.targetPath(name, label, options.pod);
    await call(this.node(name), 'NodePublishVolume', {
      volume_id: volumeId,
      staging_target_path: this.stagingPath(name, label),
      target_path: targetPath,
      volume_capability: capability,
      readonly: options.readonly ?? false,
    });
    return targetPath;
  }

  async unpublish(name: NodeName, volumeId: string, label: string, pod?: string): Promise<void> {
    await call(this.node(name), 'NodeUnpublishVolume', { volume_id: volumeId, target_path: this.targetPath(name, label, pod) });
  }

  /** ControllerPublish + NodeStage + NodePublish; answers the target path. */
  async attach(name: NodeName, volumeId: string, label: string, capability: VolumeCapability): Promise<string> {
    await this.controllerPublish(volumeId, name, capability);
    await this.stage(name, volumeId, label, capability);
    return this.publish(name, volumeId, label, capability);
  }

  /** NodeUnpublish + NodeUnstage + ControllerUnpublish. */
  async detach(name: NodeName, volumeId: string, label: string): Promise<void> {
    await this.unpublish(name, volumeId, label);
    await this.unstage(name, volumeId, label);
    await this.controllerUnpublish(volumeId, name);
  }

  // ---- clean-up ------------------------------------------------------------------------------------------------

  /**
   * After each test: unmounts everything under the node paths, restarts node plugins a test left stopped, and
   * unpublishes and deletes every tracked volume and snapshot (newest first). Collects problems and throws them at
   * the end, after trying everything.
   */
  async releaseVolumes(): Promise<void> {
    const problems: string[] = [];
    for (const name of NODE_NAMES) {
      await this.disarm(name).catch(() => undefined);
      const left = await unmountAllUnder(path.join(this.root, name));
      if (left.length > 0) problems.push(`still mounted: ${left.join(', ')}`);
    }
    for (const name of NODE_NAMES) {
      if (!this.isRunning(name)) await this.startNode(name).catch((err: unknown) => problems.push(`restart ${name}: ${String(err)}`));
    }
    for (const t of [...this.tracked].reverse()) {
      try {
        if (t.kind === 'volume') {
          await call(this.controller, 'ControllerUnpublishVolume', { volume_id: t.id, node_id: '' });
          await call(this.controller, 'DeleteVolume', { volume_id: t.id });
        } else {
          await call(this.controller, 'DeleteSnapshot', { snapshot_id: t.id });
        }
      } catch (err) {
        problems.push(`${t.kind} ${t.id}: ${String(err)}`);
      }
    }
    this.tracked.length = 0;
    // The records of what was unmounted behind the plugins' backs: nothing of it exists any more. The shim logs
    // start afresh too (loop device names are reused from test to test).
    for (const name of NODE_NAMES) {
      for (const f of await readdir(this.nodes[name].stateDir).catch(() => [] as string[])) {
        await rm(path.join(this.nodes[name].stateDir, f), { force: true, recursive: true });
      }
      for (const f of ['calls.log', 'ran.log', 'kills.log']) await rm(path.join(this.nodes[name].shimDir, f), { force: true });
      await this.resetCounts(name);
    }
    // The pool detached them at DeleteVolume; the kernel lets go of a loop device only once the last user of its
    // filesystem has (an unmount just done on a loaded machine can take seconds to release it).
    let loops = await this.pool.loopDevices().catch(() => []);
    for (const until = Date.now() + 30_000; loops.length > 0 && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 200));
      loops = await this.pool.loopDevices().catch(() => []);
    }
    if (loops.length > 0) problems.push(`loop devices left attached: ${loops.map((l) => `${l.name} (${l.backFile})`).join(', ')}`);
    if (problems.length > 0) throw new Error(`releaseVolumes:\n${problems.join('\n')}`);
  }

  /** Stops every process, unmounts everything under the temp dir, lets the pool detach its loop devices, removes dirs. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    const problems: string[] = [];
    for (const name of NODE_NAMES) {
      await this.disarm(name).catch(() => undefined);
      await this.forgetProcess(this.nodes[name]).catch((err: unknown) => problems.push(`stop ${name}: ${String(err)}`));
    }
    this.controllerClients?.close();
    await this.controllerDriver?.stop().catch((err: unknown) => problems.push(`stop controller: ${String(err)}`));
    const left = await unmountAllUnder(this.root);
    await this.pool.cleanup().catch((err: unknown) => problems.push(`pool cleanup: ${String(err)}`));
    if (left.length === 0) await rm(this.root, { recursive: true, force: true });
    else problems.push(`left ${this.root} in place: still mounted: ${left.join(', ')}`);
    if (problems.length > 0) throw new Error(`block cluster cleanup:\n${problems.join('\n')}`);
  }
}

/**
 * One cluster for a test file: started before the first test, its volumes released after each, everything torn
 * down after the last (pools included, even when a start failed half-way). `onStart` receives the cluster.
 */
export function useBlockCluster(prefix: string, onStart: (cluster: BlockCluster) => void, options: Omit<BlockClusterOptions, 'prefix'> = {}): void {
  let cluster: BlockCluster | undefined;
  beforeAll(async () => {
    cluster = await BlockCluster.start({ ...options, prefix });
    onStart(cluster);
  }, 60_000);
  afterEach(async () => {
    await cluster?.releaseVolumes();
  });
  afterAll(async () => {
    await cluster?.cleanup();
    await cleanupAllPools();
  });
}
