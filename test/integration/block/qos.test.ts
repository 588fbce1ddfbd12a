import { mkdir, readFile, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { exec } from '../../../src/util/exec.js';
import { findBlkioMount } from '../../../src/pool/blkio-throttle.js';
import type { Volume as WireVolume } from '../../../src/pool/wire.js';
import type { VolumeCapability } from '../../../src/gen/csi/v1/VolumeCapability.js';
import { call } from '../../helpers/csi-client.js';
import type { BlockCluster, NodeName } from '../../helpers/block-cluster.js';
import { useBlockCluster, GiB, blockCapability, grpcError } from '../../helpers/block-cluster.js';
import { eventually } from '../../helpers/eventually.js';

/**
 * Issue 15, points 1 and 2: per-mapping QoS, enforced for real. A raw block volume with csi-powerflex's
 * `bandwidthLimitInKbps` is published through the real controller, node plugin and `ferry pool`; `dd` with direct
 * I/O through the publish target measures the throughput the pool's blkio throttle lets through (within 10 %),
 * ControllerModifyVolume changes bandwidth and IOPS live on the mapping, a later mapping on the other node and a
 * take-over keep the modified limits, and the throttle rules go with the mapping.
 */
let cluster: BlockCluster;

useBlockCluster('ferry-block-qos-', (started) => (cluster = started));

const MiB = 1024 * 1024;
const TOLERANCE = 0.1;

interface Measured {
  bytes: number;
  seconds: number;
}

/** Runs dd (C locale) and reads its own byte count and elapsed time, so process start-up does not count. */
async function dd(args: string[], cgroupDir?: string): Promise<Measured> {
  const command = ['dd', ...args];
  // A child blkio cgroup: the shell moves itself in, then becomes dd.
  const [program, argv] = cgroupDir === undefined ? ['dd', args] : ['sh', ['-c', `echo $$ > "$0/cgroup.procs" && exec "$@"`, cgroupDir, ...command]];
  const { stderr } = await exec(program as string, argv as string[], { timeoutMs: 60_000, env: { LC_ALL: 'C' } });
  const match = /(\d+) bytes .* copied, ([0-9.]+) s/.exec(stderr);
  if (!match) throw new Error(`cannot read dd's figures from: ${stderr}`);
  return { bytes: Number(match[1]), seconds: Number(match[2]) };
}

async function writeBandwidth(target: string, mib: number, cgroupDir?: string): Promise<number> {
  const m = await dd([`if=/dev/zero`, `of=${target}`, 'bs=1M', `count=${mib}`, 'oflag=direct', 'conv=notrunc'], cgroupDir);
  return m.bytes / m.seconds / MiB;
}

async function readBandwidth(target: string, mib: number): Promise<number> {
  const m = await dd([`if=${target}`, 'of=/dev/null', 'bs=1M', `count=${mib}`, 'iflag=direct'], undefined);
  return m.bytes / m.seconds / MiB;
}

async function writeIops(target: string, ops: number): Promise<number> {
  const m = await dd([`if=/dev/zero`, `of=${target}`, 'bs=4k', `count=${ops}`, 'oflag=direct', 'conv=notrunc'], undefined);
  return m.bytes / 4096 / m.seconds;
}

function expectNear(measured: number, limit: number, what: string): void {
  process.stdout.write(`QoS ${what}: limit ${limit}, measured ${measured.toFixed(2)}\n`);
  expect(measured).toBeGreaterThan(limit * (1 - TOLERANCE));
  expect(measured).toBeLessThan(limit * (1 + TOLERANCE));
}

async function mapping(volumeId: string): Promise<WireVolume['mappedSdcInfo']> {
  const local = volumeId.slice(volumeId.indexOf(':') + 1);
  const gatewayId = local.slice(local.indexOf('-') + 1);
  const res = await cluster.pool.api<WireVolume>('GET', `/api/instances/Volume::${gatewayId}`);
  return res.body.mappedSdcInfo;
}

/** The root blkio cgroup's rule for a device, e.g. "7:3 10485760", or undefined. */
async function rootRule(device: string, file: string): Promise<string | undefined> {
  const root = (await findBlkioMount()) ?? '/sys/fs/cgroup/blkio';
  const number = (await readFile(`/sys/block/${path.basename(device)}/dev`, 'utf8')).trim();
  const text = await readFile(path.join(root, file), 'utf8');
  return text.split('\n').find((l) => l.startsWith(`${number} `));
}

async function controllerPublish(volumeId: string, node: NodeName, capability: VolumeCapability, context: Record<string, string>): Promise<void> {
  await call(cluster.controller, 'ControllerPublishVolume', { volume_id: volumeId, node_id: cluster.nodeId(node), volume_capability: capability, volume_context: context });
}

describe('QoS limits on block volumes (bandwidthLimitInKbps, iopsLimit)', () => {
  it('holds the StorageClass limit, changes it live, keeps it on a later mapping and a take-over, and lifts it on unmap', async () => {
    const cap = blockCapability();
    const volume = await cluster.createVolume('pvc-qos', { capability: cap, requiredBytes: 8n * GiB, parameters: { bandwidthLimitInKbps: '10240' } });
    expect(volume.volume_context).toMatchObject({ bandwidthLimitInKbps: '10240' });
    const context = volume.volume_context;

    // Published with the StorageClass's 10 MiB/s.
    await controllerPublish(volume.volume_id, 'node01', cap, context);
    expect(await mapping(volume.volume_id)).toEqual([expect.objectContaining({ limitBwInMbps: 10, limitIops: 0 })]);
    await cluster.stage('node01', volume.volume_id, 'qos', cap);
    const target = await cluster.publish('node01', volume.volume_id, 'qos', cap);
    const device = await cluster.device('node01', volume.volume_id);
    expect(await rootRule(device, 'blkio.throttle.write_bps_device')).toMatch(/ 10485760$/);
    expectNear(await writeBandwidth(target, 40), 10, 'write MiB/s (StorageClass bandwidthLimitInKbps 10240)');
    expectNear(await readBandwidth(target, 40), 10, 'read MiB/s (StorageClass bandwidthLimitInKbps 10240)');

    // A cgroup made after the limit was set (a pod started later) is throttled too: v1 throttling is per cgroup.
    const blkio = (await findBlkioMount()) ?? '/sys/fs/cgroup/blkio';
    const child = path.join(blkio, `ferry-qos-test-${process.pid}`);
    await mkdir(child);
    try {
      const number = (await readFile(`/sys/block/${path.basename(device)}/dev`, 'utf8')).trim();
      await eventually(
        async () => ((await readFile(path.join(child, 'blkio.throttle.write_bps_device'), 'utf8')).includes(`${number} 10485760`) ? true : undefined),
        'the pool to give a new cgroup its rule',
        5_000,
      );
      expectNear(await writeBandwidth(target, 30, child), 10, 'write MiB/s from a child blkio cgroup');
    } finally {
      await rmdir(child);
    }

    // Live change: bandwidth doubled and an IOPS limit, on the mapping in use.
    await call(cluster.controller, 'ControllerModifyVolume', { volume_id: volume.volume_id, mutable_parameters: { bandwidthLimitInKbps: '20480', iopsLimit: '200' } });
    expect(await mapping(volume.volume_id)).toEqual([expect.objectContaining({ limitBwInMbps: 20, limitIops: 200 })]);
    expectNear(await writeBandwidth(target, 60), 20, 'write MiB/s after ControllerModifyVolume (20480)');
    expectNear(await writeIops(target, 1000), 200, 'write IOPS after ControllerModifyVolume (iopsLimit 200)');

    // Bad changes lose nothing.
    expect((await grpcError(call(cluster.controller, 'ControllerModifyVolume', { volume_id: volume.volume_id, mutable_parameters: { storagePool: 'other' } }))).code).toBe(3);
    expect((await grpcError(call(cluster.controller, 'ControllerModifyVolume', { volume_id: volume.volume_id, mutable_parameters: { iopsLimit: '5' } }))).code).toBe(3);
    expect((await grpcError(call(cluster.controller, 'ControllerModifyVolume', { volume_id: volume.volume_id, mutable_parameters: { bandwidthLimitInKbps: '1000' } }))).code).toBe(3);
    expect(await mapping(volume.volume_id)).toEqual([expect.objectContaining({ limitBwInMbps: 20, limitIops: 200 })]);

    // Unmapped: the rules go with the mapping.
    await cluster.detach('node01', volume.volume_id, 'qos');
    expect(await rootRule(device, 'blkio.throttle.write_bps_device')).toBeUndefined();
    expect(await rootRule(device, 'blkio.throttle.write_iops_device')).toBeUndefined();

    // A later mapping elsewhere, published with the original context (the CO never passes mutable parameters to
    // ControllerPublish), gets the modified limits.
    await controllerPublish(volume.volume_id, 'node02', cap, context);
    expect(await mapping(volume.volume_id)).toEqual([expect.objectContaining({ limitBwInMbps: 20, limitIops: 200 })]);

    // A forced take-over back to node01 carries the holder's limits over.
    await controllerPublish(volume.volume_id, 'node01', cap, { ...context, preemption: 'force' });
    const taken = await mapping(volume.volume_id);
    expect(taken).toHaveLength(1);
    expect(taken?.[0]).toMatchObject({ limitBwInMbps: 20, limitIops: 200 });
    await cluster.stage('node01', volume.volume_id, 'qos', cap);
    const again = await cluster.publish('node01', volume.volume_id, 'qos', cap);
    expectNear(await writeIops(again, 1000), 200, 'write IOPS after a take-over');
    await cluster.detach('node01', volume.volume_id, 'qos');
  }, 180_000);

  it('refuses bad QoS values at CreateVolume and unknown mutable parameters, and answers NOT_FOUND for an unknown volume', async () => {
    const cap = blockCapability();
    const bad = (parameters: Record<string, string>, mutable: Record<string, string> = {}): Promise<{ code: number; details: string }> =>
      grpcError(call(cluster.controller, 'CreateVolume', { name: 'pvc-qos-bad', volume_capabilities: [cap], parameters, mutable_parameters: mutable }));
    expect(await bad({ bandwidthLimitInKbps: '10M' })).toMatchObject({ code: 3, details: expect.stringContaining('bandwidthLimitInKbps') });
    expect(await bad({ bandwidthLimitInKbps: '1500' })).toMatchObject({ code: 3, details: expect.stringContaining('multiple of 1024') });
    expect(await bad({ iopsLimit: '10' })).toMatchObject({ code: 3, details: expect.stringContaining('iopsLimit') });
    expect(await bad({}, { thinOrThick: 'ThickProvisioned' })).toMatchObject({ code: 3, details: expect.stringContaining('not mutable') });
    expect(await bad({}, { iopsLimit: '-1' })).toMatchObject({ code: 3, details: expect.stringContaining('mutable_parameters iopsLimit') });
    // mutable_parameters win over parameters and reach the volume context.
    const made = await cluster.createVolume('pvc-qos-mutable', { capability: cap, requiredBytes: 8n * GiB, parameters: { iopsLimit: '100' } });
    expect(made.volume_context).toMatchObject({ iopsLimit: '100' });
    const res = await call(cluster.controller, 'CreateVolume', {
      name: 'pvc-qos-mutable2',
      capacity_range: { required_bytes: String(8n * GiB) },
      volume_capabilities: [cap],
      parameters: { iopsLimit: '100' },
      mutable_parameters: { iopsLimit: '300' },
    });
    if (res.volume) cluster.track('volume', res.volume.volume_id);
    expect(res.volume?.volume_context).toMatchObject({ iopsLimit: '300' });
    const unknown = made.volume_id.replace(/[0-9a-f]{4}$/, '0000');
    expect((await grpcError(call(cluster.controller, 'ControllerModifyVolume', { volume_id: unknown, mutable_parameters: { iopsLimit: '100' } }))).code).toBe(5);
    const caps = await call(cluster.controller, 'ControllerGetCapabilities', {});
    expect(caps.capabilities.map((c) => c.rpc?.type)).toContain('MODIFY_VOLUME');
  });
});
