import { writeFile } from 'node:fs/promises';
import { call } from '../../helpers/csi-client.js';
import type { BlockCluster } from '../../helpers/block-cluster.js';
import { useBlockCluster, MiB, NODE_NAMES, mountCapability, mountsAt, sha256File, writeRandomFile, type NodeName } from '../../helpers/block-cluster.js';

/**
 * Read-only publishes (issue 4, must-show 1 goes on from "MULTI_NODE_READER_ONLY publishes to both"): a volume with
 * data, published MULTI_NODE_READER_ONLY to node01 and node02 at once, is staged and published read-only on both,
 * reads the same on both and refuses writes; and a healthy read-only publish is reported healthy by
 * NodeGetVolumeStats.
 */
let cluster: BlockCluster;

useBlockCluster('ferry-block-ro-', (started) => (cluster = started));

/** A volume holding 4 MiB of data, written through node01 and let go again; answers its id and the data's sha256. */
async function populated(name: string, fsType: 'ext4' | 'xfs'): Promise<{ volumeId: string; sum: string }> {
  const rw = mountCapability(fsType);
  const volume = await cluster.createVolume(name, { capability: rw });
  const target = await cluster.attach('node01', volume.volume_id, 'writer', rw);
  const sum = await writeRandomFile(`${target}/data.bin`, 4 * MiB);
  await cluster.detach('node01', volume.volume_id, 'writer');
  return { volumeId: volume.volume_id, sum };
}

/** NodeGetVolumeStats' volume_condition, as "healthy: <message>" or "ABNORMAL: <message>" (a failure shows why). */
async function condition(name: NodeName, volumeId: string, volumePath: string): Promise<string> {
  const stats = await call(cluster.node(name), 'NodeGetVolumeStats', { volume_id: volumeId, volume_path: volumePath });
  return `${stats.volume_condition?.abnormal === false ? 'healthy' : 'ABNORMAL'}: ${stats.volume_condition?.message ?? '(no condition)'}`;
}

describe('read-only publishes', () => {
  it.each(['ext4', 'xfs'] as const)('MULTI_NODE_READER_ONLY %s: staged and published read-only on both nodes at once, same data on both, writes refused', async (fsType) => {
    const { volumeId, sum } = await populated(`pvc-rox-${fsType}`, fsType);
    const rox = mountCapability(fsType, 'MULTI_NODE_READER_ONLY');
    for (const name of NODE_NAMES) {
      await cluster.controllerPublish(volumeId, name, rox, true);
      await cluster.stage(name, volumeId, 'rox', rox);
      const target = await cluster.publish(name, volumeId, 'rox', rox, { readonly: true });
      const [mount] = await mountsAt(target);
      expect(mount?.fsType).toBe(fsType);
    }
    for (const name of NODE_NAMES) {
      const target = cluster.targetPath(name, 'rox');
      expect(await sha256File(`${target}/data.bin`)).toBe(sum);
      await expect(writeFile(`${target}/nope`, 'x')).rejects.toMatchObject({ code: 'EROFS' });
    }
    expect(await cluster.mkfsRuns('node02')).toHaveLength(0);
  });

  // A mount that is read-only because it was published so is healthy; only a filesystem that went read-only on its
  // own (errors=remount-ro: ro in the superblock, not in the mount's flags) is abnormal.
  it('NodeGetVolumeStats reports a healthy MULTI_NODE_READER_ONLY publish as healthy, on both nodes', async () => {
    const { volumeId } = await populated('pvc-rox-stats', 'xfs');
    const rox = mountCapability('xfs', 'MULTI_NODE_READER_ONLY');
    const answers: Record<string, string> = {};
    for (const name of NODE_NAMES) {
      await cluster.controllerPublish(volumeId, name, rox, true);
      const staging = await cluster.stage(name, volumeId, 'rox', rox);
      const target = await cluster.publish(name, volumeId, 'rox', rox, { readonly: true });
      answers[`${name} target`] = await condition(name, volumeId, target);
      answers[`${name} staging`] = await condition(name, volumeId, staging);
    }
    const healthy = expect.stringMatching(/^healthy: /);
    expect(answers).toEqual({ 'node01 target': healthy, 'node01 staging': healthy, 'node02 target': healthy, 'node02 staging': healthy });
  });

  it('NodeGetVolumeStats reports a healthy readonly publish of a SINGLE_NODE_WRITER volume as healthy', async () => {
    const rw = mountCapability('ext4');
    const volume = await cluster.createVolume('pvc-ro-bind', { capability: rw });
    await cluster.controllerPublish(volume.volume_id, 'node01', rw);
    await cluster.stage('node01', volume.volume_id, 'v', rw);
    const target = await cluster.publish('node01', volume.volume_id, 'v', rw, { readonly: true });
    await expect(writeFile(`${target}/nope`, 'x')).rejects.toMatchObject({ code: 'EROFS' });
    // The writable staging mount is healthy; the read-only bind of it (asked for read-only) is just as healthy.
    expect(await condition('node01', volume.volume_id, cluster.stagingPath('node01', 'v'))).toMatch(/^healthy: /);
    expect(await condition('node01', volume.volume_id, target)).toMatch(/^healthy: /);
  });
});
