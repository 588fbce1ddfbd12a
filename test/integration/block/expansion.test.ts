import { status } from '@grpc/grpc-js';
import { readFile, statfs } from 'node:fs/promises';
import { call } from '../../helpers/csi-client.js';
import type { BlockCluster } from '../../helpers/block-cluster.js';
import { useBlockCluster, GiB, MiB, grpcError, mountCapability, mountCount, sha256File, writeRandomFile, type NodeName } from '../../helpers/block-cluster.js';

/**
 * Issue 4, must-show 3: expansion with the data's checksum before and after.
 *  - xfs grows online: ControllerExpandVolume, then NodeExpandVolume on the publish path while the pod uses it.
 *  - ext4 is grown offline, at NodeStage, before it is mounted. An online ext4 resize (resize2fs on a mounted ext4)
 *    needs CAP_SYS_RESOURCE, which this machine's (and many a restricted node plugin's) capability set lacks; so
 *    here the volume is expanded while unstaged and the filesystem grows when it is staged again. Where the
 *    capability is missing, NodeExpandVolume on a mounted ext4 must say so (FAILED_PRECONDITION) and touch nothing.
 */
const DATA_BYTES = 50 * MiB;
let cluster: BlockCluster;

useBlockCluster('ferry-block-expand-', (started) => (cluster = started));

async function filesystemBytes(p: string): Promise<bigint> {
  const st = await statfs(p, { bigint: true });
  return st.blocks * st.bsize;
}

async function statsTotal(name: NodeName, volumeId: string, volumePath: string): Promise<bigint> {
  const stats = await call(cluster.node(name), 'NodeGetVolumeStats', { volume_id: volumeId, volume_path: volumePath });
  const bytes = stats.usage.find((u) => u.unit === 'BYTES');
  expect(stats.volume_condition?.abnormal).toBe(false);
  return BigInt(bytes?.total ?? '0');
}

