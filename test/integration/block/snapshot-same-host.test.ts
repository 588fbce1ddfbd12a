import { readFile, writeFile } from 'node:fs/promises';
import { exec } from '../../../src/util/exec.js';
import { call } from '../../helpers/csi-client.js';
import type { BlockCluster } from '../../helpers/block-cluster.js';
import { useBlockCluster, GiB, MiB, filesystemUuid, mountCapability, mountsAt, sha256File, writeRandomFile } from '../../helpers/block-cluster.js';

/**
 * Issue 4, must-show 5: an xfs snapshot restored and mounted on the same host as its source. The restored volume
 * carries the source's filesystem UUID, which xfs refuses to mount twice unless told `nouuid` (NodeStage adds it for
 * xfs). Both are staged on node01 at once; the restored data has the source's checksum; a write to one does not
 * show in the other. The same for a clone (volume_content_source.volume) of a volume in use.
 */
let cluster: BlockCluster;

useBlockCluster('ferry-block-snap-', (started) => (cluster = started));

/**
 * The snapshot (a copy of the volume's file, taken by the pool) of a mounted filesystem is as consistent as a crash;
 * freezing the filesystem around it, as an application-consistent snapshot would, makes it clean.
 */
async function frozen<T>(mountPath: string, fn: () => Promise<T>): Promise<T> {
  await exec('fsfreeze', ['--freeze', mountPath], { timeoutMs: 30_000 });
  try {
    return await fn();
  } finally {
    await exec('fsfreeze', ['--unfreeze', mountPath], { timeoutMs: 30_000 });
  }
}

describe('xfs snapshot and clone mounted on the same host as the source', () => {
  it('restores a snapshot next to its source (nouuid), same checksum, writes stay apart; a clone of the volume in use too', async () => {
    const cap = mountCapability('xfs');
    const source = await cluster.createVolume('pvc-snap-src', { capability: cap, requiredBytes: 16n * GiB });
    const srcTarget = await cluster.attach('node01', source.volume_id, 'src', cap);
    const sum = await writeRandomFile(`${srcTarget}/data.bin`, 30 * MiB);
    await writeFile(`${srcTarget}/before-snapshot.txt`, 'taken before the snapshot\n');

    const snapshot = await frozen(srcTarget, () => cluster.createSnapshot('snap-src', source.volume_id));
    expect(snapshot.source_volume_id).toBe(source.volume_id);
    expect(snapshot.ready_to_use).toBe(true);
    expect(snapshot.size_bytes).toBe(String(16n * GiB));

    const restored = await cluster.createVolume('pvc-snap-restored', { capability: cap, requiredBytes: 16n * GiB, source: { snapshot: snapshot.snapshot_id } });
    expect(restored.content_source?.snapshot?.snapshot_id).toBe(snapshot.snapshot_id);
    const restTarget = await cluster.attach('node01', restored.volume_id, 'restored', cap);

    // Both staged (and published) on node01 at the same time, one filesystem UUID between them.
    const srcDevice = await cluster.device('node01', source.volume_id);
    const restDevice = await cluster.device('node01', restored.volume_id);
    expect(restDevice).not.toBe(srcDevice);
    const uuid = await filesystemUuid(srcDevice);
    expect(await filesystemUuid(restDevice)).toBe(uuid);
    const [srcStaging] = await mountsAt(cluster.stagingPath('node01', 'src'));
    const [restStaging] = await mountsAt(cluster.stagingPath('node01', 'restored'));
    expect(srcStaging?.source).toBe(srcDevice);
    expect(restStaging?.source).toBe(restDevice);
    expect(restStaging?.fsType).toBe('xfs');
    // The restored volume was not formatted: only the source's one mkfs ran on this node.
    expect(await cluster.mkfsRuns('node01')).toHaveLength(1);
    const mounts = (await cluster.toolRuns('node01', 'mount')).filter((l) => l.includes(' -t xfs '));
    expect(mounts).toHaveLength(2);
    for (const m of mounts) expect(m).toMatch(/-o (\S+,)?nouuid/);

    expect(await sha256File(`${restTarget}/data.bin`)).toBe(sum);
    expect(await readFile(`${restTarget}/before-snapshot.txt`, 'utf8')).toBe('taken before the snapshot\n');

    // Writes stay apart: overwrite the file in the restored volume, add one to the source.
    const restSum = await writeRandomFile(`${restTarget}/data.bin`, 5 * MiB);
    await writeFile(`${srcTarget}/after-snapshot.txt`, 'written to the source after the snapshot\n');
    expect(await sha256File(`${srcTarget}/data.bin`)).toBe(sum);
    await expect(readFile(`${restTarget}/after-snapshot.txt`)).rejects.toMatchObject({ code: 'ENOENT' });

    // A clone of the source, taken while the source is in use, mounted on the same host as both.
    const clone = await frozen(srcTarget, () => cluster.createVolume('pvc-snap-clone', { capability: cap, requiredBytes: 16n * GiB, source: { volume: source.volume_id } }));
    expect(clone.content_source?.volume?.volume_id).toBe(source.volume_id);
    const cloneTarget = await cluster.attach('node01', clone.volume_id, 'clone', cap);
    expect(await filesystemUuid(await cluster.device('node01', clone.volume_id))).toBe(uuid);
    expect(await sha256File(`${cloneTarget}/data.bin`)).toBe(sum);
    expect(await readFile(`${cloneTarget}/after-snapshot.txt`, 'utf8')).toBe('written to the source after the snapshot\n');
    await writeFile(`${cloneTarget}/clone-only.txt`, 'clone\n');
    await expect(readFile(`${srcTarget}/clone-only.txt`)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(readFile(`${restTarget}/clone-only.txt`)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await cluster.mkfsRuns('node01')).toHaveLength(1);

    // Read from the disks, not the page cache: unstage all three, stage again, compare.
    const all = [['src', source.volume_id], ['restored', restored.volume_id], ['clone', clone.volume_id]] as const;
    for (const [label, id] of all) {
      await cluster.unpublish('node01', id, label);
      await cluster.unstage('node01', id, label);
    }
    for (const [label, id] of all) {
      await cluster.stage('node01', id, label, cap);
      await cluster.publish('node01', id, label, cap);
    }
    expect(await sha256File(`${srcTarget}/data.bin`)).toBe(sum);
    expect(await sha256File(`${restTarget}/data.bin`)).toBe(restSum);
    expect(await sha256File(`${cloneTarget}/data.bin`)).toBe(sum);
    expect(await readFile(`${cloneTarget}/clone-only.txt`, 'utf8')).toBe('clone\n');
    const listed = await call(cluster.controller, 'ListSnapshots', { source_volume_id: source.volume_id });
    expect(listed.entries.map((e) => e.snapshot?.snapshot_id)).toEqual([snapshot.snapshot_id]);
    process.stdout.write(`xfs snapshot/clone on one host: UUID ${uuid} on 3 devices, source sha256 ${sum}, restored and clone matched\n`);
  });
});
