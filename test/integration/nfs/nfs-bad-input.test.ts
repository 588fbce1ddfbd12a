import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { CsiCallError } from '../../../src/harness/csi-client.js';
import { call, callByName, csiClients, type CsiClients } from '../../helpers/csi-client.js';
import { startNfsHarness, type NamespacedDriver, type NfsHarness } from '../../helpers/nfs-harness.js';
import { tallyLine, type Outcome } from '../../helpers/bad-input-tally.js';
import type { Client } from '@grpc/grpc-js';

/**
 * Issue 14's bad-input table where the NFS backend applies: `ferry driver --mode all` on the test NFS harness, two share
 * volumes staged and published, a foreign tmpfs and a symlink under the kubelet root. Each case asserts its code and
 * that the driver's mount table, the files on the export and the files under the kubelet root are unchanged. The
 * summary line counts tried / as expected / wrong code / accepted, as test/integration/driver/bad-input.test.ts does.
 */
const EXPORT = { server: 'nfs.bad.test', share: '/export' };
const NODE_ID = 'nfs-bad-node';
const GiB = 1024 ** 3;
let harness: NfsHarness;
let driver: NamespacedDriver;
let c: CsiClients;
let root = '';

interface Fixture {
  id: string;
  staging: string;
  target: string;
}
let v: Fixture;
let w: Fixture;

const mount = (flags: string[]): object => ({ mount: { fs_type: '', mount_flags: flags }, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } });
const MOUNT = mount([]);

async function attach(name: string): Promise<Fixture> {
  const made = await call(c.controller, 'CreateVolume', { name, capacity_range: { required_bytes: String(GiB) }, volume_capabilities: [MOUNT] });
  const id = made.volume?.volume_id ?? '';
  const staging = path.join(root, 'plugins', name, 'globalmount');
  const target = path.join(root, 'pods', `pod-${name}`, 'volumes', name);
  await call(c.node, 'NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: MOUNT, volume_context: made.volume?.volume_context ?? {} });
  await call(c.node, 'NodePublishVolume', { volume_id: id, staging_target_path: staging, target_path: target, volume_capability: MOUNT });
  return { id, staging, target };
}

beforeAll(async () => {
  harness = await startNfsHarness([EXPORT]);
  root = path.join(harness.dir, 'kubelet');
  mkdirSync(path.join(root, 'pods', 'stranger'), { recursive: true });
  mkdirSync(path.join(harness.dir, 'outside'), { recursive: true });
  symlinkSync(path.join(harness.dir, 'outside'), path.join(root, 'pods', 'link'));
  const config = [
    'backends:',
    '  - name: nfs',
    '    type: nfs',
    `    server: ${EXPORT.server}`,
    `    share: ${EXPORT.share}`,
    `    workDir: ${path.join(harness.dir, 'work')}`,
    '    mountTimeoutSeconds: 5',
    'node:',
    `  stateDir: ${path.join(harness.dir, 'state')}`,
    '  kubeletRoots:',
    `    - ${root}`,
    '',
  ].join('\n');
  driver = await harness.startDriver(['--mode', 'all', '--node-id', NODE_ID, '--log-level', 'info'], config);
  c = csiClients(driver.socket);
  // A tmpfs that is no volume, in the driver's own mount namespace.
  execFileSync('nsenter', ['-t', String(driver.pid), '-m', '--', 'mount', '-t', 'tmpfs', '-o', 'size=1m', 'stranger', path.join(root, 'pods', 'stranger')]);
  v = await attach('pvc-nfs-v');
  w = await attach('pvc-nfs-w');
}, 120_000);

const outcomes: Outcome[] = [];

afterAll(async () => {
  process.stdout.write(tallyLine('nfs bad input', outcomes));
  c?.close();
  await harness?.close();
}, 60_000);

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const p = path.join(d, name);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isSymbolicLink()) out.push(`${p} -> ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${p}/`);
        walk(p);
      } else out.push(`${p} ${st.isFile() && st.size < 65_536 ? createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 12) : st.size}`);
    }
  };
  walk(dir);
  return out;
}

