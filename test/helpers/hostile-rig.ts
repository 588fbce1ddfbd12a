import { Client, credentials, status } from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CsiCallError } from '../../src/harness/csi-client.js';
import type { Volume } from '../../src/pool/wire.js';
import { exec } from '../../src/util/exec.js';
import { mountLines, unmountAllUnder } from './block-cluster.js';
import { call, callByName, csiClients, type CsiClients } from './csi-client.js';
import { startDriver, type DriverProcess } from './driver-process.js';
import { cleanupAllPools, powerFlexBackendYaml, startPool, type PoolProcess } from './pool.js';

/**
 * What the bad-input suite and the fuzzer aim at (issue 14): one real `ferry driver --mode all` on a real `ferry pool`
 * host, its kubelet root under a temp dir, and fixtures a hostile caller would go for: two filesystem volumes staged
 * and published (V, W), a raw block volume staged and published (B), a foreign tmpfs under the kubelet root, a
 * directory outside it standing for /etc, and symlinks from inside the root to it.
 *
 * `state()` is everything a call could change: the mount table under the temp dir, the loop devices, the pool's
 * volumes and mappings, and every file under the temp dir (the node's state records by content).
 */
export const NODE_GUID = '0A0B0C0D-3333-4A1B-8C1D-000000000003';
export const OTHER_GUID = '0A0B0C0D-4444-4A1B-8C1D-000000000004';
const GiB = 1n << 30n;

export type AccessModeName = 'SINGLE_NODE_WRITER' | 'MULTI_NODE_MULTI_WRITER' | 'SINGLE_NODE_READER_ONLY';
export const MOUNT = { mount: { fs_type: 'ext4', mount_flags: [] as string[] }, access_mode: { mode: 'SINGLE_NODE_WRITER' as AccessModeName } };
export const BLOCK = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' as AccessModeName } };

export interface Fixture {
  id: string;
  staging: string;
  target: string;
}

export interface Answer {
  code: number;
  details: string;
}

export class HostileRig {
  readonly clients: CsiClients;
  /** Volumes the fixtures made, by label. */
  v!: Fixture;
  w!: Fixture;
  b!: Fixture;
  /** A volume created but not published anywhere. */
  idle = '';
  snapshotId = '';
  systemId = '';
  storagePoolId = '';

  private constructor(
    readonly tmp: string,
    readonly pool: PoolProcess,
    readonly driver: DriverProcess,
    readonly kubeletRoot: string,
    readonly stateDir: string,
  ) {
    this.clients = csiClients(driver.socket);
  }

  static async start(prefix: string, options: { kubeletRootSetting?: boolean } = {}): Promise<HostileRig> {
    const tmp = await realpath(await mkdtemp(path.join(os.tmpdir(), prefix)));
    const pool = await startPool({ hosts: [{ name: 'node01', guid: NODE_GUID }, { name: 'node02', guid: OTHER_GUID }], logLevel: 'info' });
    const kubeletRoot = path.join(tmp, 'kubelet');
    const stateDir = path.join(tmp, 'state');
    await mkdir(kubeletRoot, { recursive: true });
    const config = path.join(tmp, 'ferry.yaml');
    // FERRY_RIG_NO_KUBELET_ROOT: for measuring the code before kubeletRoots existed (its schema refuses the key).
    const rootSetting = options.kubeletRootSetting !== false && process.env['FERRY_RIG_NO_KUBELET_ROOT'] === undefined;
    await writeFile(
      config,
      [
        ...powerFlexBackendYaml(pool, ['requestTimeoutSeconds: 20']),
        'node:',
        `  sdcGuid: ${NODE_GUID}`,
        `  deviceDir: ${path.join(pool.dataDir, 'hosts', NODE_GUID, 'by-id')}`,
        `  stateDir: ${stateDir}`,
        '  deviceWaitSeconds: 2',
        '  cleanupIntervalSeconds: 0',
        ...(rootSetting ? ['  kubeletRoots:', `    - ${kubeletRoot}`] : []),
        '',
      ].join('\n'),
    );
    const driver = await startDriver(['--mode', 'all', '--kubernetes', 'off', '--config', config, '--log-level', 'info']);
    const rig = new HostileRig(tmp, pool, driver, kubeletRoot, stateDir);
    try {
      await rig.makeFixtures();
    } catch (err) {
      await rig.close();
      throw err;
    }
    return rig;
  }

  path(...parts: string[]): string {
    return path.join(this.kubeletRoot, ...parts);
  }

