import { status } from '@grpc/grpc-js';
import { call } from '../../helpers/csi-client.js';
import type { BlockCluster } from '../../helpers/block-cluster.js';
import { useBlockCluster, filesystemUuid, mountCapability, mountCount } from '../../helpers/block-cluster.js';

/**
 * Issue 4, must-show 2: two calls at once on one volume. The second waits for the first's in-flight key and then
 * finds the work done: one mkfs, one mount; and of two nodes racing for a single-writer volume exactly one wins.
 */
let cluster: BlockCluster;

useBlockCluster('ferry-block-concurrent-', (started) => (cluster = started));

describe('two concurrent calls on one volume', () => {
  it.each(['ext4', 'xfs'] as const)('two NodeStage at once (%s) both succeed; the blank device is formatted once and mounted once', async (fsType) => {
    const cap = mountCapability(fsType);
    const volume = await cluster.createVolume(`pvc-conc-stage-${fsType}`, { capability: cap });
    await cluster.controllerPublish(volume.volume_id, 'node01', cap);
    const device = await cluster.device('node01', volume.volume_id);
    const stagingPath = cluster.stagingPath('node01', 'v');
    const req = { volume_id: volume.volume_id, staging_target_path: stagingPath, volume_capability: cap, volume_context: volume.volume_context };

    // mkfs takes a second here: the second call surely arrives while the first holds the volume's in-flight key.
    await cluster.delay('node01', `mkfs.${fsType}`, 1);
    const started = Date.now();
    const timed = async (): Promise<number> => {
      await call(cluster.node('node01'), 'NodeStageVolume', req);
      return Date.now() - started;
    };
    const results = await Promise.allSettled([timed(), timed()]);
    await cluster.disarm('node01');
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    // Both answered after the one (slow) mkfs: the second waited for the first, then found the work done.
    for (const r of results) if (r.status === 'fulfilled') expect(r.value).toBeGreaterThanOrEqual(1000);
    expect(await mountCount(stagingPath)).toBe(1);
    const mkfs = await cluster.mkfsRuns('node01', device);
    expect(mkfs).toHaveLength(1);
    expect(mkfs[0]).toMatch(new RegExp(`^mkfs\\.${fsType} rc=0 `));
    const uuid = await filesystemUuid(device);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);

    // And a third pair, on a volume that is staged already: nothing changes.
    const again = await Promise.allSettled([call(cluster.node('node01'), 'NodeStageVolume', req), call(cluster.node('node01'), 'NodeStageVolume', req)]);
    expect(again.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(await mountCount(stagingPath)).toBe(1);
    expect(await cluster.mkfsRuns('node01', device)).toHaveLength(1);
    expect(await filesystemUuid(device)).toBe(uuid);
    process.stdout.write(`concurrent NodeStage ${fsType}: ${device} mkfs runs ${mkfs.length}, UUID ${uuid}\n`);
  });

  it('two NodePublish at once to one target give one bind mount', async () => {
    const cap = mountCapability('ext4');
    const volume = await cluster.createVolume('pvc-conc-publish', { capability: cap });
    await cluster.controllerPublish(volume.volume_id, 'node01', cap);
    await cluster.stage('node01', volume.volume_id, 'v', cap);
    const targetPath = cluster.targetPath('node01', 'v');
    const req = { volume_id: volume.volume_id, staging_target_path: cluster.stagingPath('node01', 'v'), target_path: targetPath, volume_capability: cap, readonly: false };
    const results = await Promise.allSettled([call(cluster.node('node01'), 'NodePublishVolume', req), call(cluster.node('node01'), 'NodePublishVolume', req)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(await mountCount(targetPath)).toBe(1);
  });

  it('two ControllerPublish of one single-writer volume to node01 and node02 at once: exactly one wins, the other is FAILED_PRECONDITION', async () => {
    const cap = mountCapability('ext4');
    for (let round = 0; round < 3; round++) {
      const volume = await cluster.createVolume(`pvc-conc-race-${round}`, { capability: cap });
      const racers = ['node01', 'node02'] as const;
      const results = await Promise.allSettled(racers.map((n) => cluster.controllerPublish(volume.volume_id, n, cap)));
      const winners = racers.filter((_, i) => results[i]?.status === 'fulfilled');
      expect(winners).toHaveLength(1);
      const winner = winners[0] ?? 'node01';
      const loser = winner === 'node01' ? 'node02' : 'node01';
      const lost = results[racers.indexOf(loser)];
      expect(lost?.status).toBe('rejected');
      const reason: unknown = lost?.status === 'rejected' ? lost.reason : undefined;
      expect(reason).toMatchObject({ code: status.FAILED_PRECONDITION });
      expect(String((reason as { details?: unknown }).details)).toContain(cluster.nodeId(winner));
      const published = (await call(cluster.controller, 'ControllerGetVolume', { volume_id: volume.volume_id })).status?.published_node_ids;
      expect(published).toEqual([cluster.nodeId(winner)]);
      // The storage side agrees: exactly one host has the device.
      expect(await cluster.pool.loopDevices()).toHaveLength(1);
      await cluster.controllerUnpublish(volume.volume_id, winner);
    }
  });
});
