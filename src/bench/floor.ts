import { spawn } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PoolHandle } from '../harness/pool.js';

/**
 * The floor of `bench:provision`: what one volume's life costs without the driver. The same gateway requests the
 * driver sends for each RPC (read from its debug log: `gateway request` lines) and the same commands it runs (`exec`
 * lines), made directly: node:https on a keep-alive agent like the driver's, and node:child_process with no wrapper
 * (no parent-death setpriv, no child ledger, no logging: those are the driver's cost, which is what the comparison
 * measures). Nothing here checks answers beyond what the next step needs; the driver's run is the one that is checked.
 */
export type FloorRpc =
  | 'CreateVolume'
  | 'ControllerPublishVolume'
  | 'NodeStageVolume'
  | 'NodePublishVolume'
  | 'NodeUnpublishVolume'
  | 'NodeUnstageVolume'
  | 'ControllerUnpublishVolume'
  | 'DeleteVolume';

interface Answer {
  status: number;
  body: string;
}

/** The pool's gateway API, as a bare client: one login, then the session token on every request. */
export class FloorGateway {
  private readonly agent: http.Agent;
  private authorization = '';
  private accept = 'application/json';

  private constructor(
    private readonly base: URL,
    ca: Buffer | undefined,
  ) {
    // The driver's transport settings (src/backends/powerflex/transport.ts): keep-alive, 32 sockets.
    const common = { keepAlive: true, maxSockets: 32, timeout: 4_000 };
    this.agent = base.protocol === 'https:' ? new https.Agent({ ...common, ...(ca ? { ca } : {}) }) : new http.Agent(common);
  }

  static async connect(pool: PoolHandle): Promise<FloorGateway> {
    const ca = pool.caFile === undefined ? undefined : await readFile(pool.caFile);
    const gateway = new FloorGateway(new URL('/api/', pool.url), ca);
    const password = (await readFile(pool.passwordFile, 'utf8')).trim();
    gateway.authorization = basic(pool.username, password);
    const token = JSON.parse((await gateway.send('GET', 'login')).body) as string;
    gateway.authorization = basic(pool.username, token);
    const version = JSON.parse((await gateway.send('GET', 'version')).body) as string;
    gateway.accept = `application/json;version=${version}`;
    return gateway;
  }

  /** One request; any status outside `ok` is an error (the floor has no retries: nothing should fail). */
  async send(method: 'GET' | 'POST', apiPath: string, body?: unknown, ok: readonly number[] = [200]): Promise<Answer> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { authorization: this.authorization, accept: this.accept };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const url = new URL(apiPath, this.base);
    const answer = await new Promise<Answer>((resolve, reject) => {
      const request = (url.protocol === 'https:' ? https : http).request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      request.on('error', reject);
      request.end(payload);
    });
    if (!ok.includes(answer.status)) throw new Error(`floor: ${method} /api/${apiPath}: HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
    return answer;
  }

  close(): void {
    this.agent.destroy();
  }
}

function basic(user: string, secret: string): string {
  return `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
}

/** A command, straight from node:child_process: exit status 0 (or one of `ok`) or an error. */
function run(file: string, args: readonly string[], ok: readonly number[] = [0]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== null && ok.includes(code)) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`floor: ${file} ${args.join(' ')}: exit ${String(code)}: ${Buffer.concat(err).toString('utf8').trim()}`));
    });
  });
}

/** What one floor lifecycle needs to know, looked up once (the driver caches the same at its first login). */
export interface FloorContext {
  gateway: FloorGateway;
  systemId: string;
  storagePoolId: string;
  /** The host's SDC GUID; its SDC id is looked up per publish, as the driver does. */
  sdcGuid: string;
  byIdDir: string;
  dir: string;
  fsType: string;
  sizeKiB: bigint;
}

export async function floorContext(pool: PoolHandle, sdcGuid: string, dir: string, fsType: string, sizeBytes: number): Promise<FloorContext> {
  const gateway = await FloorGateway.connect(pool);
  const pools = JSON.parse((await gateway.send('GET', 'types/StoragePool/instances')).body) as { id: string; name: string }[];
  const storagePoolId = pools.find((p) => p.name === 'pool1')?.id;
  if (storagePoolId === undefined) throw new Error('floor: the pool has no storage pool "pool1"');
  return { gateway, systemId: pool.systemId, storagePoolId, sdcGuid, byIdDir: pool.byIdDir(sdcGuid), dir, fsType, sizeKiB: BigInt(sizeBytes) / 1024n };
}

