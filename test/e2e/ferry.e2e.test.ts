import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { exec } from '../../src/util/exec.js';
import { waitFor } from './daemon.js';
import { FerryCluster, NAMESPACE, RELEASE } from './ferry-cluster.js';
import { BLOCK_CLASS, NFS_CLASS } from './ferry-values.js';
import { NS, groupSnapshot, multiClaimPod, pod, pvc, snapshot, statefulSet } from './k8s-objects.js';
import { mountsUnder } from './mounts.js';

/**
 * Ferry on a real two-node Kubernetes (test/e2e/cluster.ts), installed with `helm install charts/ferry`, backed by
 * `ferry pool` on the host. Every scenario goes through Kubernetes alone (kubectl objects), as a user would.
 * `npm run e2e` runs this file and the harness's own check; each scenario prints its timings.
 */
const results: string[] = [];
const log = (m: string): void => {
  process.stderr.write(`[e2e ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
};
function report(line: string): void {
  results.push(line);
  log(line);
}

let ferry: FerryCluster;
const token = (): string => `ferry-${randomBytes(6).toString('hex')}`;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function apply(...objects: object[]): Promise<void> {
  await ferry.cluster.kubectl.run(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
}

async function get<T>(kind: string, name: string, namespace = NS): Promise<T | undefined> {
  const r = await ferry.cluster.kubectl.run(['get', kind, name, '-n', namespace, '-o', 'json', '--ignore-not-found'], { timeoutMs: 30_000 });
  return r.stdout.trim() ? (JSON.parse(r.stdout) as T) : undefined;
}

interface PodJson {
  spec: { nodeName?: string };
  status: { phase?: string; containerStatuses?: { ready?: boolean }[] };
  metadata: { deletionTimestamp?: string };
}

async function podPhase(name: string): Promise<string | undefined> {
  return (await get<PodJson>('pod', name))?.status.phase;
}

async function waitPod(name: string, phase: 'Running' | 'Succeeded', timeoutMs = 180_000): Promise<void> {
  await waitFor(`pod ${name} ${phase}`, async () => {
    const p = await podPhase(name);
    if (p === 'Failed') throw new Error(`pod ${name} failed: ${await logs(name).catch(() => '')}`);
    return p === phase;
  }, { timeoutMs, intervalMs: 1_000 });
}

async function logs(name: string): Promise<string> {
  return (await ferry.cluster.kubectl.run(['logs', '-n', NS, name], { timeoutMs: 30_000 })).stdout;
}

async function remove(kind: string, ...names: string[]): Promise<void> {
  await ferry.cluster.kubectl.run(['delete', kind, '-n', NS, '--ignore-not-found', '--wait=true', '--timeout=180s', ...names], { timeoutMs: 200_000 });
}

/**
 * Where the controller's leaders run: Ferry's failover controller (its Lease names the pod) and the csi-attacher (its
 * Lease names the host, which for a host-network pod is the node). A dying node that holds one of them adds that
 * leader's Lease (15 s) to the failover time.
 */
async function leaderNodes(): Promise<{ failover: string | undefined; attacher: string | undefined }> {
  let failover: string | undefined;
  await waitFor('a failover leader', async () => {
    const holder = (await get<{ spec: { holderIdentity?: string } }>('lease', 'ferry.csi.io-failover', NAMESPACE))?.spec.holderIdentity ?? '';
    const leaderPod = holder.replace(/_\d+$/, '');
    failover = leaderPod ? (await get<PodJson>('pod', leaderPod, NAMESPACE))?.spec.nodeName : undefined;
    return failover !== undefined;
  }, { timeoutMs: 60_000, intervalMs: 1_000 });
  const attacher = (await get<{ spec: { holderIdentity?: string } }>('lease', 'external-attacher-leader-ferry-csi-io', NAMESPACE))?.spec.holderIdentity;
  return { failover, attacher };
}

/** Runs a one-shot pod to completion and answers its output. */
async function runPod(name: string, node: string, claim: string, script: string, block = false): Promise<string> {
  await apply(pod(name, node, claim, script, { block }));
  try {
    await waitPod(name, 'Succeeded');
    return (await logs(name)).trim();
  } finally {
    // Also after a failure: a pod left behind would keep its claim (and the cleanup scenario) from being deleted.
    await remove('pod', name);
  }
}

beforeAll(async () => {
  const started = Date.now();
  ferry = await FerryCluster.start(log);
  report(`cluster up (2 nodes, images loaded, pool running): ${seconds(Date.now() - started)}`);
  const installing = Date.now();
  await ferry.install('on');
  report(`helm install: ${seconds(Date.now() - installing)}`);
}, 30 * 60_000);

afterAll(async () => {
  if (ferry) await ferry.stop();
  process.stderr.write(`\n== end-to-end results ==\n${results.join('\n')}\n`);
}, 10 * 60_000);

describe('Ferry on a two-node cluster', () => {
  it('helm test passes (a PVC from the first StorageClass, written and read by a pod)', async () => {
    const t = Date.now();
    const r = await ferry.helmRun(['test', RELEASE, '-n', NAMESPACE, '--timeout', '5m']);
    expect(r.stdout).toMatch(/Phase:\s+Succeeded/);
    report(`helm test: passed in ${seconds(Date.now() - t)}`);
  });

  it('StorageClass → PVC Bound → a pod on node1 writes → deleted → a pod on node2 reads the same data', async () => {
    const data = token();
    const t = Date.now();
    await apply(pvc('moving', '1Gi'));
    expect(await runPod('writer', 'node1', 'moving', `echo ${data} > /data/file && sync && cat /data/file`)).toBe(data);
    const bound = await get<{ status: { phase: string }; spec: { volumeName: string } }>('pvc', 'moving');
    expect(bound?.status.phase).toBe('Bound');
    const tMove = Date.now();
    expect(await runPod('reader', 'node2', 'moving', 'cat /data/file')).toBe(data);
    report(`move between nodes: write on node1 ${seconds(tMove - t)} (incl. provisioning), read on node2 ${seconds(Date.now() - tMove)}`);
  });

  it('a VolumeSnapshot becomes ReadyToUse and a PVC restored from it holds the same data', async () => {
    const data = token();
    await apply(pvc('source', '1Gi'));
    expect(await runPod('seed', 'node1', 'source', `echo ${data} > /data/file && sync && cat /data/file`)).toBe(data);
    const t = Date.now();
    await apply(snapshot('snap', 'source'));
    await waitFor('the VolumeSnapshot to be ReadyToUse', async () => (await get<{ status?: { readyToUse?: boolean } }>('volumesnapshot', 'snap'))?.status?.readyToUse === true, {
      timeoutMs: 120_000,
      intervalMs: 1_000,
    });
    const ready = Date.now();
    // A restored volume is at least the snapshot's size (8 GiB: the pool's allocation unit), as Kubernetes requires.
    await apply(pvc('restored', '8Gi', { fromSnapshot: 'snap' }));
    expect(await runPod('restore-reader', 'node2', 'restored', 'cat /data/file')).toBe(data);
    report(`snapshot: ReadyToUse in ${seconds(ready - t)}, restored PVC read on node2 ${seconds(Date.now() - ready)} later`);
  });

  it('a VolumeGroupSnapshot of two PVCs written by one pod restores both at one point in time', async () => {
    const labels = { 'ferry-e2e/group': 'ab' };
    await apply(pvc('group-a', '1Gi', { labels }), pvc('group-b', '1Gi', { labels }));
    // One writer: a sequence number to A, then the same to B, each synced. Any moment of both has seq(A) - seq(B) in {0, 1}.
    const writer = 'i=0; while true; do i=$((i+1)); echo $i > /a/seq; sync; echo $i > /b/seq; sync; [ $i = 30 ] && echo running; done';
    await apply(multiClaimPod('group-writer', 'node1', { a: 'group-a', b: 'group-b' }, writer, true));
    await waitPod('group-writer', 'Running');
    await waitFor('the writer to make 30 rounds', async () => (await logs('group-writer')).includes('running'), { timeoutMs: 120_000, intervalMs: 1_000 });
    const t = Date.now();
    await apply(groupSnapshot('group-ab', labels));
    await waitFor('the VolumeGroupSnapshot to be ReadyToUse', async () => (await get<{ status?: { readyToUse?: boolean } }>('volumegroupsnapshot', 'group-ab'))?.status?.readyToUse === true, {
      timeoutMs: 180_000,
      intervalMs: 1_000,
    });
    const ready = Date.now();
    await remove('pod', 'group-writer');
    // Its member VolumeSnapshots, each matched to its source PVC through the content's volume handle.
    interface Snap { metadata: { name: string; ownerReferences?: { kind: string; name: string }[] }; status?: { boundVolumeSnapshotContentName?: string; readyToUse?: boolean } }
    const snaps = (await ferry.cluster.kubectl.getJson<{ items: Snap[] }>(['volumesnapshots', '-n', NS])).items.filter((v) =>
      v.metadata.ownerReferences?.some((o) => o.kind === 'VolumeGroupSnapshot' && o.name === 'group-ab'),
    );
    expect(snaps).toHaveLength(2);
    const handleOf = async (claim: string): Promise<string> => {
      const volumeName = (await get<{ spec: { volumeName: string } }>('pvc', claim))?.spec.volumeName ?? '';
      return (await get<{ spec: { csi: { volumeHandle: string } } }>('pv', volumeName, ''))?.spec.csi.volumeHandle ?? '';
    };
    const memberFor = async (claim: string): Promise<string> => {
      const handle = await handleOf(claim);
      for (const snap of snaps) {
        const content = await get<{ spec: { source: { volumeHandle?: string } } }>('volumesnapshotcontent', snap.status?.boundVolumeSnapshotContentName ?? '', '');
        if (content?.spec.source.volumeHandle === handle) return snap.metadata.name;
      }
      throw new Error(`no member snapshot of ${claim} (${handle})`);
    };
    await apply(pvc('group-a-restored', '8Gi', { fromSnapshot: await memberFor('group-a') }), pvc('group-b-restored', '8Gi', { fromSnapshot: await memberFor('group-b') }));
    await apply(multiClaimPod('group-reader', 'node2', { a: 'group-a-restored', b: 'group-b-restored' }, 'echo $(cat /a/seq) $(cat /b/seq)'));
    let seqs: number[];
    try {
      await waitPod('group-reader', 'Succeeded');
      seqs = (await logs('group-reader')).trim().split(/\s+/).map(Number);
    } finally {
      await remove('pod', 'group-reader');
    }
    const [a = 0, b = 0] = seqs;
    expect(a).toBeGreaterThanOrEqual(30);
    expect([0, 1]).toContain(a - b);
    // Deleting the group deletes its members (and their contents) with it.
    await ferry.cluster.kubectl.run(['delete', 'volumegroupsnapshot', 'group-ab', '-n', NS, '--wait=true', '--timeout=120s'], { timeoutMs: 150_000 });
    await waitFor('the group snapshot contents to be deleted', async () => (await ferry.cluster.kubectl.getJson<{ items: unknown[] }>(['volumegroupsnapshotcontents'])).items.length === 0, {
      timeoutMs: 120_000,
      intervalMs: 2_000,
    });
    report(`group snapshot: ReadyToUse in ${seconds(ready - t)}; restored on node2: seq A=${a} B=${b} (one point in time)`);
  });

  it('online expansion of a mounted PVC is seen inside the pod', async () => {
    await apply(pvc('growing', '8Gi'), pod('grower', 'node2', 'growing', 'while true; do df -k /data | tail -1; sleep 1; done', { keepRunning: true }));
    await waitPod('grower', 'Running');
    const sizeKiB = async (): Promise<number> => Number((await logs('grower')).trim().split('\n').pop()?.trim().split(/\s+/)[1] ?? 0);
    await waitFor('df output', async () => (await sizeKiB()) > 0, { timeoutMs: 30_000, intervalMs: 1_000 });
    const before = await sizeKiB();
    const t = Date.now();
    await ferry.cluster.kubectl.run(['patch', 'pvc', 'growing', '-n', NS, '--type=merge', '-p', '{"spec":{"resources":{"requests":{"storage":"16Gi"}}}}']);
    await waitFor('the pod to see the grown filesystem', async () => (await sizeKiB()) > 15 * 1024 * 1024, { timeoutMs: 180_000, intervalMs: 1_000 });
    const capacity = (await get<{ status: { capacity: { storage: string } } }>('pvc', 'growing'))?.status.capacity.storage;
    expect(capacity).toBe('16Gi');
    report(`online expansion 8Gi → 16Gi: df inside the pod ${before} KiB → ${await sizeKiB()} KiB after ${seconds(Date.now() - t)}`);
    await remove('pod', 'grower');
  });

  it('a raw block PVC: bytes written on node1 are read back on node2', async () => {
    const data = token();
    await apply(pvc('raw', '1Gi', { block: true }));
    await runPod('raw-writer', 'node1', 'raw', `printf ${data} | dd of=/dev/xvda bs=512 seek=2048 conv=fsync 2>/dev/null; echo done`, true);
    const read = await runPod('raw-reader', 'node2', 'raw', `dd if=/dev/xvda bs=512 skip=2048 count=1 2>/dev/null | head -c ${data.length}`, true);
    expect(read).toBe(data);
    report('raw block PVC: written on node1 at 1 MiB, read back on node2');
  });

  it('storage capacity: CSIStorageCapacity objects per StorageClass and topology segment, from GetCapacity', async () => {
    interface Capacity {
      storageClassName: string;
      capacity?: string;
      nodeTopology?: { matchLabels?: Record<string, string> };
    }
    let items: Capacity[] = [];
    await waitFor('CSIStorageCapacity objects for the block class', async () => {
      const r = await ferry.cluster.kubectl.run(['get', 'csistoragecapacities', '-n', NAMESPACE, '-o', 'json'], { timeoutMs: 30_000 });
      items = (JSON.parse(r.stdout) as { items: Capacity[] }).items;
      return items.some((c) => c.storageClassName === BLOCK_CLASS && c.capacity !== undefined);
    }, { timeoutMs: 180_000, intervalMs: 2_000 });
    const block = items.filter((c) => c.storageClassName === BLOCK_CLASS);
    report(`storage capacity: ${items.length} CSIStorageCapacity objects; ${BLOCK_CLASS}: ${block.map((c) => `${c.capacity ?? '?'} for ${JSON.stringify(c.nodeTopology?.matchLabels ?? {})}`).join('; ')}`);
    expect(block.every((c) => Object.keys(c.nodeTopology?.matchLabels ?? {}).some((k) => k.startsWith('ferry.csi.io/powerflex-')))).toBe(true);
  });

  it('a ReadWriteMany NFS PVC is used by pods on both nodes at once', async () => {
    const t = Date.now();
    const both = (me: string, other: string): string =>
      `echo from-${me} > /data/${me}; until [ -f /data/${other} ]; do sleep 1; done; echo "sees $(cat /data/${other})"; sleep 3600`;
    await apply(
      pvc('shared', '1Gi', { storageClass: NFS_CLASS, accessMode: 'ReadWriteMany' }),
      pod('nfs-a', 'node1', 'shared', both('node1', 'node2'), { keepRunning: true }),
      pod('nfs-b', 'node2', 'shared', both('node2', 'node1'), { keepRunning: true }),
    );
    await waitPod('nfs-a', 'Running');
    await waitPod('nfs-b', 'Running');
    await waitFor('each pod to see the other\'s file', async () => (await logs('nfs-a')).includes('sees from-node2') && (await logs('nfs-b')).includes('sees from-node1'), {
      timeoutMs: 60_000,
      intervalMs: 1_000,
    });
    report(`NFS ReadWriteMany: pods on node1 and node2 read each other's writes ${seconds(Date.now() - t)} after the PVC was made (export: a stand-in, this kernel has no NFS client)`);
    await remove('pod', 'nfs-a', 'nfs-b');
  });

  /**
   * `on` twice: once with the failover controller's leader on the surviving node (the usual case), once with it on the
   * node that dies (the other replica must first wait out the 15 s leader Lease). The StatefulSet prefers the node
   * it should start on; after the death it may go anywhere.
   */
  const failoverCases = [
    { mode: 'on', leader: 'survives' },
    { mode: 'on', leader: 'dies' },
    { mode: 'off', leader: 'survives' },
  ] as const;
  describe.each(failoverCases)('node failure with --failover=$mode, failover leader $leader', ({ mode, leader }) => {
    it(`a StatefulSet pod whose node dies runs on the other node with its data (${mode === 'on' ? 'within 60 s' : 'measured for up to 180 s'})`, async () => {
      await ferry.setFailover(mode);
      const name = `db-${mode}-${leader}`;
      const data = token();
      const leaders = await (mode === 'on' ? leaderNodes() : Promise.resolve({ failover: undefined, attacher: undefined }));
      const other = (node: string | undefined): string => (node === 'node1' ? 'node2' : 'node1');
      // Start where the leaders are (dies), or where neither is when they share a node (survives).
      const start = mode === 'off' ? undefined : leader === 'dies' ? leaders.failover : other(leaders.failover);
      await apply(statefulSet(name, data, start));
      const podName = `${name}-0`;
      await waitPod(podName, 'Running');
      await waitFor('the pod to write its token', async () => (await logs(podName)).includes(`found ${data}`), { timeoutMs: 60_000, intervalMs: 1_000 });
      const victim = (await get<PodJson>('pod', podName))?.spec.nodeName ?? '';
      expect(['node1', 'node2']).toContain(victim);
      const on = (node: string | undefined): string => (node === victim ? 'the dying node' : 'the other node');
      const where = mode === 'on' ? `; leaders: Ferry's failover controller on ${on(leaders.failover)}, csi-attacher on ${on(leaders.attacher)}` : '';

      // The node dies: every process of it, at once; the storage system loses its SDC, as an MDM does.
      const died = Date.now();
      await ferry.cluster.killNode(victim);
      await exec('sync', []);
      await ferry.setSdcState(victim, 'Disconnected');
      const limitMs = mode === 'on' ? 60_000 : 180_000;
      let recoveredAt: number | undefined;
      while (Date.now() - died < limitMs) {
        const p = await get<PodJson>('pod', podName).catch(() => undefined);
        if (p && p.spec.nodeName && p.spec.nodeName !== victim && p.status.phase === 'Running' && !p.metadata.deletionTimestamp) {
          if ((await logs(podName).catch(() => '')).includes(`found ${data}`)) {
            recoveredAt = Date.now();
            break;
          }
        }
        await new Promise((r) => setTimeout(r, 1_000));
      }
      report(
        recoveredAt !== undefined
          ? `failover ${mode}: ${victim} killed → ${podName} Running on the other node with its data after ${seconds(recoveredAt - died)}${where}`
          : `failover ${mode}: ${victim} killed → ${podName} NOT running elsewhere after ${seconds(limitMs)} (the pod stays on the dead node)`,
      );
      if (mode === 'on') expect(recoveredAt).toBeDefined();

      // The node comes back: Ferry removes its taint once the node plugin reports it clean.
      const reviving = Date.now();
      await ferry.setSdcState(victim, 'Connected');
      await ferry.cluster.reviveNode(victim);
      await ferry.cluster.waitForNodeReady(victim, 'True', 180_000);
      if (mode === 'on') {
        await waitFor('the out-of-service taint to be removed', async () => {
          const node = await get<{ spec: { taints?: { key: string }[] } }>('node', victim, '');
          return !(node?.spec.taints ?? []).some((t) => t.key === 'node.kubernetes.io/out-of-service');
        }, { timeoutMs: 120_000, intervalMs: 1_000 });
        report(`failover on: ${victim} back and untainted ${seconds(Date.now() - reviving)} after it was revived`);
      }
      await remove('statefulset', name);
      await remove('pvc', `data-${podName}`);
    });
  });

  it('deleting the PVCs and `helm uninstall` leave no volume, mapping, mount or loop device behind', async () => {
    await remove('statefulset', '--all');
    await remove('pod', '--all');
    await remove('volumegroupsnapshot', '--all');
    await remove('volumesnapshot', '--all');
    await remove('pvc', '--all');
    await waitFor('every PersistentVolume to be deleted', async () => {
      const pvs = await ferry.cluster.kubectl.getJson<{ items: unknown[] }>(['pv']);
      return pvs.items.length === 0;
    }, { timeoutMs: 180_000, intervalMs: 2_000 });
    await waitFor('every VolumeSnapshotContent to be deleted', async () => {
      const contents = await ferry.cluster.kubectl.getJson<{ items: unknown[] }>(['volumesnapshotcontents']);
      return contents.items.length === 0;
    }, { timeoutMs: 120_000, intervalMs: 2_000 });
    await ferry.uninstall();
    // Ferry's own Leases (node heartbeats, failover leader) go with the pods that held them: deleted by the plugin at
    // shutdown, or by the garbage collector after their owner Pod (a moment after the Pod is gone).
    const ferryLeases = async (): Promise<string[]> => {
      const leases = await ferry.cluster.kubectl.getJson<{ items: { metadata: { name: string } }[] }>(['leases', '-n', NAMESPACE]);
      return leases.items.map((l) => l.metadata.name).filter((n) => n.startsWith('ferry-node-') || n === 'ferry.csi.io-failover');
    };
    await waitFor('Ferry\'s Leases to be deleted', async () => (await ferryLeases()).length === 0, { timeoutMs: 60_000, intervalMs: 2_000 }).catch(async () => {
      expect(await ferryLeases()).toEqual([]);
    });
    expect(await ferry.poolVolumes()).toEqual([]);
    expect(await ferry.loopDevices()).toEqual([]);
    // The NFS volume's directory went with its PV (onDelete: delete); only Ferry's own metadata may remain.
    expect(readdirSync(ferry.nfsExportDir).filter((entry) => !entry.startsWith('.'))).toEqual([]);
    for (const node of ['node1', 'node2']) {
      const leftovers = mountsUnder(ferry.cluster.node(node).rootDir)
        .map((m) => m.target)
        .filter((target) => /kubernetes\.io~csi|ferry\.csi\.io|\/plugins\/kubernetes\.io\/csi/.test(target));
      expect(leftovers).toEqual([]);
    }
    report('cleanup: no volume, snapshot, mapping, NFS volume directory, CSI mount, loop device or Ferry Lease left after PVC deletion and helm uninstall');
  });
});
