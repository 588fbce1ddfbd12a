import { status } from '@grpc/grpc-js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CsiCallError } from '../../../src/harness/csi-client.js';
import type { Volume } from '../../../src/pool/wire.js';
import { call, csiClients, type CsiClients } from '../../helpers/csi-client.js';
import { startDriver, type DriverProcess } from '../../helpers/driver-process.js';
import { cleanupAllPools, powerFlexBackendYaml, startPool, type PoolProcess } from '../../helpers/pool.js';

/**
 * The controller against what a hostile or buggy caller sends (issue 14, Build 2): volume ids whose system part is
 * not the configured system or that are not ids Ferry makes, StorageClass parameters and volume-context values the
 * node would refuse, and mutable_parameters Ferry cannot honour. A real `ferry driver --mode controller` over gRPC on a
 * real `ferry pool`; each case asserts the gRPC code and that the pool's volumes, snapshots and mappings are unchanged.
 */
const NODE01 = '0A0B0C0D-1111-4A1B-8C1D-000000000001';
const NODE02 = '0A0B0C0D-2222-4A1B-8C1D-000000000002';
const GiB = 1n << 30n;
const MOUNT = { mount: { fs_type: 'ext4', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ferry-ctrl-bad-'));
let pool: PoolProcess;
let driver: DriverProcess;
let c: CsiClients;
/** The real volume (published on node01) and its snapshot: `pool:<system>-<volume>`. */
let volumeId = '';
let snapshotId = '';
let systemId = '';
let localVolume = '';

interface Case {
  name: string;
  rpc: string;
  request: () => object;
  code: number;
  /** A text the error must contain: the field named. */
  names?: string;
}

/** The clone (pvc-clone): a real volume published nowhere, so a wrong-system call cannot fail for want of an SDC. */
let cloneId = '';
const wrongSystem = (): string => `pool:ffffffffffffffff-${localVolume}`;
const wrongSystemClone = (): string => `pool:ffffffffffffffff-${cloneId.split('-')[1] ?? ''}`;

function createVolume(name: string, parameters: Record<string, string>, extra: () => object = () => ({})): () => object {
  return () => ({ name, capacity_range: { required_bytes: String(GiB) }, volume_capabilities: [MOUNT], parameters, ...extra() });
}

const MKFS_REFUSED = ['-F /dev/sda', '; rm -rf /', '$(id)', '-d /etc', '-E offset=4096', '--help', '-N 4294967295', '-N 0x10', '-N 99999999999999999999999'];

const CASES: Case[] = [
  // A volume id naming a system this backend does not serve: never the configured system's volume of that number.
  { name: 'ControllerGetVolume, wrong system', rpc: 'ControllerGetVolume', request: () => ({ volume_id: wrongSystem() }), code: status.NOT_FOUND },
  { name: 'ValidateVolumeCapabilities, wrong system', rpc: 'ValidateVolumeCapabilities', request: () => ({ volume_id: wrongSystem(), volume_capabilities: [MOUNT] }), code: status.NOT_FOUND },
  { name: 'ControllerPublishVolume, wrong system', rpc: 'ControllerPublishVolume', request: () => ({ volume_id: wrongSystem(), node_id: NODE02, volume_capability: MOUNT }), code: status.NOT_FOUND },
  // CSI: a volume or node that cannot be found is already unpublished / deleted: OK, and nothing is touched.
  { name: 'ControllerUnpublishVolume, wrong system (real volume stays mapped)', rpc: 'ControllerUnpublishVolume', request: () => ({ volume_id: wrongSystem(), node_id: NODE01 }), code: status.OK },
  { name: 'ControllerUnpublishVolume, wrong system, all nodes', rpc: 'ControllerUnpublishVolume', request: () => ({ volume_id: wrongSystem() }), code: status.OK },
  { name: 'DeleteVolume, wrong system (real volume stays)', rpc: 'DeleteVolume', request: () => ({ volume_id: wrongSystem() }), code: status.OK },
  { name: 'DeleteSnapshot, wrong system (real snapshot stays)', rpc: 'DeleteSnapshot', request: () => ({ snapshot_id: `pool:ffffffffffffffff-${snapshotId.split('-')[1] ?? ''}` }), code: status.OK },
  { name: 'ControllerGetVolume, wrong system, unpublished volume', rpc: 'ControllerGetVolume', request: () => ({ volume_id: wrongSystemClone() }), code: status.NOT_FOUND },
  { name: 'ValidateVolumeCapabilities, wrong system, unpublished volume', rpc: 'ValidateVolumeCapabilities', request: () => ({ volume_id: wrongSystemClone(), volume_capabilities: [MOUNT] }), code: status.NOT_FOUND },
  { name: 'ControllerPublishVolume, wrong system, unpublished volume', rpc: 'ControllerPublishVolume', request: () => ({ volume_id: wrongSystemClone(), node_id: NODE02, volume_capability: MOUNT }), code: status.NOT_FOUND },
  { name: 'DeleteVolume, wrong system, unpublished volume (it stays)', rpc: 'DeleteVolume', request: () => ({ volume_id: wrongSystemClone() }), code: status.OK },
  { name: 'ControllerExpandVolume, wrong system, unpublished volume', rpc: 'ControllerExpandVolume', request: () => ({ volume_id: wrongSystemClone(), capacity_range: { required_bytes: String(16n * GiB) } }), code: status.NOT_FOUND },
  { name: 'ControllerExpandVolume, wrong system', rpc: 'ControllerExpandVolume', request: () => ({ volume_id: wrongSystem(), capacity_range: { required_bytes: String(16n * GiB) } }), code: status.NOT_FOUND },
  { name: 'CreateSnapshot, source in wrong system', rpc: 'CreateSnapshot', request: () => ({ name: 'snap-bad', source_volume_id: wrongSystem() }), code: status.NOT_FOUND },
  { name: 'CreateVolume, clone source in wrong system', rpc: 'CreateVolume', request: createVolume('pvc-bad-clone', {}, () => ({ volume_content_source: { volume: { volume_id: wrongSystem() } } })), code: status.NOT_FOUND },
  { name: 'CreateVolume, clone source in wrong system, name of an existing clone', rpc: 'CreateVolume', request: createVolume('pvc-clone', {}, () => ({ volume_content_source: { volume: { volume_id: wrongSystem() } } })), code: status.NOT_FOUND },
  // Ids Ferry cannot have made: the volume does not exist (csi-sanity's fake ids expect NOT_FOUND too).
  ...['pool:zz', 'pool:SYS_VOL', 'pool:SYS--VOL', 'pool:SYS-VOL-', 'pool:-VOL', 'pool: SYS-VOL', 'nobackend:SYS-VOL', 'SYS-VOL'].map(
    (shape): Case => ({
      name: `ControllerGetVolume, malformed id ${shape}`,
      rpc: 'ControllerGetVolume',
      request: () => ({ volume_id: shape.replace('SYS', systemId).replace('VOL', localVolume) }),
      code: status.NOT_FOUND,
    }),
  ),
  { name: 'ControllerGetVolume, upper-case hex', rpc: 'ControllerGetVolume', request: () => ({ volume_id: `pool:${systemId.toUpperCase()}-${localVolume.toUpperCase()}` }), code: status.NOT_FOUND },
  { name: 'ControllerGetVolume, 15 hex', rpc: 'ControllerGetVolume', request: () => ({ volume_id: `pool:${systemId}-${localVolume.slice(1)}` }), code: status.NOT_FOUND },
  // StorageClass parameters the node would refuse: refused at CreateVolume, naming the parameter.
  ...MKFS_REFUSED.map(
    (text, i): Case => ({ name: `CreateVolume, mkfsOptions "${text}"`, rpc: 'CreateVolume', request: createVolume(`pvc-mkfs-${i}`, { mkfsOptions: text }), code: status.INVALID_ARGUMENT, names: 'mkfsOptions' }),
  ),
  { name: 'CreateVolume, xfs mkfsOptions "-N"', rpc: 'CreateVolume', request: createVolume('pvc-xfs-n', { 'csi.storage.k8s.io/fstype': 'xfs', mkfsOptions: '-N' }), code: status.INVALID_ARGUMENT, names: 'mkfsOptions' },
  { name: 'CreateVolume, fstype btrfs', rpc: 'CreateVolume', request: createVolume('pvc-btrfs', { 'csi.storage.k8s.io/fstype': 'btrfs' }), code: status.INVALID_ARGUMENT, names: 'fstype' },
  { name: 'CreateVolume, fstype "ext4;id"', rpc: 'CreateVolume', request: createVolume('pvc-fs-shell', { 'csi.storage.k8s.io/fstype': 'ext4;id' }), code: status.INVALID_ARGUMENT, names: 'fstype' },
  { name: 'CreateVolume, preemption yolo', rpc: 'CreateVolume', request: createVolume('pvc-yolo', { preemption: 'yolo' }), code: status.INVALID_ARGUMENT, names: 'preemption' },
  { name: 'CreateVolume, mutable_parameters', rpc: 'CreateVolume', request: createVolume('pvc-mutable', {}, () => ({ mutable_parameters: { iops: '1000' } })), code: status.INVALID_ARGUMENT, names: 'mutable_parameters' },
  // QoS (issue 15): the gateway's rules, at CreateVolume, ControllerPublish and ControllerModifyVolume; nothing changes.
  { name: 'CreateVolume, bandwidthLimitInKbps not on the 1024 grain', rpc: 'CreateVolume', request: createVolume('pvc-bw', { bandwidthLimitInKbps: '1500' }), code: status.INVALID_ARGUMENT, names: 'bandwidthLimitInKbps' },
  { name: 'CreateVolume, iopsLimit 10', rpc: 'CreateVolume', request: createVolume('pvc-iops', { iopsLimit: '10' }), code: status.INVALID_ARGUMENT, names: 'iopsLimit' },
  { name: 'CreateVolume, mutable iopsLimit "fast"', rpc: 'CreateVolume', request: createVolume('pvc-iops-m', {}, () => ({ mutable_parameters: { iopsLimit: 'fast' } })), code: status.INVALID_ARGUMENT, names: 'mutable_parameters iopsLimit' },
  { name: 'ControllerModifyVolume, immutable key', rpc: 'ControllerModifyVolume', request: () => ({ volume_id: volumeId, mutable_parameters: { storagePool: 'other' } }), code: status.INVALID_ARGUMENT, names: 'storagePool' },
  { name: 'ControllerModifyVolume, bad bandwidth', rpc: 'ControllerModifyVolume', request: () => ({ volume_id: volumeId, mutable_parameters: { bandwidthLimitInKbps: '999' } }), code: status.INVALID_ARGUMENT, names: 'bandwidthLimitInKbps' },
  { name: 'ControllerModifyVolume, no volume id', rpc: 'ControllerModifyVolume', request: () => ({ volume_id: '', mutable_parameters: { iopsLimit: '100' } }), code: status.INVALID_ARGUMENT, names: 'volume_id' },
  { name: 'ControllerModifyVolume, wrong system', rpc: 'ControllerModifyVolume', request: () => ({ volume_id: wrongSystem(), mutable_parameters: { iopsLimit: '100' } }), code: status.NOT_FOUND },
  { name: 'ControllerModifyVolume, a snapshot id', rpc: 'ControllerModifyVolume', request: () => ({ volume_id: snapshotId, mutable_parameters: { iopsLimit: '100' } }), code: status.NOT_FOUND },
  // Volume context values at ControllerPublish (a static PV's attributes come straight from its author).
  ...[
    { preemption: 'yolo' },
    { fsType: 'btrfs' },
    { fsType: 'ext4', mkfsOptions: '-d /etc' },
    { fsType: 'ext4', mkfsOptions: '-N 4294967296' },
    { bandwidthLimitInKbps: '100' },
    { iopsLimit: '-5' },
  ].map(
    (context): Case => ({
      name: `ControllerPublishVolume, volume_context ${JSON.stringify(context)}`,
      rpc: 'ControllerPublishVolume',
      request: () => ({ volume_id: cloneId, node_id: NODE02, volume_capability: MOUNT, volume_context: context }),
      code: status.INVALID_ARGUMENT,
      names: 'volume_context',
    }),
  ),
];

/** Everything the pool holds that a controller call could change: volumes (snapshots included), sizes, mappings. */
async function poolState(): Promise<string> {
  const volumes = await pool.api<Volume[]>('GET', '/api/types/Volume/instances');
  expect(volumes.status).toBe(200);
  const view = volumes.body
    .map((v) => ({ id: v.id, name: v.name, sizeInKb: v.sizeInKb, ancestor: v.ancestorVolumeId, mapped: (v.mappedSdcInfo ?? []).map((m) => `${m.sdcId} ${m.limitIops} ${m.limitBwInMbps}`).sort() }))
    .sort((a, b) => a.id.localeCompare(b.id));
  return JSON.stringify(view);
}

async function codeOf(rpc: string, request: object): Promise<{ code: number; details: string }> {
  try {
    await call(c.controller, rpc as 'ControllerGetVolume', request as never, 15_000);
    return { code: status.OK, details: '' };
  } catch (err) {
    if (err instanceof CsiCallError) return { code: err.code ?? -1, details: err.details };
    throw err;
  }
}

beforeAll(async () => {
  pool = await startPool({ hosts: [{ name: 'node01', guid: NODE01 }, { name: 'node02', guid: NODE02 }] });
  const config = path.join(tmp, 'controller.yaml');
  writeFileSync(config, [...powerFlexBackendYaml(pool), ''].join('\n'));
  driver = await startDriver(['--mode', 'controller', '--kubernetes', 'off', '--config', config]);
  c = csiClients(driver.socket);
  const made = await call(c.controller, 'CreateVolume', { name: 'pvc-real', capacity_range: { required_bytes: String(GiB) }, volume_capabilities: [MOUNT] }, 15_000);
  volumeId = made.volume?.volume_id ?? '';
  const match = /^pool:([0-9a-f]{16})-([0-9a-f]{16})$/.exec(volumeId);
  if (!match?.[1] || !match[2]) throw new Error(`unexpected volume id ${volumeId}`);
  systemId = match[1];
  localVolume = match[2];
  expect(systemId).not.toBe('ffffffffffffffff');
  await call(c.controller, 'ControllerPublishVolume', { volume_id: volumeId, node_id: NODE01, volume_capability: MOUNT }, 15_000);
  const snap = await call(c.controller, 'CreateSnapshot', { name: 'snap-real', source_volume_id: volumeId }, 15_000);
  snapshotId = snap.snapshot?.snapshot_id ?? '';
  // A clone named pvc-clone exists, so a request of that name with a wrong-system source reaches the adopt path.
  const clone = await call(c.controller, 'CreateVolume', { name: 'pvc-clone', capacity_range: { required_bytes: String(GiB) }, volume_capabilities: [MOUNT], volume_content_source: { volume: { volume_id: volumeId } } }, 15_000);
  cloneId = clone.volume?.volume_id ?? '';
  expect(cloneId).toMatch(/^pool:[0-9a-f]{16}-[0-9a-f]{16}$/);
}, 60_000);

afterAll(async () => {
  c.close();
  await driver.stop();
  await cleanupAllPools();
  rmSync(tmp, { recursive: true, force: true });
});

const seen: string[] = [];
afterAll(() => {
  process.stdout.write(`\ncontroller bad input: ${seen.length} cases\n${seen.join('\n')}\n`);
});

test.each(CASES)('$name → code $code, pool unchanged', async ({ rpc, request, code, names }) => {
  const before = await poolState();
  const answer = await codeOf(rpc, request());
  seen.push(`${status[answer.code]}\t${rpc}\t${JSON.stringify(request()).slice(0, 160)}\t${answer.details.slice(0, 120)}`);
  expect({ code: status[answer.code], details: answer.details }).toEqual({ code: status[code], details: expect.any(String) });
  if (names !== undefined) expect(answer.details).toContain(names);
  expect(await poolState()).toBe(before);
});

test('the allow-list still lets good values through (the refusals above are not blanket)', async () => {
  const before = JSON.parse(await poolState()) as unknown[];
  const made = await call(
    c.controller,
    'CreateVolume',
    { name: 'pvc-good-mkfs', capacity_range: { required_bytes: String(GiB) }, volume_capabilities: [MOUNT], parameters: { mkfsOptions: '-b 4096 -N 65536 -E stride=16', preemption: 'never' } },
    15_000,
  );
  expect(made.volume?.volume_context).toEqual({ backend: 'pool', fsType: 'ext4', mkfsOptions: '-b 4096 -N 65536 -E stride=16', preemption: 'never' });
  const id = made.volume?.volume_id ?? '';
  await call(c.controller, 'ControllerPublishVolume', { volume_id: id, node_id: NODE02, volume_capability: MOUNT, volume_context: made.volume?.volume_context ?? {} }, 15_000);
  expect((JSON.parse(await poolState()) as unknown[]).length).toBe(before.length + 1);
  await call(c.controller, 'ControllerUnpublishVolume', { volume_id: id, node_id: NODE02 }, 15_000);
  await call(c.controller, 'DeleteVolume', { volume_id: id }, 15_000);
  expect(JSON.parse(await poolState())).toEqual(before);
});
