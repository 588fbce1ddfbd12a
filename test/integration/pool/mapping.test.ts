import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { lstat, open, readlink, stat } from 'node:fs/promises';
import type { ErrorBody, Sdc, SnapshotVolumesAnswer, StoragePool, System, Volume, VolumeStatistics } from '../../../src/pool/wire.js';
import { hostDeviceLink } from '../../../src/pool/paths.js';
import { exec } from '../../../src/util/exec.js';
import { cleanupAllPools, startPool, type PoolProcess } from '../../helpers/pool.js';

/** Mapping volumes to hosts with real loop devices and links, growing them, snapshots and reverts. */
const GiB = 1024 ** 3;

let pool: PoolProcess;
let poolId: string;
let systemId: string;
const sdc: Record<string, Sdc> = {};

beforeAll(async () => {
  pool = await startPool({
    capacity: '4Ti',
    hosts: [
      { name: 'node1', guid: 'GUID-0001' },
      { name: 'node2', guid: 'GUID-0002' },
      { name: 'node3', guid: 'GUID-0003' },
    ],
  });
  const systems = (await pool.api<System[]>('GET', '/api/types/System/instances')).body;
  // Without --system-name the system is unnamed, as a system nobody named.
  expect(systems.map((s) => s.name)).toEqual([null]);
  systemId = systems[0]?.id ?? '';
  poolId = (await pool.api<StoragePool[]>('GET', '/api/types/StoragePool/instances')).body[0]?.id ?? '';
  for (const s of (await pool.api<Sdc[]>('GET', '/api/types/Sdc/instances')).body) sdc[s.name ?? ''] = s;
}, 60_000);

afterAll(cleanupAllPools, 60_000);

function sdcId(name: string): string {
  const found = sdc[name];
  if (!found) throw new Error(`no SDC ${name}`);
  return found.id;
}

function linkOf(host: string, volumeId: string): string {
  return hostDeviceLink(pool.dataDir, sdc[host]?.sdcGuid ?? '', systemId, volumeId);
}

async function create(name: string, gib = 8): Promise<string> {
  const answer = await pool.api<{ id: string }>('POST', '/api/types/Volume/instances', { name, volumeSizeInGb: String(gib), storagePoolId: poolId });
  expect(answer.status).toBe(200);
  return answer.body.id;
}

function action<T = ErrorBody>(volumeId: string, name: string, body: unknown): ReturnType<typeof pool.api<T>> {
  return pool.api<T>('POST', `/api/instances/Volume::${volumeId}/action/${name}`, body);
}

async function map(volumeId: string, host: string, extra: Record<string, string> = {}): Promise<void> {
  const answer = await action(volumeId, 'addMappedSdc', { sdcId: sdcId(host), allowMultipleMappings: 'FALSE', ...extra });
  expect([answer.status, answer.text]).toEqual([200, '{}']);
}

async function deviceSize(device: string): Promise<number> {
  return Number((await exec('blockdev', ['--getsize64', device])).stdout.trim());
}

