import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { appendFile, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { call } from '../../helpers/csi-client.js';
import { mountLines } from '../../helpers/block-cluster.js';
import { BLOCK, HostileRig, MOUNT, NODE_GUID, OTHER_GUID, type Answer } from '../../helpers/hostile-rig.js';

/**
 * A bounded fuzzer over real gRPC (issue 14): valid requests for every Identity, Controller and Node RPC, aimed at the
 * rig's real volumes and paths, mutated (fields deleted, strings replaced by random text and bytes, huge and negative
 * sizes, paths bent with `..`, symlinks, /proc, long components, random capability combinations and mount flags, maps
 * grown) and a share of raw undecodable bytes. It fails on INTERNAL or UNKNOWN, on a call that outlives its deadline,
 * on the driver dying, and on a leak: after the run everything is taken down through CSI itself (every target and stage
 * the node's records know, every mapping, snapshot and volume the controller lists), and then no mount may be left
 * under the test root but the foreign tmpfs, no loop device of the pool, no volume in the pool.
 *
 * FERRY_FUZZ_SEED fixes the seed (printed either way); FERRY_FUZZ_CASES sets the number of calls (default 2000),
 * FERRY_FUZZ_SECONDS the time after which no new call starts (default 40).
 */
const SEED = Number(process.env['FERRY_FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const CASES = Number(process.env['FERRY_FUZZ_CASES'] ?? 2000);
/** FERRY_FUZZ_SECONDS: no new call after this long (the run stays bounded on a loaded machine); printed when it bites. */
const BUDGET_S = Number(process.env['FERRY_FUZZ_SECONDS'] ?? 40);
const WORKERS = 8;
/** FERRY_FUZZ_LOG: a file that gets every call and its answer, to replay a failing seed by hand. */
const LOG = process.env['FERRY_FUZZ_LOG'];
const DEADLINE_MS = 10_000;
let rig: HostileRig;

/** mulberry32: small, fast and the same everywhere for a seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(SEED);
const int = (n: number): number => Math.floor(random() * n);
function pick<T>(items: readonly T[]): T {
  const item = items[int(items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

const FLAGS = ['ro', 'rw', 'noatime', 'nodev', 'discard', 'data=ordered', 'inode64', 'nouuid', 'bind', 'remount', 'rbind', 'move', 'x', 'noatime,bind', 'errors=panic', 'commit=5', 'commit=x', '', ' ', 'a=b=c', 'nfsvers=4.1', 'hard'];
const MODES = ['SINGLE_NODE_WRITER', 'SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY', 'MULTI_NODE_SINGLE_WRITER', 'MULTI_NODE_MULTI_WRITER', 'SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER', 'UNKNOWN', 99];
const FS = ['', 'ext4', 'xfs', 'btrfs', 'nfs', 'ext4,bind', 'EXT4', '../xfs'];

function randomString(): string {
  switch (int(9)) {
    case 0:
      return '';
    case 1:
      return 'x'.repeat(pick([129, 300, 1025, 5000]));
    case 2:
      return String.fromCharCode(...Array.from({ length: 1 + int(40) }, () => int(0x250)));
    case 3:
      return pick(['\0', '\n', ',', '..', '/', '-F', '$(id)', '; rm -rf /', '%2e%2e', '\u202e']);
    case 4:
      return `pool:${rig.systemId}-${Array.from({ length: 16 }, () => '0123456789abcdef'[int(16)]).join('')}`;
    case 5:
      return Buffer.from(Array.from({ length: 1 + int(30) }, () => int(256))).toString('latin1');
    default:
      return Math.random().toString(36).slice(2, 2 + int(12));
  }
}

function randomPath(): string {
  const f = pick([rig.v, rig.w, rig.b]);
  switch (int(12)) {
    case 0:
      return `${f.staging}/..`;
    case 1:
      return `${rig.kubeletRoot}/pods/../../outside/etc`;
    case 2:
      return rig.path('pods', 'link-to-etc');
    case 3:
      return rig.path('pods', 'link-dir', 'etc', String(int(5)));
    case 4:
      return pick(['/', '/proc/self/fd/0', '/sys/kernel', '/dev/shm/x', '/etc', '/tmp', 'relative/x', '']);
    case 5:
      return rig.path('pods', 'stranger');
    case 6:
      return rig.path('pods', 'n'.repeat(pick([255, 256, 1000])));
    case 7:
      return `${f.target}/`;
    case 8:
      return `${rig.kubeletRoot}//pods/${int(3)}`;
    case 9:
      return pick([f.staging, f.target]);
    default:
      return rig.path('pods', `fuzz-${int(6)}`, 'volumes', `v${int(3)}`);
  }
}

function randomCapability(): object {
  const mode = { mode: pick(MODES) };
  switch (int(6)) {
    case 0:
      return { block: {}, access_mode: mode };
    case 1:
      return { access_mode: mode };
    case 2:
      return { mount: { fs_type: pick(FS), mount_flags: Array.from({ length: int(4) }, () => pick(FLAGS)) } };
    case 3:
      return { mount: {}, block: {}, access_mode: mode };
    default:
      return { mount: { fs_type: pick(FS), mount_flags: Array.from({ length: int(3) }, () => pick(FLAGS)) }, access_mode: mode };
  }
}

function randomMap(): Record<string, string> {
  const keys = ['backend', 'mkfsOptions', 'fsType', 'preemption', 'csi.storage.k8s.io/fstype', 'storagePool', 'x', 'csi.storage.k8s.io/pvc/name'];
  const values = ['pool', '-N 10', '-F /dev/sda', 'ext4', 'xfs', 'never', 'safe', 'yolo', '', 'pool1'];
  return Object.fromEntries(Array.from({ length: int(5) }, () => [int(8) === 0 ? randomString() : pick(keys), int(5) === 0 ? randomString() : pick(values)]));
}

function randomSize(): string {
  return pick(['0', '1', '-1', String(1n << 30n), String(8n << 30n), String(17n << 30n), '9223372036854775807', String(1n << 40n), String(int(2 ** 31))]);
}

function randomId(): string {
  return pick([rig.v.id, rig.w.id, rig.b.id, rig.idle, rig.snapshotId, rig.madeUpId(), rig.wrongSystem(rig.v.id), 'pool:zz', 'nfs:x', '', randomString()]);
}

type Service = 'identity' | 'controller' | 'node';
interface Template {
  service: Service;
  rpc: string;
  make: () => Record<string, unknown>;
}

const fx = () => pick([[rig.v, MOUNT], [rig.w, MOUNT], [rig.b, BLOCK]] as const);
const TEMPLATES: Template[] = [
  { service: 'identity', rpc: 'Probe', make: () => ({}) },
  { service: 'identity', rpc: 'GetPluginInfo', make: () => ({}) },
  { service: 'identity', rpc: 'GetPluginCapabilities', make: () => ({}) },
  { service: 'controller', rpc: 'ControllerGetCapabilities', make: () => ({}) },
  { service: 'controller', rpc: 'CreateVolume', make: () => ({ name: `fuzz-${int(20)}`, capacity_range: { required_bytes: String(1n << 30n) }, volume_capabilities: [MOUNT], parameters: {} }) },
  { service: 'controller', rpc: 'DeleteVolume', make: () => ({ volume_id: randomId() }) },
  { service: 'controller', rpc: 'ControllerPublishVolume', make: () => ({ volume_id: randomId(), node_id: pick([NODE_GUID, OTHER_GUID]), volume_capability: MOUNT, readonly: random() < 0.3 }) },
  { service: 'controller', rpc: 'ControllerUnpublishVolume', make: () => ({ volume_id: randomId(), node_id: pick([NODE_GUID, OTHER_GUID, '']) }) },
  { service: 'controller', rpc: 'ValidateVolumeCapabilities', make: () => ({ volume_id: randomId(), volume_capabilities: [MOUNT] }) },
  { service: 'controller', rpc: 'ListVolumes', make: () => ({ max_entries: int(5), starting_token: '' }) },
  { service: 'controller', rpc: 'GetCapacity', make: () => ({ volume_capabilities: [MOUNT], parameters: {} }) },
  { service: 'controller', rpc: 'ControllerGetVolume', make: () => ({ volume_id: randomId() }) },
  { service: 'controller', rpc: 'ControllerExpandVolume', make: () => ({ volume_id: randomId(), capacity_range: { required_bytes: String(16n << 30n) } }) },
  { service: 'controller', rpc: 'CreateSnapshot', make: () => ({ name: `fuzz-snap-${int(10)}`, source_volume_id: randomId() }) },
  { service: 'controller', rpc: 'DeleteSnapshot', make: () => ({ snapshot_id: randomId() }) },
  { service: 'controller', rpc: 'ListSnapshots', make: () => ({ source_volume_id: '', snapshot_id: '' }) },
  { service: 'node', rpc: 'NodeGetCapabilities', make: () => ({}) },
  { service: 'node', rpc: 'NodeGetInfo', make: () => ({}) },
  {
    service: 'node',
    rpc: 'NodeStageVolume',
    make: () => {
      const [f, cap] = fx();
      return { volume_id: f.id, staging_target_path: f.staging, volume_capability: cap, volume_context: {} };
    },
  },
  { service: 'node', rpc: 'NodeUnstageVolume', make: () => ({ volume_id: fx()[0].id, staging_target_path: fx()[0].staging }) },
  {
    service: 'node',
    rpc: 'NodePublishVolume',
    make: () => {
      const [f, cap] = fx();
      return { volume_id: f.id, staging_target_path: f.staging, target_path: random() < 0.5 ? f.target : rig.path('pods', `fuzz-${int(6)}`, 'volumes', 'v'), volume_capability: cap, readonly: random() < 0.2 };
    },
  },
  { service: 'node', rpc: 'NodeUnpublishVolume', make: () => ({ volume_id: fx()[0].id, target_path: fx()[0].target }) },
  { service: 'node', rpc: 'NodeGetVolumeStats', make: () => ({ volume_id: fx()[0].id, volume_path: fx()[0].target }) },
  { service: 'node', rpc: 'NodeExpandVolume', make: () => ({ volume_id: fx()[0].id, volume_path: fx()[0].target }) },
];

const PATH_FIELDS = new Set(['staging_target_path', 'target_path', 'volume_path']);
const ID_FIELDS = new Set(['volume_id', 'snapshot_id', 'source_volume_id', 'node_id']);

function mutate(request: Record<string, unknown>): void {
  const keys = Object.keys(request);
  const key = keys.length > 0 ? pick(keys) : undefined;
  switch (int(8)) {
    case 0:
      if (key !== undefined) delete request[key];
      return;
    case 1:
      if (key !== undefined && typeof request[key] === 'string') request[key] = PATH_FIELDS.has(key) ? randomPath() : ID_FIELDS.has(key) ? randomId() : randomString();
      return;
    case 2:
      for (const k of keys.filter((x) => PATH_FIELDS.has(x))) request[k] = randomPath();
      return;
    case 3:
      if ('volume_capability' in request) request['volume_capability'] = randomCapability();
      if ('volume_capabilities' in request) request['volume_capabilities'] = Array.from({ length: int(3) }, randomCapability);
      return;
    case 4:
      request[pick(['parameters', 'volume_context', 'secrets', 'mutable_parameters', 'publish_context'])] = randomMap();
      return;
    case 5:
      request['capacity_range'] = { required_bytes: randomSize(), limit_bytes: pick(['0', randomSize()]) };
      return;
    case 6:
      request[pick(['max_entries', 'starting_token', 'readonly', 'name'])] = pick([-1, 0, 3, 'garbage', true, randomString()]);
      return;
    default:
      request['volume_context'] = { fsType: pick(FS), mkfsOptions: pick(['', '-N 100', '-N 4294967296', '-d /etc', '$(id)']), preemption: pick(['never', 'safe', 'yolo']) };
  }
}

/** A request a protobuf encoder accepts: mutations may set a field to a type the message does not have. */
function typed(template: Template, request: Record<string, unknown>): Record<string, unknown> {
  for (const k of ['max_entries']) if (k in request && typeof request[k] !== 'number') delete request[k];
  for (const k of ['readonly']) if (k in request && typeof request[k] !== 'boolean') delete request[k];
  for (const k of ['name', 'starting_token']) if (k in request && typeof request[k] !== 'string') delete request[k];
  void template;
  return request;
}

const codes = new Map<string, number>();
const failures: string[] = [];
let tried = 0;

beforeAll(async () => {
  rig = await HostileRig.start('ferry-fuzz-');
}, 180_000);

afterAll(async () => {
  await rig?.close();
}, 120_000);

async function one(): Promise<void> {
  const template = pick(TEMPLATES);
  let answer: Answer;
  let shown: string;
  if (random() < 0.05) {
    const bytes = Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256)));
    shown = `raw ${bytes.toString('hex')}`;
    const service = template.service === 'identity' ? 'Identity' : template.service === 'controller' ? 'Controller' : 'Node';
    answer = await rig.rawCall(service, template.rpc, bytes, DEADLINE_MS);
  } else {
    const request = template.make();
    for (let i = 1 + int(3); i > 0; i--) mutate(request);
    shown = JSON.stringify(typed(template, request)).slice(0, 300);
    answer = await rig.answer(template.service, template.rpc, request, DEADLINE_MS);
  }
  tried++;
  const name = status[answer.code] ?? String(answer.code);
  if (LOG !== undefined) await appendFile(LOG, `${template.rpc} ${shown} → ${name}: ${answer.details.slice(0, 200)}\n`);
  codes.set(name, (codes.get(name) ?? 0) + 1);
  if (answer.code === status.INTERNAL || answer.code === status.UNKNOWN || answer.code === status.DEADLINE_EXCEEDED || !rig.alive()) {
    failures.push(`${template.rpc} ${shown} → ${name}: ${answer.details.slice(0, 200)}`);
  }
}

