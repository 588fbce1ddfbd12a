import { status } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { call } from '../../helpers/csi-client.js';
import type { BlockCluster } from '../../helpers/block-cluster.js';
import { useBlockCluster, GiB, MiB, blockCapability, grpcError, mountCount, readAt, writeAt } from '../../helpers/block-cluster.js';
import { majorMinorOf } from '../../../src/node/mount-table.js';
import { viewsOf } from '../../../src/node/read-only-view.js';

/**
 * Issue 4, must-show 4: a raw block volume published to a target file (the device node bound onto it). A pattern
 * written through the target reads back there, and, after the volume moves to the other node (NodeUnpublish,
 * NodeUnstage, ControllerUnpublish; ControllerPublish, NodeStage, NodePublish there), reads back the same there.
 */
let cluster: BlockCluster;

useBlockCluster('ferry-block-raw-', (started) => (cluster = started));

describe('raw block volumes', () => {
  it('a pattern written through the publish target reads back, on this node and after moving to the other node', async () => {
    const cap = blockCapability();
    const volume = await cluster.createVolume('pvc-raw', { capability: cap, requiredBytes: 8n * GiB });
    const target = await cluster.attach('node01', volume.volume_id, 'raw', cap);
    const device = await cluster.device('node01', volume.volume_id);
    const bound = await stat(target);
    expect(bound.isBlockDevice()).toBe(true);
    expect(bound.rdev).toBe((await stat(device)).rdev);
    expect(await mountCount(target)).toBe(1);
    // A raw block volume is never formatted.
    expect(await cluster.mkfsRuns('node01')).toHaveLength(0);

    // 4 MiB at an odd offset past the first GiB, and a small marker at the very end of the device.
    const offset = 1 * 1024 * MiB + 12_345 * 512;
    const pattern = randomBytes(4 * MiB);
    const tailOffset = Number(8n * GiB) - 4096;
    const tail = randomBytes(4096);
    await writeAt(target, offset, pattern);
    await writeAt(target, tailOffset, tail);
    expect((await readAt(target, offset, pattern.length)).equals(pattern)).toBe(true);
    expect((await readAt(target, tailOffset, tail.length)).equals(tail)).toBe(true);

    const stats = await call(cluster.node('node01'), 'NodeGetVolumeStats', { volume_id: volume.volume_id, volume_path: target });
    expect(stats.usage).toEqual([expect.objectContaining({ unit: 'BYTES', total: String(8n * GiB) })]);

    // Unpublish and republish on the same node: same bytes.
    await cluster.unpublish('node01', volume.volume_id, 'raw');
    expect(await mountCount(target)).toBe(0);
    await cluster.publish('node01', volume.volume_id, 'raw', cap);
    expect((await readAt(target, offset, pattern.length)).equals(pattern)).toBe(true);

    // Move to node02.
    await cluster.detach('node01', volume.volume_id, 'raw');
    expect(await mountCount(target)).toBe(0);
    await expect(stat(cluster.deviceLink('node01', volume.volume_id))).rejects.toMatchObject({ code: 'ENOENT' });
    const target2 = await cluster.attach('node02', volume.volume_id, 'raw', cap);
    expect((await stat(target2)).isBlockDevice()).toBe(true);
    expect((await call(cluster.controller, 'ControllerGetVolume', { volume_id: volume.volume_id })).status?.published_node_ids).toEqual([cluster.nodeId('node02')]);
    expect((await readAt(target2, offset, pattern.length)).equals(pattern)).toBe(true);
    expect((await readAt(target2, tailOffset, tail.length)).equals(tail)).toBe(true);

    // Written on node02, read back on node01 after moving back.
    const second = randomBytes(1 * MiB);
    await writeAt(target2, 0, second);
    await cluster.detach('node02', volume.volume_id, 'raw');
    const back = await cluster.attach('node01', volume.volume_id, 'raw', cap);
    expect((await readAt(back, 0, second.length)).equals(second)).toBe(true);
    expect((await readAt(back, offset, pattern.length)).equals(pattern)).toBe(true);
    expect(await cluster.mkfsRuns('node01')).toHaveLength(0);
    expect(await cluster.mkfsRuns('node02')).toHaveLength(0);
  });

  it('a publish on the device of a later mapping than the stage is refused until the volume is staged again (found by the fuzzer: a target the record could not prove its own)', async () => {
    const cap = blockCapability();
    const volume = await cluster.createVolume('pvc-raw-remap', { capability: cap, requiredBytes: 8n * GiB });
    const other = await cluster.createVolume('pvc-raw-remap-other', { capability: cap, requiredBytes: 8n * GiB });
    await cluster.controllerPublish(volume.volume_id, 'node01', cap);
    await cluster.stage('node01', volume.volume_id, 'remap', cap);
    const before = (await stat(await cluster.device('node01', volume.volume_id), { bigint: true })).rdev;
    // A pod's read-only publish of it: a read-only view of the device is bound there.
    const readOnlyTarget = await cluster.publish('node01', volume.volume_id, 'remap', cap, { pod: 'reader', readonly: true });
    expect(await viewsOf(majorMinorOf(before))).toHaveLength(1);
    // Unmapped and mapped again while staged (the other volume takes the freed device number in between).
    await cluster.controllerUnpublish(volume.volume_id, 'node01');
    await cluster.controllerPublish(other.volume_id, 'node01', cap);
    await cluster.controllerPublish(volume.volume_id, 'node01', cap);
    const after = (await stat(await cluster.device('node01', volume.volume_id), { bigint: true })).rdev;
    expect(after).not.toBe(before);

    const refused = await grpcError(cluster.publish('node01', volume.volume_id, 'remap', cap));
    expect(refused.code).toBe(status.FAILED_PRECONDITION);
    expect(refused.details).toContain(`it is device ${majorMinorOf(after)} now: NodeStageVolume first`);
    expect(await mountCount(cluster.targetPath('node01', 'remap'))).toBe(0);

    // Staged again on the new device: the earlier mapping's publish comes off, its view detached with it (found by
    // the fuzzer: a view left attached over a deleted volume); then published, and taken down with nothing left.
    await cluster.stage('node01', volume.volume_id, 'remap', cap);
    expect(await mountCount(readOnlyTarget)).toBe(0);
    expect(await viewsOf(majorMinorOf(before))).toEqual([]);
    const target = await cluster.publish('node01', volume.volume_id, 'remap', cap);
    expect((await stat(target, { bigint: true })).rdev).toBe(after);
    await cluster.controllerUnpublish(other.volume_id, 'node01');
    await cluster.detach('node01', volume.volume_id, 'remap');
    expect(await mountCount(target)).toBe(0);
  });

  // A pod's readOnly on a read-write PV: Kubernetes publishes read-only on the node and writable at the controller. A
  // read-only bind of the device node would still let writes through to the disk; Ferry binds a read-only loop device
  // over it (a "view"), shared by the volume's read-only targets on the node and detached with the last of them.
  it('a read-only publish of a writable mapping binds a read-only view: reads the data, refuses writes, goes with the last target', async () => {
    const cap = blockCapability();
    const volume = await cluster.createVolume('pvc-raw-ro', { capability: cap, requiredBytes: 8n * GiB });
    const writer = await cluster.attach('node01', volume.volume_id, 'rw', cap);
    const pattern = randomBytes(1 * MiB);
    await writeAt(writer, 4 * MiB, pattern);
    await cluster.unpublish('node01', volume.volume_id, 'rw');
    const device = await cluster.device('node01', volume.volume_id);
    const deviceNumber = majorMinorOf((await stat(device, { bigint: true })).rdev);
    /** Loop devices whose backing file is the volume's device, with their read-only flag. */
    const views = async (): Promise<string[]> => {
      const found: string[] = [];
      for (const name of (await readdir('/sys/block')).filter((n) => n.startsWith('loop'))) {
        const backing = await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8').catch(() => '');
        const info = backing.trim() ? await stat(backing.trim(), { bigint: true }).catch(() => undefined) : undefined;
        if (info?.isBlockDevice() && majorMinorOf(info.rdev) === deviceNumber) found.push(`${name} ro=${(await readFile(`/sys/block/${name}/ro`, 'utf8')).trim()}`);
      }
      return found;
    };

    const a = await cluster.publish('node01', volume.volume_id, 'ro-a', cap, { readonly: true, pod: 'a' });
    const b = await cluster.publish('node01', volume.volume_id, 'ro-b', cap, { readonly: true, pod: 'b' });
    const viewsNow = await views();
    expect(viewsNow).toHaveLength(1);
    expect(viewsNow[0]).toMatch(/ ro=1$/);
    for (const target of [a, b]) {
      const bound = await stat(target);
      expect(bound.isBlockDevice()).toBe(true);
      expect(bound.rdev).not.toBe((await stat(device)).rdev);
      expect((await readAt(target, 4 * MiB, pattern.length)).equals(pattern)).toBe(true);
      // The block layer refuses the write itself (a read-only block device opens for writing, then answers EPERM).
      await expect(writeAt(target, 0, Buffer.alloc(4096))).rejects.toMatchObject({ code: expect.stringMatching(/^(EPERM|EACCES|EROFS)$/) });
    }
    // Idempotent for the same target, and a read-write republish over a read-only target is refused.
    await cluster.publish('node01', volume.volume_id, 'ro-a', cap, { readonly: true, pod: 'a' });
    expect((await grpcError(cluster.publish('node01', volume.volume_id, 'ro-a', cap, { pod: 'a' }))).code).toBe(6);
    const stats = await call(cluster.node('node01'), 'NodeGetVolumeStats', { volume_id: volume.volume_id, volume_path: a });
    expect(stats.usage).toEqual([expect.objectContaining({ unit: 'BYTES', total: String(8n * GiB) })]);

    await cluster.unpublish('node01', volume.volume_id, 'ro-a', 'a');
    expect(await views()).toHaveLength(1);
    expect((await readAt(b, 4 * MiB, pattern.length)).equals(pattern)).toBe(true);
    await cluster.unpublish('node01', volume.volume_id, 'ro-b', 'b');
    expect(await views()).toEqual([]);
    expect(await mountCount(a)).toBe(0);
    expect(await mountCount(b)).toBe(0);
    await cluster.unstage('node01', volume.volume_id, 'rw');
    await cluster.controllerUnpublish(volume.volume_id, 'node01');
  });
});
