import { status } from '@grpc/grpc-js';
import { stat } from 'node:fs/promises';
import { call } from '../../helpers/csi-client.js';
import type { BlockCluster } from '../../helpers/block-cluster.js';
import { useBlockCluster, GiB, blockCapability, grpcError, mountCapability, mountCount, writeRandomFile, sha256File } from '../../helpers/block-cluster.js';

/**
 * Issue 4, must-show 1: every Controller and Node call, repeated, answers the same and changes nothing; and the
 * errors a CO relies on (ALREADY_EXISTS, INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION naming the holder).
 * Real gRPC over Unix sockets, a real `ferry pool`, real loop devices, mkfs and mounts.
 */
const REPEAT = 3;
let cluster: BlockCluster;

useBlockCluster('ferry-block-repeat-', (started) => (cluster = started));

async function repeat<T>(times: number, fn: () => Promise<T>): Promise<T[]> {
  const answers: T[] = [];
  for (let i = 0; i < times; i++) answers.push(await fn());
  return answers;
}

describe('repeated calls', () => {
  it('every call of a volume life cycle, made three times, answers the same and changes nothing', async () => {
    const cap = mountCapability('ext4');
    const c = cluster.controller;
    const n1 = cluster.node('node01');
    const name = 'pvc-repeat-1';

    // CreateVolume: the same name gives the same volume.
    const created = await repeat(REPEAT, () => cluster.createVolume(name, { capability: cap, requiredBytes: 10n * GiB }));
    const volumeId = created[0]?.volume_id ?? '';
    expect(volumeId).toMatch(/^pool:[0-9a-f]{16}-[0-9a-f]{16}$/);
    for (const v of created) {
      expect(v.volume_id).toBe(volumeId);
      // 10 GiB asked, the pool's 8 GiB unit gives 16 GiB, every time.
      expect(v.capacity_bytes).toBe(String(16n * GiB));
    }
    expect((await call(c, 'ListVolumes', {})).entries.filter((e) => e.volume?.volume_id === volumeId)).toHaveLength(1);

    // ControllerPublish: one mapping, one device link.
    const published = await repeat(REPEAT, () => call(c, 'ControllerPublishVolume', { volume_id: volumeId, node_id: cluster.nodeId('node01'), volume_capability: cap, readonly: false }));
    for (const p of published) expect(p.publish_context).toEqual(published[0]?.publish_context);
    expect((await call(c, 'ControllerGetVolume', { volume_id: volumeId })).status?.published_node_ids).toEqual([cluster.nodeId('node01')]);
    expect((await stat(cluster.deviceLink('node01', volumeId))).isBlockDevice()).toBe(true);
    expect(await cluster.pool.loopDevices()).toHaveLength(1);

    // NodeStage: formatted once, mounted once.
    const stagingPath = cluster.stagingPath('node01', 'v1');
    const stageReq = { volume_id: volumeId, staging_target_path: stagingPath, volume_capability: cap, volume_context: created[0]?.volume_context ?? {} };
    await repeat(REPEAT, () => call(n1, 'NodeStageVolume', stageReq));
    expect(await mountCount(stagingPath)).toBe(1);
    const device = await cluster.device('node01', volumeId);
    expect(await cluster.mkfsRuns('node01', device)).toHaveLength(1);

    // NodePublish: one bind mount, whatever the number of calls.
    const targetPath = cluster.targetPath('node01', 'v1');
    const publishReq = { volume_id: volumeId, staging_target_path: stagingPath, target_path: targetPath, volume_capability: cap, readonly: false };
    await repeat(REPEAT, () => call(n1, 'NodePublishVolume', publishReq));
    expect(await mountCount(targetPath)).toBe(1);
    const sum = await writeRandomFile(`${targetPath}/data.bin`, 1024 * 1024);
    await repeat(REPEAT, () => call(n1, 'NodePublishVolume', publishReq));
    expect(await mountCount(targetPath)).toBe(1);
    expect(await sha256File(`${targetPath}/data.bin`)).toBe(sum);
    await repeat(REPEAT, () => call(n1, 'NodeStageVolume', stageReq));
    expect(await mountCount(stagingPath)).toBe(1);
    expect(await cluster.mkfsRuns('node01', device)).toHaveLength(1);
    // The same stage asked as another filesystem is an incompatible second stage (found by the fuzzer: xfs_info ran on
    // the ext4 mount and answered INTERNAL); the stage and the data stay.
    const asXfs = await grpcError(call(n1, 'NodeStageVolume', { ...stageReq, volume_capability: mountCapability('xfs') }));
    expect(asXfs.code).toBe(status.ALREADY_EXISTS);
    expect(asXfs.details).toContain('as ext4 already');
    expect(await mountCount(stagingPath)).toBe(1);
    expect(await sha256File(`${targetPath}/data.bin`)).toBe(sum);

    // A single-writer volume held by node01 is refused to node02, naming node01.
    const refused = await grpcError(call(c, 'ControllerPublishVolume', { volume_id: volumeId, node_id: cluster.nodeId('node02'), volume_capability: cap, readonly: false }));
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(refused.details).toContain(cluster.nodeId('node01'));
    expect((await call(c, 'ControllerGetVolume', { volume_id: volumeId })).status?.published_node_ids).toEqual([cluster.nodeId('node01')]);

    // And back down, each step three times.
    await repeat(REPEAT, () => call(n1, 'NodeUnpublishVolume', { volume_id: volumeId, target_path: targetPath }));
    expect(await mountCount(targetPath)).toBe(0);
    await expect(stat(targetPath)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await mountCount(stagingPath)).toBe(1);
    await repeat(REPEAT, () => call(n1, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: stagingPath }));
    expect(await mountCount(stagingPath)).toBe(0);
    await repeat(REPEAT, () => call(c, 'ControllerUnpublishVolume', { volume_id: volumeId, node_id: cluster.nodeId('node01') }));
    expect((await call(c, 'ControllerGetVolume', { volume_id: volumeId })).status?.published_node_ids).toEqual([]);
    await expect(stat(cluster.deviceLink('node01', volumeId))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await cluster.pool.loopDevices()).toHaveLength(0);
    await repeat(REPEAT, () => call(c, 'DeleteVolume', { volume_id: volumeId }));
    expect((await grpcError(call(c, 'ControllerGetVolume', { volume_id: volumeId }))).code).toBe(status.NOT_FOUND);
    expect((await call(c, 'ListVolumes', {})).entries.filter((e) => e.volume?.volume_id === volumeId)).toHaveLength(0);
  });

  it('snapshot, restore and expand calls, made three times, answer the same; a snapshot name on another source is ALREADY_EXISTS', async () => {
    const cap = mountCapability('xfs');
    const c = cluster.controller;
    const source = await cluster.createVolume('pvc-repeat-snap-src', { capability: cap });
    const other = await cluster.createVolume('pvc-repeat-snap-other', { capability: cap });

    const snaps = await repeat(REPEAT, () => cluster.createSnapshot('snap-repeat', source.volume_id));
    const snapshotId = snaps[0]?.snapshot_id ?? '';
    for (const s of snaps) {
      expect(s.snapshot_id).toBe(snapshotId);
      expect(s.source_volume_id).toBe(source.volume_id);
      expect(s.ready_to_use).toBe(true);
    }
    expect((await call(c, 'ListSnapshots', { source_volume_id: source.volume_id })).entries).toHaveLength(1);
    const clash = await grpcError(call(c, 'CreateSnapshot', { name: 'snap-repeat', source_volume_id: other.volume_id }));
    expect(clash.code).toBe(status.ALREADY_EXISTS);

    const restored = await repeat(REPEAT, () => cluster.createVolume('pvc-repeat-restored', { capability: cap, source: { snapshot: snapshotId } }));
    for (const r of restored) {
      expect(r.volume_id).toBe(restored[0]?.volume_id);
      expect(r.content_source?.snapshot?.snapshot_id).toBe(snapshotId);
    }

    const expanded = await repeat(REPEAT, () =>
      call(c, 'ControllerExpandVolume', { volume_id: source.volume_id, capacity_range: { required_bytes: String(24n * GiB) }, volume_capability: cap }),
    );
    for (const e of expanded) expect(e.capacity_bytes).toBe(String(24n * GiB));
    expect((await call(c, 'ControllerGetVolume', { volume_id: source.volume_id })).volume?.capacity_bytes).toBe(String(24n * GiB));

    // Delete the restored volume, then the snapshot, three times each; the source is still there.
    const restoredId = restored[0]?.volume_id ?? '';
    await repeat(REPEAT, () => call(c, 'DeleteVolume', { volume_id: restoredId }));
    await repeat(REPEAT, () => call(c, 'DeleteSnapshot', { snapshot_id: snapshotId }));
    expect((await call(c, 'ListSnapshots', { snapshot_id: snapshotId })).entries).toHaveLength(0);
    expect((await call(c, 'ControllerGetVolume', { volume_id: source.volume_id })).volume?.volume_id).toBe(source.volume_id);
  });

  it('CreateVolume: another size under the same name is ALREADY_EXISTS; a compatible range is the same volume', async () => {
    const cap = mountCapability('xfs');
    const first = await cluster.createVolume('pvc-repeat-size', { capability: cap, requiredBytes: 16n * GiB });
    const bigger = await grpcError(
      call(cluster.controller, 'CreateVolume', { name: 'pvc-repeat-size', capacity_range: { required_bytes: String(32n * GiB) }, volume_capabilities: [cap] }),
    );
    expect(bigger.code).toBe(status.ALREADY_EXISTS);
    const smaller = await grpcError(
      call(cluster.controller, 'CreateVolume', { name: 'pvc-repeat-size', capacity_range: { required_bytes: String(8n * GiB), limit_bytes: String(8n * GiB) }, volume_capabilities: [cap] }),
    );
    expect(smaller.code).toBe(status.ALREADY_EXISTS);
    // 10 GiB with no limit is satisfied by the 16 GiB volume already there: the same request again.
    const again = await call(cluster.controller, 'CreateVolume', { name: 'pvc-repeat-size', capacity_range: { required_bytes: String(10n * GiB) }, volume_capabilities: [cap] });
    expect(again.volume?.volume_id).toBe(first.volume_id);
    expect(again.volume?.capacity_bytes).toBe(String(16n * GiB));
  });

  it('CreateVolume: an unknown StorageClass parameter is INVALID_ARGUMENT and creates nothing', async () => {
    const before = (await call(cluster.controller, 'ListVolumes', {})).entries.length;
    const answer = await grpcError(
      call(cluster.controller, 'CreateVolume', {
        name: 'pvc-repeat-param',
        capacity_range: { required_bytes: String(8n * GiB) },
        volume_capabilities: [mountCapability('ext4')],
        parameters: { storagePool: 'pool1', storagePol: 'pool1' },
      }),
    );
    expect(answer.code).toBe(status.INVALID_ARGUMENT);
    expect(answer.details).toContain('storagePol');
    expect((await call(cluster.controller, 'ListVolumes', {})).entries.length).toBe(before);
  });

  it('CreateVolume: limit_bytes below the 8 GiB allocation unit is OUT_OF_RANGE and creates nothing', async () => {
    const before = (await call(cluster.controller, 'ListVolumes', {})).entries.length;
    const answer = await grpcError(
      call(cluster.controller, 'CreateVolume', {
        name: 'pvc-repeat-small',
        capacity_range: { required_bytes: String(1n * GiB), limit_bytes: String(4n * GiB) },
        volume_capabilities: [mountCapability('ext4')],
      }),
    );
    expect(answer.code).toBe(status.OUT_OF_RANGE);
    expect((await call(cluster.controller, 'ListVolumes', {})).entries.length).toBe(before);
  });

  it('MULTI_NODE_READER_ONLY publishes to both nodes (read-only), each publish repeatable', async () => {
    const cap = blockCapability('MULTI_NODE_READER_ONLY');
    const volume = await cluster.createVolume('pvc-repeat-rox', { capability: cap });
    for (const name of ['node01', 'node02'] as const) {
      await repeat(REPEAT, () => cluster.controllerPublish(volume.volume_id, name, cap, true));
    }
    const published = (await call(cluster.controller, 'ControllerGetVolume', { volume_id: volume.volume_id })).status?.published_node_ids ?? [];
    expect([...published].sort()).toEqual([cluster.nodeId('node01'), cluster.nodeId('node02')].sort());
    for (const name of ['node01', 'node02'] as const) {
      expect((await stat(cluster.deviceLink(name, volume.volume_id))).isBlockDevice()).toBe(true);
    }
    // Read-only mappings share one read-only loop device.
    const loops = await cluster.pool.loopDevices();
    expect(loops).toHaveLength(1);
    expect(loops[0]?.readOnly).toBe(true);
    // Unpublishing from one node (three times) leaves the other's mapping alone.
    await repeat(REPEAT, () => cluster.controllerUnpublish(volume.volume_id, 'node01'));
    expect((await call(cluster.controller, 'ControllerGetVolume', { volume_id: volume.volume_id })).status?.published_node_ids).toEqual([cluster.nodeId('node02')]);
    expect((await stat(cluster.deviceLink('node02', volume.volume_id))).isBlockDevice()).toBe(true);
  });
});