/** Everything taken down through CSI: the node's records say what it holds; the controller lists the rest. */
async function teardown(): Promise<string[]> {
  const problems: string[] = [];
  const records = await readdir(rig.stateDir).catch(() => [] as string[]);
  for (const file of records.filter((f) => f.endsWith('.json'))) {
    const record = JSON.parse(await readFile(path.join(rig.stateDir, file), 'utf8')) as { volumeId: string; stagingPath: string; targets: string[] };
    for (const target of record.targets) {
      await call(rig.clients.node, 'NodeUnpublishVolume', { volume_id: record.volumeId, target_path: target }, 30_000).catch((err: unknown) => problems.push(`unpublish ${target}: ${String(err)}`));
    }
    await call(rig.clients.node, 'NodeUnstageVolume', { volume_id: record.volumeId, staging_target_path: record.stagingPath }, 30_000).catch((err: unknown) => problems.push(`unstage ${record.stagingPath}: ${String(err)}`));
  }
  const snapshots = await call(rig.clients.controller, 'ListSnapshots', {}, 30_000);
  for (const s of snapshots.entries) await call(rig.clients.controller, 'DeleteSnapshot', { snapshot_id: s.snapshot?.snapshot_id ?? '' }, 30_000).catch((err: unknown) => problems.push(String(err)));
  const volumes = await call(rig.clients.controller, 'ListVolumes', {}, 30_000);
  // Clones and restored volumes first: a source with descendants may not go before them.
  const ordered = [...volumes.entries].sort((a, b) => Number(Boolean(b.volume?.content_source)) - Number(Boolean(a.volume?.content_source)));
  for (const v of ordered) {
    const id = v.volume?.volume_id ?? '';
    await call(rig.clients.controller, 'ControllerUnpublishVolume', { volume_id: id, node_id: '' }, 30_000).catch((err: unknown) => problems.push(String(err)));
    await call(rig.clients.controller, 'DeleteVolume', { volume_id: id }, 30_000).catch((err: unknown) => problems.push(String(err)));
  }
  return problems;
}

