import { status } from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { VolumeCapability } from '../../../src/gen/csi/v1/VolumeCapability.js';
import { BlockCluster, grpcError, mountCapability, mountCount, type NodeName } from '../../helpers/block-cluster.js';
import { call } from '../../helpers/csi-client.js';
import { waitUntil } from '../../helpers/eventually.js';
import { exec } from '../../../src/util/exec.js';

/**
 * Preemption at the CSI level, everything real: `ferry pool` (whose admin endpoint plays the storage system's view
 * of a dead host), a controller and two node plugins. No Kubernetes API is configured here, so `safe` rests on the
 * storage evidence alone: the holder's SDC Disconnected and no I/O on the volume over the confirmation window.
 */
let cluster: BlockCluster;
const ext4 = mountCapability('ext4');

beforeAll(async () => {
  cluster = await BlockCluster.start({ prefix: 'ferry-preempt-' });
}, 120_000);

afterEach(async () => {
  for (const name of ['node01', 'node02'] as const) await setHostState(name, 'Connected');
  await cluster.releaseVolumes();
});

afterAll(async () => {
  await cluster?.cleanup();
});

async function setHostState(name: NodeName, state: 'Connected' | 'Disconnected'): Promise<void> {
  const res = await cluster.pool.request('POST', `/pool/hosts/${cluster.nodeId(name)}/state`, { auth: 'admin', body: { mdmConnectionState: state } });
  expect(res.status).toBeLessThan(300);
}

async function publish(volumeId: string, name: NodeName, capability: VolumeCapability, context: Record<string, string>): Promise<void> {
  await call(cluster.controller, 'ControllerPublishVolume', { volume_id: volumeId, node_id: cluster.nodeId(name), volume_capability: capability, volume_context: context });
}

async function publishedTo(volumeId: string): Promise<string[]> {
  const res = await call(cluster.controller, 'ControllerGetVolume', { volume_id: volumeId });
  return [...(res.status?.published_node_ids ?? [])].sort();
}

async function newVolume(name: string, preemption?: string): Promise<{ id: string; context: Record<string, string> }> {
  const volume = await cluster.createVolume(name, { capability: ext4, parameters: preemption ? { preemption } : {} });
  return { id: volume.volume_id, context: volume.volume_context };
}

