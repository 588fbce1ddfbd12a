import { randomBytes } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { call } from '../../helpers/csi-client.js';
import type {
  BlockCluster} from '../../helpers/block-cluster.js';
import {
  useBlockCluster,
  GiB,
  MiB,
  blockCapability,
  mountCapability,
  mountCount,
  mountsAt,
  readAt,
  sha256File,
  writeAt,
  writeRandomFile,
  type NodeName,
} from '../../helpers/block-cluster.js';

/**
 * Issue 4, must-show 7: the node plugin's clean-up at start. While node01's plugin is down, the controller takes
 * volumes away from node01 (as when node02 takes them over): the pool removes node01's device link and lets go of
 * the loop device. When node01's plugin starts again it unmounts those volumes' publish targets and staging mounts
 * and forgets them, and leaves alone a volume that is still mapped to node01 (still mounted, data readable).
 */
let cluster: BlockCluster;

useBlockCluster('ferry-block-stale-', (started) => (cluster = started));

/** The volume ids a node plugin has records of (its state dir), read as the files are: JSON with a volumeId. */
async function recordedVolumes(name: NodeName): Promise<string[]> {
  const dir = cluster.stateDir(name);
  const ids: string[] = [];
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (!f.endsWith('.json')) continue;
    const parsed = JSON.parse(await readFile(path.join(dir, f), 'utf8')) as { volumeId?: unknown };
    if (typeof parsed.volumeId === 'string') ids.push(parsed.volumeId);
  }
  return ids.sort();
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('stale clean-up when the node plugin starts', () => {
  it('unmounts and forgets volumes unpublished from node01 while its plugin was down; leaves the volume still mapped alone', async () => {
    const fsCap = mountCapability('ext4');
    const blockCap = blockCapability();
    const taken = await cluster.createVolume('pvc-stale-taken', { capability: fsCap });
    const takenBlock = await cluster.createVolume('pvc-stale-taken-raw', { capability: blockCap, requiredBytes: 8n * GiB });
    const kept = await cluster.createVolume('pvc-stale-kept', { capability: mountCapability('xfs') });

    const takenTarget = await cluster.attach('node01', taken.volume_id, 'taken', fsCap);
    const takenSum = await writeRandomFile(`${takenTarget}/data.bin`, 10 * MiB);
    const rawTarget = await cluster.attach('node01', takenBlock.volume_id, 'raw', blockCap);
    const rawPattern = randomBytes(MiB);
    await writeAt(rawTarget, 64 * MiB, rawPattern);
    const keptTarget = await cluster.attach('node01', kept.volume_id, 'kept', mountCapability('xfs'));
    const keptSum = await writeRandomFile(`${keptTarget}/data.bin`, 10 * MiB);
    expect(await recordedVolumes('node01')).toEqual([taken.volume_id, takenBlock.volume_id, kept.volume_id].sort());
    const takenFile = cluster.volumeFile(taken.volume_id);
    const rawFile = cluster.volumeFile(takenBlock.volume_id);

    // node01's plugin dies (SIGKILL: nothing tidied); meanwhile the controller takes two volumes from node01.
    await cluster.kill9('node01');
    for (const v of [taken, takenBlock]) {
      await cluster.controllerUnpublish(v.volume_id, 'node01');
      await expect(stat(cluster.deviceLink('node01', v.volume_id))).rejects.toMatchObject({ code: 'ENOENT' });
    }
    // Until node01 lets go, its mounts are still there (the loop devices stay until their last user is gone).
    expect(await mountCount(takenTarget)).toBe(1);
    expect(await mountCount(cluster.stagingPath('node01', 'taken'))).toBe(1);
    expect(await mountCount(rawTarget)).toBe(1);

    await cluster.startNode('node01');

    // The taken volumes: publish targets and staging mount gone, the targets removed, the records forgotten.
    expect(await mountCount(takenTarget)).toBe(0);
    expect(await mountCount(cluster.stagingPath('node01', 'taken'))).toBe(0);
    expect(await mountCount(rawTarget)).toBe(0);
    await expect(stat(takenTarget)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(rawTarget)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await recordedVolumes('node01')).toEqual([kept.volume_id]);
    const log = cluster.logs('node01');
    expect(log).toContain(taken.volume_id);
    expect(log).toContain(takenBlock.volume_id);
    // With the mounts gone, the kernel lets go of the loop devices the pool detached.
    await eventually('loop devices of the taken volumes detached', async () => {
      const loops = await cluster.pool.loopDevices();
      return !loops.some((l) => l.backFile === takenFile || l.backFile === rawFile);
    }, 30_000);

    // The kept volume: untouched, still mounted at both paths, its data readable.
    expect(await mountCount(cluster.stagingPath('node01', 'kept'))).toBe(1);
    expect(await mountCount(keptTarget)).toBe(1);
    expect(await sha256File(`${keptTarget}/data.bin`)).toBe(keptSum);
    const stats = await call(cluster.node('node01'), 'NodeGetVolumeStats', { volume_id: kept.volume_id, volume_path: keptTarget });
    expect(stats.volume_condition?.abnormal).toBe(false);

    // And node02 takes the volumes over, data intact.
    const t2 = await cluster.attach('node02', taken.volume_id, 'taken', fsCap);
    expect(await sha256File(`${t2}/data.bin`)).toBe(takenSum);
    const r2 = await cluster.attach('node02', takenBlock.volume_id, 'raw', blockCap);
    expect((await readAt(r2, 64 * MiB, MiB)).equals(rawPattern)).toBe(true);
    expect(await cluster.mkfsRuns('node02')).toHaveLength(0);

    // A second restart of node01 finds nothing more to clean.
    await cluster.restart('node01');
    expect(await recordedVolumes('node01')).toEqual([kept.volume_id]);
    expect(await mountCount(keptTarget)).toBe(1);
    expect(await sha256File(`${keptTarget}/data.bin`)).toBe(keptSum);
  });

  // A volume taken away from node01 while its plugin was down and given back before it starts comes back as another
  // device at the same link. The old mounts sit on the device whose mapping was removed (fenced by the pool): the
  // sweep must treat the record as stale, and NodeStage must then mount the current device with node02's writes.
  it('a volume taken away and given back while the plugin was down: the stale staging mount goes, NodeStage mounts the current device', async () => {
    const cap = mountCapability('ext4');
    const volume = await cluster.createVolume('pvc-stale-back', { capability: cap });
    const target = await cluster.attach('node01', volume.volume_id, 'v', cap);
    const sum = await writeRandomFile(`${target}/data.bin`, 4 * MiB);
    const oldDevice = await cluster.device('node01', volume.volume_id);

    await cluster.stopNode('node01');
    await cluster.controllerUnpublish(volume.volume_id, 'node01');
    // node02 takes it over and writes, then lets go; the volume comes back to node01 (a new device behind the link).
    const t2 = await cluster.attach('node02', volume.volume_id, 'v', cap);
    expect(await sha256File(`${t2}/data.bin`)).toBe(sum);
    await writeFile(`${t2}/from-node02.txt`, 'written on node02\n');
    await cluster.detach('node02', volume.volume_id, 'v');
    await cluster.controllerPublish(volume.volume_id, 'node01', cap);
    const newDevice = await cluster.device('node01', volume.volume_id);
    expect(newDevice).not.toBe(oldDevice);

    await cluster.startNode('node01');
    const stagingPath = cluster.stagingPath('node01', 'v');
    // Nothing of node01 may still sit on the device whose mapping was taken away.
    const onOld = (await mountsAt(stagingPath)).concat(await mountsAt(target)).filter((m) => m.source === oldDevice);
    expect(onOld.map((m) => m.mountPoint)).toEqual([]);

    await cluster.stage('node01', volume.volume_id, 'v', cap);
    expect((await mountsAt(stagingPath)).map((m) => m.source)).toEqual([newDevice]);
    const again = await cluster.publish('node01', volume.volume_id, 'v', cap);
    expect(await readFile(`${again}/from-node02.txt`, 'utf8')).toBe('written on node02\n');
    expect(await sha256File(`${again}/data.bin`)).toBe(sum);
  });
});
