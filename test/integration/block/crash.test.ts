import { status } from '@grpc/grpc-js';
import { stat, statfs } from 'node:fs/promises';
import { call } from '../../helpers/csi-client.js';
import type {
  BlockCluster} from '../../helpers/block-cluster.js';
import {
  useBlockCluster,
  GiB,
  MiB,
  blockCapability,
  filesystemUuid,
  mountCapability,
  mountCount,
  readAt,
  sha256File,
  writeAt,
  writeRandomFile,
  type NodeName,
} from '../../helpers/block-cluster.js';
import type { VolumeCapability } from '../../../src/gen/csi/v1/VolumeCapability.js';

/**
 * Issue 4, must-show 6: the node plugin killed (SIGKILL) at every step of NodeStage in turn, restarted, the call
 * retried; the data is intact, the device was formatted once, the filesystem UUID never changed, nothing is mounted
 * twice. No test hook in production code: the node plugin runs with PATH shims (test/helpers/block-cluster.ts) that
 * run the real blkid, mkfs.*, mount, e2fsck, resize2fs, ... and kill -9 their parent, the node plugin, just before or
 * just after the n-th command it runs.
 *
 * "Each step" is found by walking rather than listed by hand: every retry is killed at the first point (before or
 * after a command) that the walk has not killed at yet, on the state the previous kill left, until a retry runs to
 * the end. So whatever commands the path takes on that state (the first mkfs; or e2fsck + resize2fs of a grown ext4;
 * or xfs_growfs after the mount; and the shorter path once a step is done), each is cut short on both sides.
 */
let cluster: BlockCluster;
const NODE: NodeName = 'node01';

useBlockCluster('ferry-block-crash-', (started) => (cluster = started));

interface Walk {
  /** kills.log lines of the kills that fired, in order. */
  kills: string[];
}

/**
 * Kills the node plugin at every point of `attempt`, one per try: each try is killed at the first point (before or
 * after one of the commands it runs) not killed at before in this walk; the plugin is restarted and `check` runs;
 * the next try starts from the state the kill left. The walk ends when a try runs to the end with no new point to
 * kill at, i.e. with the call succeeding.
 */
async function walkKills(attempt: () => Promise<unknown>, check: () => Promise<void> = async () => undefined): Promise<Walk> {
  const kills: string[] = [];
  await cluster.startWalk(NODE);
  for (let i = 0; i < 60; i++) {
    await cluster.armWalk(NODE);
    let failure: unknown;
    try {
      await attempt();
    } catch (err) {
      failure = err;
    }
    if (await cluster.killPending(NODE)) {
      await cluster.disarm(NODE);
      if (failure !== undefined) throw new Error(`the call failed with nothing killed: ${String(failure)}\n${cluster.logs(NODE).slice(-5000)}`);
      return { kills };
    }
    expect(failure).toMatchObject({ code: status.UNAVAILABLE });
    expect(await cluster.waitForExit(NODE)).toBe('SIGKILL');
    kills.push((await cluster.kills(NODE)).at(-1) ?? '?');
    await cluster.restart(NODE);
    await check();
  }
  throw new Error(`a walk of more than 60 kills?\n${kills.join('\n')}`);
}

function stageRequest(volumeId: string, label: string, cap: VolumeCapability): () => Promise<unknown> {
  return () => cluster.stage(NODE, volumeId, label, cap);
}

describe('node plugin killed at each step of NodeStage', () => {
  it.each(['ext4', 'xfs'] as const)('first stage of a blank %s volume: formatted exactly once, one UUID, one mount, data then writable', async (fsType) => {
    const cap = mountCapability(fsType);
    const volume = await cluster.createVolume(`pvc-crash-first-${fsType}`, { capability: cap });
    await cluster.controllerPublish(volume.volume_id, NODE, cap);
    const device = await cluster.device(NODE, volume.volume_id);
    const stagingPath = cluster.stagingPath(NODE, 'v');
    const uuids = new Set<string>();
    const walk = await walkKills(stageRequest(volume.volume_id, 'v', cap), async () => {
      const uuid = await filesystemUuid(device);
      if (uuid !== '') uuids.add(uuid);
      // Never two layers at the staging path, whatever was cut short.
      expect(await mountCount(stagingPath)).toBeLessThanOrEqual(1);
    });

    // Every kind of step was cut short, on both sides: the probe, the mkfs, the mount.
    const text = walk.kills.join('\n');
    for (const step of [`before blkid`, `after blkid`, `before mkfs.${fsType}`, `after mkfs.${fsType}`, `before mount`, `after mount`]) {
      expect(text).toContain(`killed ${step}`);
    }
    const mkfs = await cluster.mkfsRuns(NODE, device);
    expect(mkfs).toHaveLength(1);
    expect(mkfs[0]).toMatch(new RegExp(`^mkfs\\.${fsType} rc=0 `));
    const finalUuid = await filesystemUuid(device);
    expect([...uuids]).toEqual([finalUuid]);
    expect(await mountCount(stagingPath)).toBe(1);

    const target = await cluster.publish(NODE, volume.volume_id, 'v', cap);
    const sum = await writeRandomFile(`${target}/data.bin`, 8 * MiB);
    expect(await sha256File(`${target}/data.bin`)).toBe(sum);
    process.stdout.write(
      `crash walk, first ${fsType} stage: ${walk.kills.length} kills, mkfs runs ${mkfs.length}, UUID ${finalUuid}\n  ${walk.kills.join('\n  ')}\n`,
    );
  });

  it.each(['ext4', 'xfs'] as const)('re-stage of a %s volume holding data, grown while unstaged: checksum intact after kills at every step', async (fsType) => {
    const cap = mountCapability(fsType);
    const volume = await cluster.createVolume(`pvc-crash-data-${fsType}`, { capability: cap, requiredBytes: 16n * GiB });
    const target = await cluster.attach(NODE, volume.volume_id, 'v', cap);
    const sum = await writeRandomFile(`${target}/data.bin`, 40 * MiB);
    const device = await cluster.device(NODE, volume.volume_id);
    const uuid = await filesystemUuid(device);
    await cluster.unpublish(NODE, volume.volume_id, 'v');
    await cluster.unstage(NODE, volume.volume_id, 'v');
    // Grown while unstaged, so the re-stage has the most to do: ext4 is checked and grown before the mount, xfs
    // grown after it.
    await call(cluster.controller, 'ControllerExpandVolume', { volume_id: volume.volume_id, capacity_range: { required_bytes: String(24n * GiB) }, volume_capability: cap });

    const stagingPath = cluster.stagingPath(NODE, 'v');
    const walk = await walkKills(stageRequest(volume.volume_id, 'v', cap), async () => {
      expect(await filesystemUuid(device)).toBe(uuid);
      expect(await mountCount(stagingPath)).toBeLessThanOrEqual(1);
    });
    const text = walk.kills.join('\n');
    const grow = fsType === 'ext4' ? ['before e2fsck', 'after e2fsck', 'before resize2fs', 'after resize2fs'] : ['before xfs_growfs', 'after xfs_growfs'];
    for (const step of ['before blkid', 'after blkid', ...grow, 'before mount', 'after mount']) expect(text).toContain(`killed ${step}`);
    expect(text).not.toContain('mkfs');

    expect(await mountCount(stagingPath)).toBe(1);
    const again = await cluster.publish(NODE, volume.volume_id, 'v', cap);
    expect(await sha256File(`${again}/data.bin`)).toBe(sum);
    expect(await filesystemUuid(device)).toBe(uuid);
    expect(await cluster.mkfsRuns(NODE)).toHaveLength(1);
    const st = await statfs(again, { bigint: true });
    expect(st.blocks * st.bsize).toBeGreaterThan(16n * GiB);
    process.stdout.write(`crash walk, ${fsType} re-stage with data: ${walk.kills.length} kills, sha256 ${sum} intact, UUID ${uuid} kept\n  ${walk.kills.join('\n  ')}\n`);
  });
});