async function sdcId(ctx: FloorContext): Promise<string> {
  const sdcs = JSON.parse((await ctx.gateway.send('GET', `instances/System::${ctx.systemId}/relationships/Sdc`)).body) as { id: string; sdcGuid: string }[];
  const id = sdcs.find((s) => s.sdcGuid === ctx.sdcGuid)?.id;
  if (id === undefined) throw new Error(`floor: no SDC with GUID ${ctx.sdcGuid}`);
  return id;
}

/** The device link appears when the mapping is made; polled every 250 ms, as the driver's waitForDevice does. */
async function waitForLink(link: string): Promise<string> {
  for (let i = 0; i < 120; i++) {
    const s = await stat(link).catch(() => undefined);
    if (s?.isBlockDevice()) return link;
    await sleep(250);
  }
  throw new Error(`floor: ${link} did not appear`);
}

/** One volume's life, each RPC's share of requests and commands timed under the RPC's name. */
export async function floorLifecycle(index: number, ctx: FloorContext, record: (rpc: FloorRpc, ms: number) => void): Promise<void> {
  const { gateway } = ctx;
  const name = `floor-${String(index).padStart(5, '0')}`;
  const stagingPath = path.join(ctx.dir, 'floor-staging', name);
  const targetPath = path.join(ctx.dir, 'floor-pods', name, 'volume');
  const timed = async <T>(rpc: FloorRpc, step: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const value = await step();
    record(rpc, performance.now() - started);
    return value;
  };
  const notFound = [200, 500];
  let volumeId: string | undefined;
  let staged = false;
  let published = false;
  let mapped = false;
  try {
    volumeId = await timed('CreateVolume', async () => {
      await gateway.send('POST', 'types/Volume/instances/action/queryIdByKey', { name }, notFound);
      const body = { name, volumeSizeInKb: ctx.sizeKiB.toString(), storagePoolId: ctx.storagePoolId, volumeType: 'ThinProvisioned' };
      const created = JSON.parse((await gateway.send('POST', 'types/Volume/instances', body)).body) as { id: string };
      await gateway.send('POST', 'types/Volume/instances/action/queryIdByKey', { name });
      await gateway.send('GET', `instances/Volume::${created.id}`);
      return created.id;
    });
    const id = volumeId;
    await timed('ControllerPublishVolume', async () => {
      await gateway.send('GET', `instances/Volume::${id}`);
      await gateway.send('POST', `instances/Volume::${id}/action/addMappedSdc`, { sdcId: await sdcId(ctx), allowMultipleMappings: 'FALSE' });
      mapped = true;
    });
    const link = path.join(ctx.byIdDir, `emc-vol-${ctx.systemId}-${id}`);
    await timed('NodeStageVolume', async () => {
      const device = await waitForLink(link);
      await run('blkid', ['-p', '-o', 'export', '--', device], [0, 2]);
      await run('blkid', ['-p', '-o', 'export', '--', device], [0, 2]);
      const mkfs = ctx.fsType === 'xfs' ? ['mkfs.xfs', ['-f', '--', device]] as const : ['mkfs.ext4', ['-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1', '--', device]] as const;
      await run(mkfs[0], mkfs[1]);
      await mkdir(stagingPath, { recursive: true });
      await run('mount', ['-t', ctx.fsType, '--', device, stagingPath]);
      staged = true;
    });
    await timed('NodePublishVolume', async () => {
      await mkdir(targetPath, { recursive: true });
      await run('mount', ['--bind', '--', stagingPath, targetPath]);
      published = true;
    });
    await timed('NodeUnpublishVolume', async () => {
      await run('umount', ['--', targetPath]);
      published = false;
    });
    await timed('NodeUnstageVolume', async () => {
      await run('umount', ['--', stagingPath]);
      staged = false;
    });
    await timed('ControllerUnpublishVolume', async () => {
      await gateway.send('GET', `instances/Volume::${id}`);
      await gateway.send('POST', `instances/Volume::${id}/action/removeMappedSdc`, { sdcId: await sdcId(ctx) });
      mapped = false;
    });
    await timed('DeleteVolume', async () => {
      await gateway.send('GET', `instances/Volume::${id}`);
      await gateway.send('POST', `instances/Volume::${id}/action/removeVolume`, { removeMode: 'ONLY_ME' });
    });
    volumeId = undefined;
  } finally {
    // After a failure: undo what this volume holds, so the bench's final check finds nothing of it.
    if (published) await run('umount', ['--', targetPath]).catch(() => undefined);
    if (staged) await run('umount', ['--', stagingPath]).catch(() => undefined);
    const id = volumeId;
    if (id !== undefined) {
      if (mapped) await gateway.send('POST', `instances/Volume::${id}/action/removeMappedSdc`, { allSdcs: '' }).catch(() => undefined);
      await gateway.send('POST', `instances/Volume::${id}/action/removeVolume`, { removeMode: 'ONLY_ME' }).catch(() => undefined);
    }
  }
}