async function hasCapSysResource(): Promise<boolean> {
  const mask = /^CapEff:\s*([0-9a-f]+)$/m.exec(await readFile('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return ((BigInt(`0x${mask}`) >> 24n) & 1n) === 1n;
}

describe('volume expansion keeps the data', () => {
  it('xfs: ControllerExpand 16 → 32 GiB, NodeExpand on the publish path while mounted; statfs and NodeGetVolumeStats grow, checksum unchanged', async () => {
    const cap = mountCapability('xfs');
    const volume = await cluster.createVolume('pvc-expand-xfs', { capability: cap, requiredBytes: 16n * GiB });
    const target = await cluster.attach('node01', volume.volume_id, 'v', cap);
    const sum = await writeRandomFile(`${target}/data.bin`, DATA_BYTES);
    const before = await filesystemBytes(target);
    expect(before).toBeLessThanOrEqual(16n * GiB);
    expect(await statsTotal('node01', volume.volume_id, target)).toBe(before);

    const expanded = await call(cluster.controller, 'ControllerExpandVolume', {
      volume_id: volume.volume_id,
      capacity_range: { required_bytes: String(32n * GiB) },
      volume_capability: cap,
    });
    expect(expanded.capacity_bytes).toBe(String(32n * GiB));
    expect(expanded.node_expansion_required).toBe(true);
    // The device grew under the mounted filesystem; the filesystem did not yet.
    expect(await filesystemBytes(target)).toBe(before);

    const nodeReq = {
      volume_id: volume.volume_id,
      volume_path: target,
      staging_target_path: cluster.stagingPath('node01', 'v'),
      capacity_range: { required_bytes: String(32n * GiB) },
      volume_capability: cap,
    };
    const grown = await call(cluster.node('node01'), 'NodeExpandVolume', nodeReq);
    expect(grown.capacity_bytes).toBe(String(32n * GiB));
    expect(await cluster.toolRuns('node01', 'xfs_growfs')).toHaveLength(1);
    const after = await filesystemBytes(target);
    expect(after).toBeGreaterThan(before + 15n * GiB);
    expect(after).toBeLessThanOrEqual(32n * GiB);
    expect(await statsTotal('node01', volume.volume_id, target)).toBe(after);
    // Repeated: nothing more to do.
    expect((await call(cluster.node('node01'), 'NodeExpandVolume', nodeReq)).capacity_bytes).toBe(String(32n * GiB));
    expect(await cluster.toolRuns('node01', 'xfs_growfs')).toHaveLength(1);
    expect(await sha256File(`${target}/data.bin`)).toBe(sum);

    // And from the disk, not the page cache: unstage, stage again, read.
    await cluster.unpublish('node01', volume.volume_id, 'v');
    await cluster.unstage('node01', volume.volume_id, 'v');
    await cluster.stage('node01', volume.volume_id, 'v', cap);
    const again = await cluster.publish('node01', volume.volume_id, 'v', cap);
    expect(await filesystemBytes(again)).toBe(after);
    expect(await sha256File(`${again}/data.bin`)).toBe(sum);
    expect(await cluster.mkfsRuns('node01')).toHaveLength(1);
    process.stdout.write(`xfs expansion: ${before} → ${after} bytes (statfs), sha256 ${sum} before and after\n`);
  });

  it('ext4: expanded while unstaged, grown offline at the next NodeStage (e2fsck + resize2fs before mount); checksum unchanged', async () => {
    const cap = mountCapability('ext4');
    const volume = await cluster.createVolume('pvc-expand-ext4', { capability: cap, requiredBytes: 16n * GiB });
    const target = await cluster.attach('node01', volume.volume_id, 'v', cap);
    const sum = await writeRandomFile(`${target}/data.bin`, DATA_BYTES);
    const before = await filesystemBytes(target);
    expect(before).toBeLessThanOrEqual(16n * GiB);

    if (!(await hasCapSysResource())) {
      // This machine: no CAP_SYS_RESOURCE, so no online ext4 resize. NodeExpandVolume on the mounted ext4 says so
      // up front, and the volume is untouched.
      const grownDevice = await call(cluster.controller, 'ControllerExpandVolume', {
        volume_id: volume.volume_id,
        capacity_range: { required_bytes: String(24n * GiB) },
        volume_capability: cap,
      });
      expect(grownDevice.capacity_bytes).toBe(String(24n * GiB));
      const refused = await grpcError(
        call(cluster.node('node01'), 'NodeExpandVolume', { volume_id: volume.volume_id, volume_path: target, capacity_range: { required_bytes: String(24n * GiB) } }),
      );
      expect(refused.code).toBe(status.FAILED_PRECONDITION);
      expect(refused.details).toContain('CAP_SYS_RESOURCE');
      expect(await cluster.toolRuns('node01', 'resize2fs')).toHaveLength(0);
      expect(await filesystemBytes(target)).toBe(before);
      expect(await sha256File(`${target}/data.bin`)).toBe(sum);
    }

    // The supported way here: expand while unstaged (the volume stays published to the node), then stage again.
    await cluster.unpublish('node01', volume.volume_id, 'v');
    await cluster.unstage('node01', volume.volume_id, 'v');
    expect(await mountCount(cluster.stagingPath('node01', 'v'))).toBe(0);
    const expanded = await call(cluster.controller, 'ControllerExpandVolume', {
      volume_id: volume.volume_id,
      capacity_range: { required_bytes: String(32n * GiB) },
      volume_capability: cap,
    });
    expect(expanded.capacity_bytes).toBe(String(32n * GiB));
    expect(expanded.node_expansion_required).toBe(true);

    await cluster.stage('node01', volume.volume_id, 'v', cap);
    const resizes = await cluster.toolRuns('node01', 'resize2fs');
    expect(resizes).toHaveLength(1);
    expect(resizes[0]).toMatch(/^resize2fs rc=0 /);
    expect(await cluster.toolRuns('node01', 'e2fsck')).toHaveLength(1);
    // The grow happened before the mount: the shim log has resize2fs ahead of the staging mount.
    const calls = (await cluster.callLog('node01')).split('\n');
    const resizeAt = calls.findLastIndex((l) => l.startsWith('resize2fs #'));
    const mountAt = calls.findLastIndex((l) => l.startsWith('mount #') && l.endsWith(` ${cluster.stagingPath('node01', 'v')}`));
    expect(resizeAt).toBeGreaterThanOrEqual(0);
    expect(resizeAt).toBeLessThan(mountAt);

    const republished = await cluster.publish('node01', volume.volume_id, 'v', cap);
    const after = await filesystemBytes(republished);
    expect(after).toBeGreaterThan(before + 15n * GiB);
    expect(after).toBeLessThanOrEqual(32n * GiB);
    expect(await statsTotal('node01', volume.volume_id, republished)).toBe(after);
    // NodeExpandVolume now finds nothing to do (no online resize needed), and says the device size.
    const nodeExpand = await call(cluster.node('node01'), 'NodeExpandVolume', { volume_id: volume.volume_id, volume_path: republished, capacity_range: { required_bytes: String(32n * GiB) } });
    expect(nodeExpand.capacity_bytes).toBe(String(32n * GiB));
    expect(await cluster.toolRuns('node01', 'resize2fs')).toHaveLength(1);
    expect(await sha256File(`${republished}/data.bin`)).toBe(sum);
    expect(await cluster.mkfsRuns('node01')).toHaveLength(1);
    process.stdout.write(`ext4 expansion (offline at NodeStage): ${before} → ${after} bytes (statfs), sha256 ${sum} before and after\n`);
  });
});
