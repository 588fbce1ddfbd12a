import { status } from '@grpc/grpc-js';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { call } from '../../helpers/csi-client.js';
import type { BlockCluster } from '../../helpers/block-cluster.js';
import { useBlockCluster, GiB, blockCapability, grpcError, mountCapability, mountCount } from '../../helpers/block-cluster.js';
import { exec } from '../../../src/util/exec.js';

/**
 * Issue 14, its worst finding: NodeUnpublishVolume unmounted whatever path it was given. Now every layer at the
 * target must be the volume's own (its device, by the node's record or by its current mapping) before it comes off;
 * a stranger's mount stays mounted and the caller hears FAILED_PRECONDITION, and a volume's own staging path is no
 * publish target to take down (INVALID_ARGUMENT).
 */
let cluster: BlockCluster;
useBlockCluster('ferry-unpublish-strangers-', (started) => (cluster = started));

const NODE = 'node01' as const;

async function foreignTmpfs(label: string): Promise<string> {
  const dir = path.join(cluster.root, 'strangers', label);
  await mkdir(dir, { recursive: true });
  await exec('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'stranger', dir], { timeoutMs: 10_000 });
  return dir;
}

afterEach(async () => {
  const { stdout } = await exec('findmnt', ['-rn', '-o', 'TARGET'], { timeoutMs: 10_000 });
  for (const target of stdout.split('\n').filter((t) => t.startsWith(path.join(cluster.root, 'strangers')))) {
    await exec('umount', [target], { timeoutMs: 10_000 });
  }
});

describe('NodeUnpublishVolume never unmounts a stranger', () => {
  it('a made-up volume id over a foreign tmpfs: FAILED_PRECONDITION, still mounted', async () => {
    const dir = await foreignTmpfs('made-up');
    const made = 'powerflex:0123456789abcdef-fedcba9876543210';
    const err = await grpcError(call(cluster.node(NODE), 'NodeUnpublishVolume', { volume_id: made, target_path: dir }));
    expect(err).toMatchObject({ code: status.FAILED_PRECONDITION });
    expect(err.details).toContain('not unmounted');
    expect(await mountCount(dir)).toBe(1);
  });

  it("a real volume's id over another volume's publish target: FAILED_PRECONDITION, the other stays published", async () => {
    const cap = mountCapability('ext4');
    const a = await cluster.createVolume('pvc-strangers-a', { capability: cap, requiredBytes: 8n * GiB });
    const b = await cluster.createVolume('pvc-strangers-b', { capability: cap, requiredBytes: 8n * GiB });
    const targetA = await cluster.attach(NODE, a.volume_id, 'a', cap);
    await cluster.attach(NODE, b.volume_id, 'b', cap);
    const err = await grpcError(call(cluster.node(NODE), 'NodeUnpublishVolume', { volume_id: b.volume_id, target_path: targetA }));
    expect(err).toMatchObject({ code: status.FAILED_PRECONDITION });
    expect(await mountCount(targetA)).toBe(1);
    // The right id takes it down as before.
    await cluster.unpublish(NODE, a.volume_id, 'a');
    expect(await mountCount(targetA)).toBe(0);
  });

  it("a volume's own staging path given as the target: INVALID_ARGUMENT, the stage stays up", async () => {
    const cap = mountCapability('xfs');
    const v = await cluster.createVolume('pvc-strangers-stage', { capability: cap, requiredBytes: 8n * GiB });
    await cluster.attach(NODE, v.volume_id, 'st', cap);
    const stagingPath = cluster.stagingPath(NODE, 'st');
    const err = await grpcError(call(cluster.node(NODE), 'NodeUnpublishVolume', { volume_id: v.volume_id, target_path: stagingPath }));
    expect(err).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(await mountCount(stagingPath)).toBe(1);
  });

  it('a raw block target is recognised by its device node, and only the right volume unbinds it', async () => {
    const cap = blockCapability();
    const a = await cluster.createVolume('pvc-strangers-raw-a', { capability: cap, requiredBytes: 8n * GiB });
    const b = await cluster.createVolume('pvc-strangers-raw-b', { capability: cap, requiredBytes: 8n * GiB });
    const targetA = await cluster.attach(NODE, a.volume_id, 'ra', cap);
    await cluster.attach(NODE, b.volume_id, 'rb', cap);
    const err = await grpcError(call(cluster.node(NODE), 'NodeUnpublishVolume', { volume_id: b.volume_id, target_path: targetA }));
    expect(err).toMatchObject({ code: status.FAILED_PRECONDITION });
    expect(await mountCount(targetA)).toBe(1);
    await cluster.unpublish(NODE, a.volume_id, 'ra');
    expect(await mountCount(targetA)).toBe(0);
  });
});