test(`${CASES} mutated requests: no INTERNAL, UNKNOWN or missed deadline, the driver up, nothing leaked`, async () => {
  const started = Date.now();
  let begun = 0;
  const workers = Array.from({ length: WORKERS }, async () => {
    while (begun < CASES && Date.now() - started < BUDGET_S * 1000) {
      begun++;
      await one();
    }
  });
  await Promise.all(workers);
  const seconds = (Date.now() - started) / 1000;
  if (LOG !== undefined) {
    for (const f of await readdir(rig.stateDir).catch(() => [] as string[])) {
      if (f.endsWith('.json')) await appendFile(LOG, `record ${await readFile(path.join(rig.stateDir, f), 'utf8')}\n`);
    }
  }
  const problems = await teardown();
  const leftMounts = (await mountLines()).filter((m) => m.mountPoint.startsWith(`${rig.tmp}/`) && m.mountPoint !== rig.path('pods', 'stranger')).map((m) => m.mountPoint);
  // The pool detaches a loop device once nothing holds it any more; a lazily unmounted filesystem lets go in its time.
  let leftLoops = (await rig.pool.loopDevices()).map((l) => l.name);
  for (let i = 0; i < 50 && leftLoops.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 200));
    leftLoops = (await rig.pool.loopDevices()).map((l) => l.name);
  }
  const leftVolumes = (await rig.pool.api<unknown[]>('GET', '/api/types/Volume/instances')).body.length;
  const histogram = [...codes.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
  process.stdout.write(
    `\nfuzz: seed ${SEED} (FERRY_FUZZ_SEED), ${tried} calls in ${seconds.toFixed(1)} s${tried < CASES ? ` (the ${BUDGET_S} s budget stopped it)` : ''}; ${histogram}; failures ${failures.length}; left: ${leftMounts.length} mounts, ${leftLoops.length} loop devices, ${leftVolumes} volumes\n${failures.slice(0, 20).join('\n')}\n`,
  );
  expect(failures).toEqual([]);
  expect(rig.alive()).toBe(true);
  expect(problems).toEqual([]);
  expect({ leftMounts, leftLoops, leftVolumes }).toEqual({ leftMounts: [], leftLoops: [], leftVolumes: 0 });
}, 300_000);