/** The driver's mounts under the harness dir, the export's files, the files under the kubelet root and the state dir. */
function state(): string {
  const mounts = readFileSync(`/proc/${driver.pid}/mountinfo`, 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[4]?.startsWith(harness.dir))
    .map((f) => `${f[4]} ${f[3]} ${f[f.indexOf('-', 6) + 2]}`)
    .sort();
  return JSON.stringify({ mounts, export: listTree(harness.serverPath(EXPORT)), kubelet: listTree(driver.view(root)), state: listTree(driver.view(path.join(harness.dir, 'state'))) }, null, 1);
}

interface Case {
  name: string;
  service: 'controller' | 'node';
  rpc: string;
  request: () => object;
  code: number;
  names?: string;
}

const node = (name: string, rpc: string, request: () => object, code: number, names?: string): Case => ({ name: `${rpc}: ${name}`, service: 'node', rpc, request, code, ...(names ? { names } : {}) });
const ctrl = (name: string, rpc: string, request: () => object, code: number, names?: string): Case => ({ name: `${rpc}: ${name}`, service: 'controller', rpc, request, code, ...(names ? { names } : {}) });

/** Options a PV could carry that would point the mount elsewhere, smuggle a second option, or are not NFS's. */
const BAD_NFS_FLAGS = ['bind', 'remount', 'addr=10.0.0.1', 'clientaddr=10.0.0.1', 'nfsvers=4.1,bind', 'nfsvers=9', 'sec=weird', 'x-mount.mkdir', 'discard', 'proto=tcp;id'];

const CASES: Case[] = [
  ...BAD_NFS_FLAGS.map((flag) => node(`mount flag ${JSON.stringify(flag)}`, 'NodeStageVolume', () => ({ volume_id: v.id, staging_target_path: v.staging, volume_capability: mount([flag]) }), status.INVALID_ARGUMENT, 'mount_flags')),
  ...BAD_NFS_FLAGS.slice(0, 4).map((flag) => ctrl(`mount flag ${JSON.stringify(flag)}`, 'CreateVolume', () => ({ name: `pvc-nfs-flag-${flag.replace(/[^a-z]/g, '')}`, capacity_range: { required_bytes: String(GiB) }, volume_capabilities: [mount([flag])] }), status.INVALID_ARGUMENT, 'mount_flags')),
  ctrl('mount flag "bind"', 'ValidateVolumeCapabilities', () => ({ volume_id: v.id, volume_capabilities: [mount(['bind'])] }), status.INVALID_ARGUMENT, 'mount_flags'),
  ctrl('mount flag "addr=10.0.0.1"', 'ControllerPublishVolume', () => ({ volume_id: v.id, node_id: NODE_ID, volume_capability: mount(['addr=10.0.0.1']) }), status.INVALID_ARGUMENT, 'mount_flags'),
  node("W's id over V's stage", 'NodeUnstageVolume', () => ({ volume_id: w.id, staging_target_path: v.staging }), status.FAILED_PRECONDITION),
  node("W's id over V's target", 'NodeUnpublishVolume', () => ({ volume_id: w.id, target_path: v.target }), status.FAILED_PRECONDITION),
  node("W's id from V's stage", 'NodePublishVolume', () => ({ volume_id: w.id, staging_target_path: v.staging, target_path: path.join(root, 'pods', 'new', 'w'), volume_capability: MOUNT }), status.FAILED_PRECONDITION),
  node("W's id at V's stage", 'NodeStageVolume', () => ({ volume_id: w.id, staging_target_path: v.staging, volume_capability: MOUNT }), status.ALREADY_EXISTS),
  node("W's id on V's target", 'NodeGetVolumeStats', () => ({ volume_id: w.id, volume_path: v.target }), status.NOT_FOUND),
  node("W's id on V's target", 'NodeExpandVolume', () => ({ volume_id: w.id, volume_path: v.target }), status.NOT_FOUND),
  node('the foreign tmpfs', 'NodeGetVolumeStats', () => ({ volume_id: v.id, volume_path: path.join(root, 'pods', 'stranger') }), status.NOT_FOUND),
  node('the foreign tmpfs', 'NodeUnpublishVolume', () => ({ volume_id: v.id, target_path: path.join(root, 'pods', 'stranger') }), status.FAILED_PRECONDITION),
  node('the foreign tmpfs', 'NodeUnstageVolume', () => ({ volume_id: v.id, staging_target_path: path.join(root, 'pods', 'stranger') }), status.FAILED_PRECONDITION),
  node('a staging path through a symlink', 'NodeStageVolume', () => ({ volume_id: v.id, staging_target_path: path.join(root, 'pods', 'link', 'stage'), volume_capability: MOUNT }), status.INVALID_ARGUMENT, 'staging_target_path'),
  node('a target outside the kubelet root', 'NodePublishVolume', () => ({ volume_id: v.id, staging_target_path: v.staging, target_path: path.join(harness.dir, 'outside', 't'), volume_capability: MOUNT }), status.INVALID_ARGUMENT, 'target_path'),
  node("the volume's own staging path as the target", 'NodePublishVolume', () => ({ volume_id: v.id, staging_target_path: v.staging, target_path: v.staging, volume_capability: MOUNT }), status.INVALID_ARGUMENT, 'target_path'),
  node('a raw block capability', 'NodeStageVolume', () => ({ volume_id: v.id, staging_target_path: path.join(root, 'plugins', 'raw'), volume_capability: { block: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } } }), status.INVALID_ARGUMENT),
  node('a made-up id', 'NodeGetVolumeStats', () => ({ volume_id: 'nfs:garbage', volume_path: v.target }), status.NOT_FOUND),
  node('the export root', 'NodeGetVolumeStats', () => ({ volume_id: v.id, volume_path: '/' }), status.NOT_FOUND),
];

