import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { exec } from '../../../src/util/exec.js';
import { status } from '@grpc/grpc-js';
import { call } from '../../helpers/csi-client.js';
import type { BlockCluster } from '../../helpers/block-cluster.js';
import { GiB, grpcError, mountCapability, syncFilesystem } from '../../helpers/block-cluster.js';
import type { VolumeGroupSnapshot__Output } from '../../../src/gen/csi/v1/VolumeGroupSnapshot.js';
import { useBlockCluster } from '../../helpers/block-cluster.js';

/**
 * Issue 15, point 3: CreateVolumeGroupSnapshot takes every member at one point in time, through the real driver and
 * the real pool (loop devices, ext4, mounts). One writer process writes a sequence number to volume A, then the same
 * number to volume B, each write synced, without pause. Any state the two volumes pass through together has
 * seq(A) - seq(B) in {0, 1}; a snapshot that caught B later than A would show B ahead. Two single snapshots taken one
 * after the other show exactly that (the control: the check can fail); the group snapshot, restored, never does.
 */
let cluster: BlockCluster;

useBlockCluster('ferry-block-group-', (started) => (cluster = started));

const cap = mountCapability('ext4');

/** The writer: seq to A, then to B, each with fsync (dd conv=fsync), forever. */
function startWriter(a: string, b: string): ChildProcess {
  const script = [
    'i=0',
    'while :; do',
    '  i=$((i+1))',
    `  printf '%020d\\n' "$i" | dd of="$1/seq" conv=fsync,notrunc status=none`,
    `  printf '%020d\\n' "$i" | dd of="$2/seq" conv=fsync,notrunc status=none`,
    'done',
  ].join('\n');
  return spawn('bash', ['-c', script, 'writer', a, b], { stdio: 'ignore' });
}

async function stopWriter(writer: ChildProcess): Promise<void> {
  if (writer.exitCode !== null || writer.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => writer.once('exit', () => resolve()));
  writer.kill('SIGKILL');
  await exited;
}

async function seqOf(dir: string): Promise<number> {
  return Number((await readFile(`${dir}/seq`, 'utf8')).trim());
}