describe('safe (the default)', () => {
  it('never takes a volume from a holder that is alive', async () => {
    const vol = await newVolume('alive-holder');
    expect(vol.context).not.toHaveProperty('preemption');
    await cluster.attach('node01', vol.id, 'alive', ext4);
    const err = await grpcError(publish(vol.id, 'node02', ext4, vol.context));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toContain(cluster.nodeId('node01'));
    expect(err.details).toContain('Connected, not Disconnected');
    expect(await publishedTo(vol.id)).toEqual([cluster.nodeId('node01')]);
  });

  it('takes a volume over from a holder the storage system reports Disconnected, removing only that mapping', async () => {
    const taken = await newVolume('taken');
    const kept = await newVolume('kept');
    const target = await cluster.attach('node01', taken.id, 'taken', ext4);
    const keptTarget = await cluster.attach('node01', kept.id, 'kept', ext4);
    await writeFile(path.join(target, 'aof'), 'SET k v\n');
    await writeFile(path.join(keptTarget, 'still-here'), 'yes');
    // The host dies: its filesystems stop doing I/O (frozen here: ext4's journal and lazy-init threads would
    // otherwise keep writing, as a live host does), its client drops off the storage system.
    await cluster.stopNode('node01');
    const staging = cluster.stagingPath('node01', 'taken');
    await exec('fsfreeze', ['--freeze', staging]);
    let frozen = true;
    try {
      await setHostState('node01', 'Disconnected');
      await publish(taken.id, 'node02', ext4, taken.context);
      expect(await publishedTo(taken.id)).toEqual([cluster.nodeId('node02')]);
      expect(await publishedTo(kept.id)).toEqual([cluster.nodeId('node01')]);
      await waitUntil(() => cluster.logs('controller').includes('volume taken over from a node that is gone'), 'the take-over log line');

      // The new node reads what the old one wrote.
      await cluster.stage('node02', taken.id, 'taken', ext4);
      const newTarget = await cluster.publish('node02', taken.id, 'taken', ext4);
      expect(await readFile(path.join(newTarget, 'aof'), 'utf8')).toBe('SET k v\n');

      // The old node comes back (rebooted, so nothing is frozen): its plugin lets go of the volume it lost and
      // keeps the one it still holds.
      await exec('fsfreeze', ['--unfreeze', staging]);
      frozen = false;
    } finally {
      if (frozen) await exec('fsfreeze', ['--unfreeze', staging]);
    }
    await setHostState('node01', 'Connected');
    await cluster.startNode('node01');
    expect(await mountCount(target)).toBe(0);
    expect(await mountCount(cluster.stagingPath('node01', 'taken'))).toBe(0);
    expect(await mountCount(keptTarget)).toBe(1);
    expect(await readFile(path.join(keptTarget, 'still-here'), 'utf8')).toBe('yes');
    expect(cluster.logs('node01')).toContain('volume no longer mapped here: cleaning up');
  });

  it('refuses while the volume still does I/O, even with its holder Disconnected', async () => {
    const vol = await newVolume('busy');
    const target = await cluster.attach('node01', vol.id, 'busy', ext4);
    await setHostState('node01', 'Disconnected');
    // A partitioned host that still writes: direct I/O, so every write reaches the device during the window.
    const writer: ChildProcess = spawn('sh', ['-c', `while :; do dd if=/dev/zero of=${path.join(target, 'busy')} bs=64k count=4 oflag=direct conv=notrunc 2>/dev/null; done`], {
      stdio: 'ignore',
    });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const err = await grpcError(publish(vol.id, 'node02', ext4, vol.context));
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.details).toContain('still doing I/O');
      expect(await publishedTo(vol.id)).toEqual([cluster.nodeId('node01')]);
    } finally {
      writer.kill('SIGKILL');
    }
  });

  it('gives exactly one winner to two concurrent publishes to two nodes', async () => {
    const vol = await newVolume('race');
    const results = await Promise.allSettled([publish(vol.id, 'node01', ext4, vol.context), publish(vol.id, 'node02', ext4, vol.context)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected');
    expect(lost?.status === 'rejected' && (lost.reason as { code: number }).code).toBe(status.FAILED_PRECONDITION);
    expect(await publishedTo(vol.id)).toHaveLength(1);
  });
});

describe('never and force', () => {
  it('never: refuses even when the holder is Disconnected', async () => {
    const vol = await newVolume('never', 'never');
    expect(vol.context['preemption']).toBe('never');
    await cluster.controllerPublish(vol.id, 'node01', ext4);
    await setHostState('node01', 'Disconnected');
    const err = await grpcError(publish(vol.id, 'node02', ext4, vol.context));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toContain('preemption: never');
    expect(await publishedTo(vol.id)).toEqual([cluster.nodeId('node01')]);
  });

  it('force: takes the volume from a live holder, with a warning', async () => {
    const vol = await newVolume('force', 'force');
    await cluster.controllerPublish(vol.id, 'node01', ext4);
    await publish(vol.id, 'node02', ext4, vol.context);
    expect(await publishedTo(vol.id)).toEqual([cluster.nodeId('node02')]);
    await waitUntil(() => cluster.logs('controller').includes('WITHOUT evidence that the holder is gone'), 'the force warning');
  });

  it('rejects an unknown policy at CreateVolume', async () => {
    const err = await grpcError(cluster.createVolume('bad-policy', { capability: ext4, parameters: { preemption: 'always' } }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain('never, safe, force');
  });
});