async function answer(cs: Case): Promise<{ code: number; details: string }> {
  try {
    await callByName(c[cs.service] as unknown as Client, cs.rpc, cs.request(), 15_000);
    return { code: status.OK, details: '' };
  } catch (err) {
    if (err instanceof CsiCallError) return { code: err.code ?? -1, details: err.details };
    throw err;
  }
}

test.each(CASES.map((cs) => [cs.name, cs] as const))('%s', async (_name, cs) => {
  const before = state();
  const got = await answer(cs);
  const after = state();
  const changed = after !== before;
  const verdict: Outcome['verdict'] = changed || (got.code === status.OK && cs.code !== status.OK) ? 'accepted' : got.code === cs.code ? 'as expected' : 'wrong code';
  outcomes.push({ name: cs.name, verdict, got: `${status[got.code]}${changed ? ' (changed state)' : ''}: ${got.details.slice(0, 160)}` });
  expect(status[got.code]).toBe(status[cs.code]);
  expect(after).toBe(before);
  if (cs.names !== undefined) expect(got.details).toContain(cs.names);
});

test('good NFS options still pass, and V and W stay published', async () => {
  const flags = ['nfsvers=4.1', 'hard', 'timeo=600', 'noatime'];
  const made = await call(c.controller, 'CreateVolume', { name: 'pvc-nfs-good', capacity_range: { required_bytes: String(GiB) }, volume_capabilities: [mount(flags)] });
  const id = made.volume?.volume_id ?? '';
  const staging = path.join(root, 'plugins', 'good', 'globalmount');
  await call(c.node, 'NodeStageVolume', { volume_id: id, staging_target_path: staging, volume_capability: mount(flags) });
  const line = harness.helperLog().find((l) => l.includes(staging)) ?? '';
  for (const f of flags) expect(line).toContain(f);
  await call(c.node, 'NodeUnstageVolume', { volume_id: id, staging_target_path: staging });
  await call(c.controller, 'DeleteVolume', { volume_id: id });
  for (const f of [v, w]) expect((await answer(node('', 'NodeGetVolumeStats', () => ({ volume_id: f.id, volume_path: f.target }), 0))).code).toBe(status.OK);
});