/** Waits until the writer has made `n` more rounds, so the copies below overlap real writes. */
async function writerRuns(dir: string, n: number): Promise<void> {
  const start = await seqOf(dir).catch(() => 0);
  const deadline = Date.now() + 30_000;
  while ((await seqOf(dir).catch(() => 0)) < start + n) {
    if (Date.now() > deadline) throw new Error('the writer makes no progress');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Restores a snapshot into a new volume, mounts it on node01, answers its seq. */
async function restoredSeq(name: string, snapshotId: string): Promise<number> {
  const volume = await cluster.createVolume(name, { capability: cap, requiredBytes: 16n * GiB, source: { snapshot: snapshotId } });
  expect(volume.content_source?.snapshot?.snapshot_id).toBe(snapshotId);
  const target = await cluster.attach('node01', volume.volume_id, name, cap);
  return seqOf(target);
}

function trackMembers(group: VolumeGroupSnapshot__Output): void {
  for (const s of group.snapshots) cluster.track('snapshot', s.snapshot_id);
}

describe('group snapshots (GroupController) on the block backend', () => {
  it('takes both volumes at one point in time while one writer writes A then B; two single snapshots do not', async () => {
    const a = await cluster.createVolume('pvc-group-a', { capability: cap, requiredBytes: 16n * GiB });
    const b = await cluster.createVolume('pvc-group-b', { capability: cap, requiredBytes: 16n * GiB });
    const targetA = await cluster.attach('node01', a.volume_id, 'a', cap);
    const targetB = await cluster.attach('node01', b.volume_id, 'b', cap);
    const writer = startWriter(targetA, targetB);
    let singles: { a: string; b: string };
    let group: VolumeGroupSnapshot__Output;
    try {
      await writerRuns(targetB, 50);
      // Control: one snapshot after the other. B's is taken later, so B is ahead of A: not one point in time.
      const snapA = await cluster.createSnapshot('single-a', a.volume_id);
      await writerRuns(targetB, 20);
      const snapB = await cluster.createSnapshot('single-b', b.volume_id);
      singles = { a: snapA.snapshot_id, b: snapB.snapshot_id };

      await writerRuns(targetB, 50);
      const res = await call(cluster.groupController, 'CreateVolumeGroupSnapshot', { name: 'group-ab', source_volume_ids: [a.volume_id, b.volume_id] });
      if (!res.group_snapshot) throw new Error('no group snapshot answered');
      group = res.group_snapshot;
      trackMembers(group);
      // The writer was held, not failed: it goes on after the snapshot; the pool's crash marker is gone again.
      await writerRuns(targetB, 20);
      await expect(readFile(path.join(cluster.pool.dataDir, 'held-writes.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await stopWriter(writer);
    }
    await syncFilesystem(targetA);

    expect(group.ready_to_use).toBe(true);
    expect(group.group_snapshot_id).toMatch(/^pool:[0-9a-f]{16}-[0-9a-f]{16}$/);
    expect(group.snapshots.map((s) => s.source_volume_id).sort()).toEqual([a.volume_id, b.volume_id].sort());
    for (const s of group.snapshots) {
      expect(s.group_snapshot_id).toBe(group.group_snapshot_id);
      expect(s.size_bytes).toBe(String(16n * GiB));
      expect(s.ready_to_use).toBe(true);
    }

    const singleA = await restoredSeq('single-a-restored', singles.a);
    const singleB = await restoredSeq('single-b-restored', singles.b);
    expect(singleB - singleA).toBeGreaterThan(1);

    const memberOf = (volumeId: string): string => group.snapshots.find((s) => s.source_volume_id === volumeId)?.snapshot_id ?? '';
    const groupA = await restoredSeq('group-a-restored', memberOf(a.volume_id));
    const groupB = await restoredSeq('group-b-restored', memberOf(b.volume_id));
    expect(groupA).toBeGreaterThan(0);
    expect([0, 1]).toContain(groupA - groupB);
    process.stdout.write(`group snapshot seq A=${groupA} B=${groupB}; single snapshots A=${singleA} B=${singleB}\n`);

    // The members are snapshots like any other: listed with their group.
    const listed = await call(cluster.controller, 'ListSnapshots', { source_volume_id: a.volume_id });
    const listedMember = listed.entries.map((e) => e.snapshot).find((s) => s?.snapshot_id === memberOf(a.volume_id));
    expect(listedMember?.group_snapshot_id).toBe(group.group_snapshot_id);
  }, 300_000);

  it('is idempotent by name, answers ALREADY_EXISTS for other sources, gets and deletes by id (checking the member list)', async () => {
    const a = await cluster.createVolume('pvc-idem-a', { capability: cap, requiredBytes: 8n * GiB });
    const b = await cluster.createVolume('pvc-idem-b', { capability: cap, requiredBytes: 8n * GiB });
    const c = await cluster.createVolume('pvc-idem-c', { capability: cap, requiredBytes: 8n * GiB });
    const gc = cluster.groupController;
    const first = (await call(gc, 'CreateVolumeGroupSnapshot', { name: 'idem', source_volume_ids: [a.volume_id, b.volume_id] })).group_snapshot;
    if (!first) throw new Error('no group snapshot answered');
    trackMembers(first);
    const again = (await call(gc, 'CreateVolumeGroupSnapshot', { name: 'idem', source_volume_ids: [b.volume_id, a.volume_id] })).group_snapshot;
    expect(again?.group_snapshot_id).toBe(first.group_snapshot_id);
    expect(again?.snapshots.map((s) => s.snapshot_id).sort()).toEqual(first.snapshots.map((s) => s.snapshot_id).sort());

    for (const sources of [[a.volume_id], [a.volume_id, c.volume_id], [a.volume_id, b.volume_id, c.volume_id]]) {
      expect((await grpcError(call(gc, 'CreateVolumeGroupSnapshot', { name: 'idem', source_volume_ids: sources }))).code).toBe(status.ALREADY_EXISTS);
    }

    const memberIds = first.snapshots.map((s) => s.snapshot_id);
    const got = (await call(gc, 'GetVolumeGroupSnapshot', { group_snapshot_id: first.group_snapshot_id, snapshot_ids: memberIds })).group_snapshot;
    expect(got?.snapshots.map((s) => s.snapshot_id).sort()).toEqual([...memberIds].sort());
    expect(got?.creation_time).toEqual(first.creation_time);

    // A member list that is not the group's loses nothing.
    const wrongLists = [[memberIds[0] ?? ''], [...memberIds, 'pool:0000000000000000-0000000000000000'], ['other:x', ...memberIds.slice(1)]];
    for (const ids of wrongLists) {
      expect((await grpcError(call(gc, 'DeleteVolumeGroupSnapshot', { group_snapshot_id: first.group_snapshot_id, snapshot_ids: ids }))).code).toBe(status.INVALID_ARGUMENT);
    }
    expect((await call(gc, 'GetVolumeGroupSnapshot', { group_snapshot_id: first.group_snapshot_id, snapshot_ids: [] })).group_snapshot?.snapshots).toHaveLength(2);

    await call(gc, 'DeleteVolumeGroupSnapshot', { group_snapshot_id: first.group_snapshot_id, snapshot_ids: memberIds });
    await call(gc, 'DeleteVolumeGroupSnapshot', { group_snapshot_id: first.group_snapshot_id, snapshot_ids: memberIds });
    expect((await grpcError(call(gc, 'GetVolumeGroupSnapshot', { group_snapshot_id: first.group_snapshot_id, snapshot_ids: [] }))).code).toBe(status.NOT_FOUND);
    const left = await call(cluster.controller, 'ListSnapshots', {});
    expect(left.entries.filter((e) => memberIds.includes(e.snapshot?.snapshot_id ?? ''))).toHaveLength(0);
    // The sources are untouched; the name is free again for a new group.
    const reborn = (await call(gc, 'CreateVolumeGroupSnapshot', { name: 'idem', source_volume_ids: [a.volume_id, c.volume_id] })).group_snapshot;
    if (!reborn) throw new Error('no group snapshot answered');
    trackMembers(reborn);
    expect(reborn.group_snapshot_id).not.toBe(first.group_snapshot_id);
  });

  it('answers bad input with the right code', async () => {
    const a = await cluster.createVolume('pvc-bad-a', { capability: cap, requiredBytes: 8n * GiB });
    const gc = cluster.groupController;
    const create = (req: { name?: string; source_volume_ids?: string[]; parameters?: Record<string, string> }): Promise<{ code: number; details: string }> =>
      grpcError(call(gc, 'CreateVolumeGroupSnapshot', req));
    expect((await create({ source_volume_ids: [a.volume_id] })).code).toBe(status.INVALID_ARGUMENT);
    expect((await create({ name: 'g', source_volume_ids: [] })).code).toBe(status.INVALID_ARGUMENT);
    expect((await create({ name: 'g', source_volume_ids: [a.volume_id, a.volume_id] })).code).toBe(status.INVALID_ARGUMENT);
    expect((await create({ name: 'g', source_volume_ids: [a.volume_id, ''] })).code).toBe(status.INVALID_ARGUMENT);
    expect((await create({ name: 'g', source_volume_ids: [a.volume_id], parameters: { colour: 'blue' } })).code).toBe(status.INVALID_ARGUMENT);
    expect((await create({ name: 'g', source_volume_ids: [a.volume_id, 'other:1234'] })).code).toBe(status.INVALID_ARGUMENT);
    const systemId = a.volume_id.slice('pool:'.length, 'pool:'.length + 16);
    for (const missing of ['pool:nothex', `pool:${systemId}-ffffffffffffffff`, `pool:0000000000000000-${a.volume_id.slice(-16)}`, 'nocolon']) {
      expect((await create({ name: 'g', source_volume_ids: [a.volume_id, missing] })).code).toBe(status.NOT_FOUND);
    }
    // Nothing was taken by the refused calls.
    expect((await call(cluster.controller, 'ListSnapshots', { source_volume_id: a.volume_id })).entries).toHaveLength(0);

    expect((await grpcError(call(gc, 'GetVolumeGroupSnapshot', { group_snapshot_id: '' }))).code).toBe(status.INVALID_ARGUMENT);
    expect((await grpcError(call(gc, 'DeleteVolumeGroupSnapshot', { group_snapshot_id: '' }))).code).toBe(status.INVALID_ARGUMENT);
    // Group ids are parsed strictly: anything not `<system>-<group>` in 16 hex each is not found; a volume's id is no group's.
    const malformed = ['nocolon', 'pool:', 'pool:abc', `pool:${systemId}-FFFFFFFFFFFFFFFF`, `pool:${systemId}-ffffffffffffffff0`, `pool: ${systemId}-ffffffffffffffff`, a.volume_id, 'other:x'];
    for (const id of malformed) {
      expect((await grpcError(call(gc, 'GetVolumeGroupSnapshot', { group_snapshot_id: id }))).code).toBe(status.NOT_FOUND);
      await call(gc, 'DeleteVolumeGroupSnapshot', { group_snapshot_id: id });
    }
    // The volume survived being named as a group to delete.
    expect((await call(cluster.controller, 'ControllerGetVolume', { volume_id: a.volume_id })).volume?.volume_id).toBe(a.volume_id);
    const caps = await call(gc, 'GroupControllerGetCapabilities', {});
    expect(caps.capabilities.map((c) => c.rpc?.type)).toEqual(['CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT']);
    const plugin = await call(cluster.identity, 'GetPluginCapabilities', {});
    expect(plugin.capabilities.map((c) => c.service?.type)).toContain('GROUP_CONTROLLER_SERVICE');
  });
});

describe('a pool killed while it holds writes', () => {
  it('thaws, at its next start, exactly the filesystems its marker lists', async () => {
    const cap4 = mountCapability('ext4');
    const v = await cluster.createVolume('pvc-left-frozen', { capability: cap4, requiredBytes: 8n * GiB });
    const target = await cluster.attach('node01', v.volume_id, 'frozen', cap4);
    const device = await cluster.device('node01', v.volume_id);
    const staging = cluster.stagingPath('node01', 'frozen');
    // What a pool killed between its freeze and its thaw leaves: the filesystem frozen and the marker on disk.
    await exec('fsfreeze', ['--freeze', staging], { timeoutMs: 30_000 });
    await writeFile(path.join(cluster.pool.dataDir, 'held-writes.json'), JSON.stringify([{ path: staging, device }]));
    const writer = spawn('dd', ['if=/dev/zero', `of=${target}/after-thaw`, 'bs=4k', 'count=1', 'conv=fsync'], { stdio: 'ignore' });
    const done = new Promise<number | null>((resolve) => writer.once('exit', (code) => resolve(code)));
    try {
      // Frozen: the write waits.
      expect(await Promise.race([done, new Promise((r) => setTimeout(() => r('still waiting'), 1_000))])).toBe('still waiting');
      await cluster.pool.kill9();
      await cluster.pool.restart();
      expect(await Promise.race([done, new Promise((r) => setTimeout(() => r('still waiting'), 20_000))])).toBe(0);
      await expect(readFile(path.join(cluster.pool.dataDir, 'held-writes.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await exec('fsfreeze', ['--unfreeze', staging], { timeoutMs: 30_000, okExitCodes: [1] });
      await done;
    }
  }, 120_000);
});