async function writeAt(device: string, offset: number, data: Buffer): Promise<void> {
  const handle = await open(device, 'r+');
  try {
    await handle.write(data, 0, data.length, offset);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readAt(device: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(device, 'r');
  try {
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, offset);
    return buffer;
  } finally {
    await handle.close();
  }
}

async function devicesOf(volumeId: string): Promise<{ name: string; readOnly: boolean }[]> {
  return (await pool.loopDevices()).filter((d) => d.backFile.endsWith(`/${volumeId}.img`));
}

describe('mapping', () => {
  it('maps a volume to a host: the link appears and is a readable block device of the volume size', async () => {
    const id = await create('map-me', 10);
    await map(id, 'node1');
    const link = linkOf('node1', id);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    const device = await readlink(link);
    expect(device).toMatch(/^\/dev\/loop\d+$/);
    expect((await stat(link)).isBlockDevice()).toBe(true);
    expect(await deviceSize(link)).toBe(16 * GiB);
    const volume = await pool.api<Volume>('GET', `/api/instances/Volume::${id}`);
    expect(volume.body.mappedSdcInfo).toEqual([
      { sdcId: sdcId('node1'), sdcIp: '127.0.0.1', sdcName: 'node1', accessMode: 'ReadWrite', limitIops: 0, limitBwInMbps: 0 },
    ]);

    // Data written through the device lands in the volume and is counted as I/O.
    const data = randomBytes(64 * 1024);
    await writeAt(link, 1024 * 1024, data);
    expect((await readAt(link, 1024 * 1024, data.length)).equals(data)).toBe(true);
    const io = await pool.api<VolumeStatistics>('GET', `/api/instances/Volume::${id}/relationships/Statistics`);
    expect(io.body.userDataWriteBwc.numOccured).toBeGreaterThan(0);
    expect(io.body.userDataWriteBwc.totalWeightInKb).toBeGreaterThanOrEqual(64);
    expect(io.body.numOfMappedSdcs).toBe(1);

    // Unmapping removes the link and detaches the loop device.
    expect((await action(id, 'removeMappedSdc', { sdcId: sdcId('node1') })).status).toBe(200);
    await expect(lstat(link)).rejects.toThrow(/ENOENT/);
    expect(await devicesOf(id)).toEqual([]);
    expect((await exec('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'])).stdout).not.toContain(`${id}.img`);
    expect((await pool.api<Volume>('GET', `/api/instances/Volume::${id}`)).body.mappedSdcInfo).toBeNull();
  });

  it('maps one volume to several hosts over one shared writable loop device, and read-only hosts over a read-only one', async () => {
    const id = await create('shared');
    await map(id, 'node1');
    const again = await action(id, 'addMappedSdc', { sdcId: sdcId('node1'), allowMultipleMappings: 'TRUE' });
    expect(again.body).toEqual({ message: 'The volume is already mapped to this SDC', httpStatusCode: 500, errorCode: 81 });
    const single = await action(id, 'addMappedSdc', { sdcId: sdcId('node2'), allowMultipleMappings: 'FALSE' });
    expect(single.body).toEqual({
      message: 'This volume is already mapped and may not be mapped to additional SDCs.',
      httpStatusCode: 500,
      errorCode: 297,
    });
    // By GUID (case-insensitively) and with the boolean spelt as some clients spell it.
    expect((await action(id, 'addMappedSdc', { guid: 'guid-0002', allowMultipleMappings: 'True' })).status).toBe(200);
    await map(id, 'node3', { allowMultipleMappings: 'true', accessMode: 'ReadOnly' });

    const rw1 = await readlink(linkOf('node1', id));
    const rw2 = await readlink(linkOf('node2', id));
    const ro = await readlink(linkOf('node3', id));
    expect(rw2).toBe(rw1);
    expect(ro).not.toBe(rw1);
    expect((await exec('blockdev', ['--getro', ro])).stdout.trim()).toBe('1');
    expect((await exec('blockdev', ['--getro', rw1])).stdout.trim()).toBe('0');
    const devices = await devicesOf(id);
    expect(devices.filter((d) => !d.readOnly)).toHaveLength(1);
    expect(devices.filter((d) => d.readOnly)).toHaveLength(1);

    const data = randomBytes(4096);
    await writeAt(linkOf('node1', id), 0, data);
    expect((await readAt(linkOf('node2', id), 0, 4096)).equals(data)).toBe(true);

    const mapped = await action(id, 'removeVolume', { removeMode: 'ONLY_ME' });
    expect(mapped.body).toEqual({ message: 'Volume is mapped', httpStatusCode: 500, errorCode: 104 });

    // Unmapping one host leaves the others' links alone; the host may be named by GUID, as for mapping.
    const unmapped = await action(id, 'removeMappedSdc', { guid: 'guid-0002' });
    expect([unmapped.status, unmapped.text]).toEqual([200, '{}']);
    await expect(lstat(linkOf('node2', id))).rejects.toThrow(/ENOENT/);
    expect(await readlink(linkOf('node1', id))).toBe(rw1);
    const notMapped = await action(id, 'removeMappedSdc', { sdcId: sdcId('node2') });
    expect(notMapped.body).toEqual({ message: 'The volume is not mapped to SDC', httpStatusCode: 500, errorCode: 84 });
    const unknownGuid = await action(id, 'removeMappedSdc', { guid: 'GUID-9999' });
    expect(unknownGuid.body).toEqual({ message: 'Could not find the SDC', httpStatusCode: 500, errorCode: 80 });

    // allSdcs ("" as most clients send it) removes the rest, and every loop device goes.
    expect((await action(id, 'removeMappedSdc', { allSdcs: '' })).status).toBe(200);
    await expect(lstat(linkOf('node1', id))).rejects.toThrow(/ENOENT/);
    await expect(lstat(linkOf('node3', id))).rejects.toThrow(/ENOENT/);
    expect(await devicesOf(id)).toEqual([]);
    expect((await action(id, 'removeVolume', { removeMode: 'ONLY_ME' })).status).toBe(200);
  });

  it('answers 80 for an unknown SDC and records QoS limits', async () => {
    const id = await create('qos');
    const unknown = await action(id, 'addMappedSdc', { sdcId: '0123456789abcdef' });
    expect(unknown.body).toEqual({ message: 'Could not find the SDC', httpStatusCode: 500, errorCode: 80 });
    const notMapped = await action(id, 'setMappedSdcLimits', { sdcId: sdcId('node1'), iopsLimit: '100' });
    expect(notMapped.body).toEqual({ message: 'The volume is not mapped to SDC', httpStatusCode: 500, errorCode: 84 });
    await map(id, 'node1');
    const limited = await action(id, 'setMappedSdcLimits', { sdcId: sdcId('node1'), iopsLimit: '100', bandwidthLimitInKbps: '10240' });
    expect([limited.status, limited.text]).toEqual([200, '{}']);
    const volume = await pool.api<Volume>('GET', `/api/instances/Volume::${id}`);
    expect(volume.body.mappedSdcInfo?.[0]).toMatchObject({ limitIops: 100, limitBwInMbps: 10 });
    await action(id, 'removeMappedSdc', { allSdcs: 'true' });
  });

  it('grows a mapped volume and the device sees the new size', async () => {
    const id = await create('grow-mapped');
    await map(id, 'node1');
    const link = linkOf('node1', id);
    const data = randomBytes(4096);
    await writeAt(link, 0, data);
    expect(await deviceSize(link)).toBe(8 * GiB);
    expect((await action(id, 'setVolumeSize', { sizeInGB: '20' })).status).toBe(200);
    expect((await pool.api<Volume>('GET', `/api/instances/Volume::${id}`)).body.sizeInKb).toBe(24 * 1024 * 1024);
    expect(await deviceSize(link)).toBe(24 * GiB);
    expect((await readAt(link, 0, 4096)).equals(data)).toBe(true);
    await writeAt(link, 20 * GiB, data);
    expect((await readAt(link, 20 * GiB, 4096)).equals(data)).toBe(true);
    await action(id, 'removeMappedSdc', { sdcId: sdcId('node1') });
  });
});