  private async attach(name: string, capability: typeof MOUNT | typeof BLOCK): Promise<Fixture> {
    const made = await call(this.clients.controller, 'CreateVolume', { name, capacity_range: { required_bytes: String(GiB) }, volume_capabilities: [capability] }, 20_000);
    const id = made.volume?.volume_id ?? '';
    await call(this.clients.controller, 'ControllerPublishVolume', { volume_id: id, node_id: NODE_GUID, volume_capability: capability }, 20_000);
    const staging = this.path('plugins', 'kubernetes.io', 'csi', 'ferry', name, 'globalmount');
    const target = this.path('pods', `pod-${name}`, 'volumes', name);
    await call(this.clients.node, 'NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: capability, volume_context: made.volume?.volume_context ?? {} }, 60_000);
    await call(this.clients.node, 'NodePublishVolume', { volume_id: id, staging_target_path: staging, target_path: target, volume_capability: capability }, 60_000);
    return { id, staging, target };
  }

  private async makeFixtures(): Promise<void> {
    this.v = await this.attach('pvc-v', MOUNT);
    this.w = await this.attach('pvc-w', MOUNT);
    this.b = await this.attach('pvc-b', BLOCK);
    const idle = await call(this.clients.controller, 'CreateVolume', { name: 'pvc-idle', capacity_range: { required_bytes: String(GiB) }, volume_capabilities: [MOUNT] }, 20_000);
    this.idle = idle.volume?.volume_id ?? '';
    const snap = await call(this.clients.controller, 'CreateSnapshot', { name: 'snap-v', source_volume_id: this.v.id }, 20_000);
    this.snapshotId = snap.snapshot?.snapshot_id ?? '';
    this.systemId = /^pool:([0-9a-f]{16})-/.exec(this.v.id)?.[1] ?? '';
    const pools = await this.pool.api<{ id: string }[]>('GET', '/api/types/StoragePool/instances');
    this.storagePoolId = pools.body[0]?.id ?? '';
    // What a hostile caller points at: /etc stands in as `outside`, reached through symlinks inside the root.
    await mkdir(path.join(this.tmp, 'outside', 'etc'), { recursive: true });
    await writeFile(path.join(this.tmp, 'outside', 'etc', 'passwd'), 'root:x:0:0\n');
    await mkdir(this.path('pods'), { recursive: true });
    await symlink(path.join(this.tmp, 'outside', 'etc'), this.path('pods', 'link-to-etc'));
    await symlink(path.join(this.tmp, 'outside'), this.path('pods', 'link-dir'));
    await mkdir(this.path('pods', 'stranger'), { recursive: true });
    await exec('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'stranger', this.path('pods', 'stranger')], { timeoutMs: 10_000 });
    await writeFile(this.path('pods', 'stranger', 'data'), 'not yours\n');
  }

  /** A made-up id with this system's id: shaped right, but no such volume. */
  madeUpId(): string {
    return `pool:${this.systemId}-00000000deadbeef`;
  }

  wrongSystem(id: string): string {
    return id.replace(/^pool:[0-9a-f]{16}-/, 'pool:ffffffffffffffff-');
  }

  /** Everything a call could change, as one comparable text. */
  async state(): Promise<string> {
    const mounts = (await mountLines())
      .filter((m) => m.mountPoint === this.tmp || m.mountPoint.startsWith(`${this.tmp}/`))
      .map((m) => `${m.mountPoint} ${m.fsType} ${m.majorMinor} ${m.source}`)
      .sort();
    const loops = (await this.pool.loopDevices()).map((l) => `${l.name} ${l.backFile}`).sort();
    const volumes = await this.pool.api<Volume[]>('GET', '/api/types/Volume/instances');
    const pool = volumes.body
      .map((v) => `${v.id} ${v.name ?? ''} ${v.sizeInKb} ${v.ancestorVolumeId ?? ''} [${(v.mappedSdcInfo ?? []).map((m) => `${m.sdcId}:${m.accessMode ?? ''}`).sort().join(',')}]`)
      .sort();
    const files = await listTree(this.tmp, [this.pool.dataDir]);
    return JSON.stringify({ mounts, loops, pool, files }, null, 1);
  }

  /** A CSI call by service and method name; its code (OK included) and message. */
  async answer(service: 'identity' | 'controller' | 'node', rpc: string, request: object, timeoutMs = 15_000): Promise<Answer> {
    try {
      await callByName(this.clients[service] as unknown as Client, rpc, request, timeoutMs);
      return { code: status.OK, details: '' };
    } catch (err) {
      if (err instanceof CsiCallError) return { code: err.code ?? -1, details: err.details };
      throw err;
    }
  }

  /** A unary call whose request is `bytes` as they are (no protobuf encoding): what a garbage sender sends. */
  rawCall(service: string, rpc: string, bytes: Buffer, timeoutMs = 10_000): Promise<Answer> {
    const client = new Client(`unix:${this.driver.socket}`, credentials.createInsecure());
    return new Promise<Answer>((resolve) => {
      client.makeUnaryRequest(
        `/csi.v1.${service}/${rpc}`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        { deadline: Date.now() + timeoutMs },
        (err) => {
          client.close();
          resolve(err ? { code: err.code, details: err.details } : { code: status.OK, details: '' });
        },
      );
    });
  }

  /** Raw HTTP to the pool with a body of any bytes (no JSON encoding). */
  async rawHttp(method: string, urlPath: string, body: string | undefined, auth: 'admin' | 'none' = 'admin'): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = { Accept: 'application/json', 'Content-Type': 'application/json' };
    if (auth === 'admin') {
      const token = await this.pool.login();
      headers.Authorization = `Basic ${Buffer.from(`${this.pool.username}:${token}`).toString('base64')}`;
    }
    const res = await fetch(new URL(urlPath, this.pool.url), { method, headers, ...(body === undefined ? {} : { body }) });
    return { status: res.status, text: await res.text() };
  }

  /** Whether the driver process is still running. */
  alive(): boolean {
    return this.driver.child.exitCode === null && this.driver.child.signalCode === null;
  }

  /**
   * Takes back what a call the suite expected to fail did after all (a mount it made, a volume it created), so the
   * next case starts from the same state: mounts under the temp dir that are not in `baseline`, leaves first, and
   * pool volumes not in it. Answers what it took back.
   */
  async restore(baseline: string): Promise<string[]> {
    const before = JSON.parse(baseline) as { mounts: string[]; pool: string[] };
    const undone: string[] = [];
    for (let round = 0; round < 5; round++) {
      const extra = (await mountLines()).filter(
        (m) => (m.mountPoint === this.tmp || m.mountPoint.startsWith(`${this.tmp}/`)) && !before.mounts.includes(`${m.mountPoint} ${m.fsType} ${m.majorMinor} ${m.source}`),
      );
      if (extra.length === 0) break;
      const top = extra[extra.length - 1];
      if (!top) break;
      await exec('umount', ['-l', '--', top.mountPoint], { timeoutMs: 10_000 }).catch(() => undefined);
      undone.push(`umount ${top.mountPoint}`);
    }
    const known = new Set(before.pool.map((l) => l.split(' ')[0]));
    const volumes = await this.pool.api<Volume[]>('GET', '/api/types/Volume/instances');
    for (const v of volumes.body.filter((x) => !known.has(x.id))) {
      const id = `pool:${this.systemId}-${v.id}`;
      await call(this.clients.controller, 'ControllerUnpublishVolume', { volume_id: id, node_id: '' }, 20_000).catch(() => undefined);
      await call(this.clients.controller, v.ancestorVolumeId ? 'DeleteSnapshot' : 'DeleteVolume', (v.ancestorVolumeId ? { snapshot_id: id } : { volume_id: id }) as never, 20_000).catch(() => undefined);
      undone.push(`delete ${v.id}`);
    }
    // What the call took down (a stage, a publish) comes back: the fixtures' own calls are idempotent.
    for (const [f, capability] of [[this.v, MOUNT], [this.w, MOUNT], [this.b, BLOCK]] as const) {
      await call(this.clients.node, 'NodeStageVolume', { volume_id: f.id, staging_target_path: f.staging, volume_capability: capability }, 60_000).catch(() => undefined);
      await call(this.clients.node, 'NodePublishVolume', { volume_id: f.id, staging_target_path: f.staging, target_path: f.target, volume_capability: capability }, 60_000).catch(() => undefined);
    }
    return undone;
  }

  async close(): Promise<void> {
    this.clients.close();
    await this.driver.stop().catch(() => undefined);
    await unmountAllUnder(this.tmp);
    await cleanupAllPools();
    await rm(this.tmp, { recursive: true, force: true });
  }
}

/** Every entry under `dir` (not crossing into `skip`): path, type, size, and the content hash of small files. */
async function listTree(dir: string, skip: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(d)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const p = path.join(d, name);
      if (skip.includes(p) || name.endsWith('.sock')) continue;
      const st = await lstat(p).catch(() => undefined);
      if (!st) continue;
      if (st.isSymbolicLink()) out.push(`${p} -> ${await readlink(p)}`);
      else if (st.isDirectory()) {
        out.push(`${p}/`);
        await walk(p);
      } else if (st.isFile() && st.size < 65_536) {
        out.push(`${p} ${createHash('sha256').update(await readFile(p)).digest('hex').slice(0, 12)}`);
      } else out.push(`${p} ${st.isBlockDevice() ? 'block' : 'other'} ${st.size}`);
    }
  };
  await walk(dir);
  return out;
}