describe('node plugin killed mid-NodePublish / NodeUnpublish / NodeUnstage', () => {
  it('filesystem: a publish retried after a kill leaves one bind mount at the target, not two stacked', async () => {
    const cap = mountCapability('ext4');
    const volume = await cluster.createVolume('pvc-crash-publish', { capability: cap });
    await cluster.controllerPublish(volume.volume_id, NODE, cap);
    await cluster.stage(NODE, volume.volume_id, 'v', cap);
    const target = cluster.targetPath(NODE, 'v');
    const publishWalk = await walkKills(
      () => cluster.publish(NODE, volume.volume_id, 'v', cap),
      async () => expect(await mountCount(target)).toBeLessThanOrEqual(1),
    );
    expect(publishWalk.kills.join('\n')).toContain('killed after mount');
    expect(await mountCount(target)).toBe(1);
    const sum = await writeRandomFile(`${target}/data.bin`, 4 * MiB);

    // Once more (a CO retry): still one.
    await cluster.publish(NODE, volume.volume_id, 'v', cap);
    expect(await mountCount(target)).toBe(1);

    const unpublishWalk = await walkKills(() => cluster.unpublish(NODE, volume.volume_id, 'v'));
    expect(unpublishWalk.kills.join('\n')).toContain('killed after umount');
    expect(await mountCount(target)).toBe(0);
    await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });

    const stagingPath = cluster.stagingPath(NODE, 'v');
    const unstageWalk = await walkKills(() => cluster.unstage(NODE, volume.volume_id, 'v'));
    expect(unstageWalk.kills.join('\n')).toContain('killed after umount');
    expect(await mountCount(stagingPath)).toBe(0);

    // The data survived all of it.
    await cluster.stage(NODE, volume.volume_id, 'v', cap);
    const again = await cluster.publish(NODE, volume.volume_id, 'v', cap);
    expect(await sha256File(`${again}/data.bin`)).toBe(sum);
    expect(await cluster.mkfsRuns(NODE)).toHaveLength(1);
    process.stdout.write(
      `crash walk, publish/unpublish/unstage: ${publishWalk.kills.length}/${unpublishWalk.kills.length}/${unstageWalk.kills.length} kills\n  ${[...publishWalk.kills, ...unpublishWalk.kills, ...unstageWalk.kills].join('\n  ')}\n`,
    );
  });

  it('raw block: a publish retried after a kill leaves one bind of the device at the target file', async () => {
    const cap = blockCapability();
    const volume = await cluster.createVolume('pvc-crash-raw', { capability: cap, requiredBytes: 8n * GiB });
    await cluster.controllerPublish(volume.volume_id, NODE, cap);
    await cluster.stage(NODE, volume.volume_id, 'raw', cap);
    const target = cluster.targetPath(NODE, 'raw');
    const walk = await walkKills(
      () => cluster.publish(NODE, volume.volume_id, 'raw', cap),
      async () => expect(await mountCount(target)).toBeLessThanOrEqual(1),
    );
    expect(walk.kills.join('\n')).toContain('killed after mount');
    expect(await mountCount(target)).toBe(1);
    expect((await stat(target)).rdev).toBe((await stat(await cluster.device(NODE, volume.volume_id))).rdev);
    const pattern = Buffer.alloc(MiB, 0x5a);
    await writeAt(target, 3 * MiB, pattern);
    expect((await readAt(target, 3 * MiB, MiB)).equals(pattern)).toBe(true);
  });
});