describe('snapshots', () => {
  it('snapshots a mapped volume: the snapshot holds the data of that moment and shares the tree', async () => {
    const id = await create('snap-source');
    await map(id, 'node1');
    const before = randomBytes(8192);
    await writeAt(linkOf('node1', id), 4096, before);

    const snap = await pool.api<SnapshotVolumesAnswer>('POST', `/api/instances/System::${systemId}/action/snapshotVolumes`, {
      snapshotDefs: [{ volumeId: id, snapshotName: 'snap-1' }],
      accessModeLimit: 'ReadOnly',
    });
    expect(snap.status).toBe(200);
    expect(snap.body.volumeIdList).toHaveLength(1);
    const snapId = snap.body.volumeIdList[0] ?? '';
    const source = (await pool.api<Volume>('GET', `/api/instances/Volume::${id}`)).body;
    const snapshot = (await pool.api<Volume>('GET', `/api/instances/Volume::${snapId}`)).body;
    expect(snapshot).toMatchObject({
      name: 'snap-1',
      volumeType: 'Snapshot',
      ancestorVolumeId: id,
      vtreeId: source.vtreeId,
      consistencyGroupId: snap.body.snapshotGroupId,
      sizeInKb: source.sizeInKb,
      accessModeLimit: 'ReadOnly',
    });

    // Later writes to the source do not reach the snapshot.
    await writeAt(linkOf('node1', id), 4096, randomBytes(8192));
    await map(snapId, 'node2');
    const snapLink = linkOf('node2', snapId);
    expect((await readAt(snapLink, 4096, 8192)).equals(before)).toBe(true);
    // A ReadOnly snapshot is exposed read-only whatever the mapping asked for.
    expect((await exec('blockdev', ['--getro', snapLink])).stdout.trim()).toBe('1');
    await action(snapId, 'removeMappedSdc', { sdcId: sdcId('node2') });

    // Revert in place: the source gets the snapshot's content back.
    await action(id, 'removeMappedSdc', { sdcId: sdcId('node1') });
    expect((await action(id, 'overwriteVolumeContent', { srcVolumeId: snapId })).status).toBe(200);
    await map(id, 'node1');
    expect((await readAt(linkOf('node1', id), 4096, 8192)).equals(before)).toBe(true);
    expect(await deviceSize(linkOf('node1', id))).toBe(8 * GiB);
    await action(id, 'removeMappedSdc', { sdcId: sdcId('node1') });

    const other = await create('other-tree');
    const crossTree = await action(id, 'overwriteVolumeContent', { srcVolumeId: other });
    expect(crossTree.status).toBe(400);

    // Names share one namespace with volumes.
    const taken = await pool.api<ErrorBody>('POST', `/api/instances/System::${systemId}/action/snapshotVolumes`, {
      snapshotDefs: [{ volumeId: id, snapshotName: 'other-tree' }],
    });
    expect([taken.status, taken.body.errorCode]).toEqual([500, 99]);

    const removed = await pool.api<{ numberOfVolumes: number }>('POST', `/api/instances/System::${systemId}/action/removeConsistencyGroupSnapshots`, {
      snapGroupId: snap.body.snapshotGroupId,
    });
    expect(removed.body).toEqual({ numberOfVolumes: 1 });
    expect((await pool.api<ErrorBody>('GET', `/api/instances/Volume::${snapId}`)).body.errorCode).toBe(79);
  });

  it('clones with a ReadWrite snapshot that can be written, and removes a tree', async () => {
    const id = await create('clone-source');
    const snap = await pool.api<SnapshotVolumesAnswer>('POST', `/api/instances/System::${systemId}/action/snapshotVolumes`, {
      snapshotDefs: [{ volumeId: id, snapshotName: 'clone-1' }],
      accessModeLimit: 'ReadWrite',
    });
    const cloneId = snap.body.volumeIdList[0] ?? '';
    await map(cloneId, 'node1');
    const data = randomBytes(4096);
    await writeAt(linkOf('node1', cloneId), 0, data);
    expect((await readAt(linkOf('node1', cloneId), 0, 4096)).equals(data)).toBe(true);
    await action(cloneId, 'removeMappedSdc', { sdcId: sdcId('node1') });
    expect((await action(id, 'removeVolume', { removeMode: 'INCLUDING_DESCENDANTS' })).status).toBe(200);
    expect((await pool.api<ErrorBody>('GET', `/api/instances/Volume::${cloneId}`)).body.errorCode).toBe(79);
  });

  it('holds at most 126 snapshots per tree (182)', async () => {
    const id = await create('many-snaps');
    const defs = Array.from({ length: 126 }, (_, i) => ({ volumeId: id, snapshotName: `many-${i}` }));
    const full = await pool.api<SnapshotVolumesAnswer>('POST', `/api/instances/System::${systemId}/action/snapshotVolumes`, { snapshotDefs: defs });
    expect(full.status).toBe(200);
    expect(full.body.volumeIdList).toHaveLength(126);
    const oneMore = await pool.api<ErrorBody>('POST', `/api/instances/System::${systemId}/action/snapshotVolumes`, {
      snapshotDefs: [{ volumeId: id, snapshotName: 'many-126' }],
    });
    expect([oneMore.status, oneMore.body.errorCode]).toEqual([500, 182]);
    expect((await action(id, 'removeVolume', { removeMode: 'WHOLE_VTREE' })).status).toBe(200);
  }, 120_000);
});
