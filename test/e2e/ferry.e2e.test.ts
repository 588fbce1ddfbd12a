import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { exec } from '../../src/util/exec.js';
import { waitFor } from './daemon.js';
import { FerryCluster, NAMESPACE, RELEASE } from './ferry-cluster.js';
import { BLOCK_CLASS, IMMEDIATE_CLASS, NFS_CLASS } from './ferry-values.js';
import { NS, groupSnapshot, multiClaimPod, pod, pvc, snapshot, statefulSet, volumeAttributesClass } from './k8s-objects.js';
import { mountsUnder } from './mounts.js';
import { clientActivity } from './prometheus.js';
import { describeKubeletSteps, kubeletVolumeSteps } from './kubelet-log.js';

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
/** `t` in seconds after `t0`, or "-" when it never happened. */
const secondsAfter = (t: number | undefined, t0: number): string => (t === undefined || Number.isNaN(t) ? '-' : seconds(t - t0));
/** The kubelets' node status loop, which every moved pod waits on (ferry-cluster.ts: FERRY_E2E_KUBELET_STATUS_SECONDS). */
const kubeletStatus = `kubelet node status every ${process.env['FERRY_E2E_KUBELET_STATUS_SECONDS'] || '10 (default)'} s`;

async function apply(...objects: object[]): Promise<void> {
  await ferry.cluster.kubectl.run(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
}

async function get<T>(kind: string, name: string, namespace = NS): Promise<T | undefined> {
  const r = await ferry.cluster.kubectl.run(['get', kind, name, '-n', namespace, '-o', 'json', '--ignore-not-found'], { timeoutMs: 30_000 });
  return r.stdout.trim() ? (JSON.parse(r.stdout) as T) : undefined;
}

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { phase?: string; containerStatuses?: { ready?: boolean; state?: { running?: { startedAt?: string } } }[] };
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

/**
 * When the pod's container printed `line` (the container runtime's own timestamp of that log line, in epoch ms):
 * when the application had its data, whatever this harness's polling added before it looked.
 */
async function printedAt(name: string, line: string): Promise<number | undefined> {
  const out = (await ferry.cluster.kubectl.run(['logs', '-n', NS, name, '--timestamps'], { timeoutMs: 30_000 }).catch(() => ({ stdout: '' }))).stdout;
  const hit = out.split('\n').find((l) => l.includes(line));
  const at = hit === undefined ? Number.NaN : Date.parse(hit.split(' ')[0] ?? '');
  return Number.isNaN(at) ? undefined : at;
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

/** The pods carrying a label (one list call, however many). */
async function podsLabelled(selector: string): Promise<PodJson[]> {
  return (await ferry.cluster.kubectl.getJson<{ items: PodJson[] }>(['pods', '-n', NS, '-l', selector])).items;
}

/**
 * Every line the driver containers of one component have logged so far, on live nodes (for the node plugin, only on
 * `node` when given).
 */
async function componentLogLines(component: 'controller' | 'failover' | 'node', node?: string): Promise<string[]> {
  const pods = (await ferry.cluster.kubectl.getJson<{ items: { metadata: { name: string }; spec: { nodeName?: string } }[] }>(['pods', '-n', NAMESPACE, '-l', `app.kubernetes.io/component=${component}`])).items;
  const lines: string[] = [];
  for (const p of pods.filter((x) => node === undefined || x.spec.nodeName === node)) {
    const out = (await ferry.cluster.kubectl.run(['logs', '-n', NAMESPACE, p.metadata.name, '-c', 'ferry', '--tail=-1'], { timeoutMs: 60_000 }).catch(() => ({ stdout: '' }))).stdout;
    lines.push(...out.split('\n'));
  }
  return lines;
}

/** Answered calls of one method in a driver's log lines since `since` (epoch ms): when each was answered, and its ms. */
function callTimes(lines: readonly string[], method: string, since: number): { answered: number[]; ms: number[] } {
  const answered: number[] = [];
  const ms: number[] = [];
  for (const line of lines) {
    if (!line.includes(`"method":"${method}"`) || !line.includes('"msg":"ok"')) continue;
    try {
      const entry = JSON.parse(line) as { time?: string; ms?: number };
      const time = Date.parse(entry.time ?? '');
      if (time < since) continue;
      answered.push(time);
      if (entry.ms !== undefined) ms.push(entry.ms);
    } catch {
      continue;
    }
  }
  return { answered, ms };
}

/**
 * The failover controller's steps for a dead `node` since `since` (its pods' logs): when a replica took the lead,
 * when the storage side confirmed the node dead ahead of acting, when the node was fenced and tainted.
 */
async function failoverSteps(node: string, since: number): Promise<{ leading?: number; confirmed?: number; fenced?: number }> {
  const steps: { leading?: number; confirmed?: number; fenced?: number } = {};
  for (const line of await componentLogLines('failover')) {
    let entry: { time?: string; node?: string; msg?: string };
    try {
      entry = JSON.parse(line) as { time?: string; node?: string; msg?: string };
    } catch {
      continue;
    }
    const time = Date.parse(entry.time ?? '');
    if (!(time >= since)) continue;
    const first = (key: 'leading' | 'confirmed' | 'fenced'): void => {
      if (steps[key] === undefined || time < (steps[key] ?? Infinity)) steps[key] = time;
    };
    if (entry.msg === 'leader election: now leading') first('leading');
    else if (entry.node === node && entry.msg?.startsWith('failover: the storage side confirms the node dead')) first('confirmed');
    else if (entry.node === node && entry.msg?.startsWith('failover: node fenced on the storage side')) first('fenced');
  }
  return steps;
}

/** ABORTED answers of the CSI controller so far (its `ferry` containers' logs: one "failed" line per refused call). */
async function controllerAborts(): Promise<number> {
  return (await componentLogLines('controller')).filter((line) => line.includes('"code":"ABORTED"')).length;
}

/** The driver's CreateVolume calls since `since` (epoch ms): when each started and when each was answered OK. */
async function createVolumeTimes(since: number): Promise<{ started: number[]; answered: number[]; ms: number[] }> {
  const started: number[] = [];
  const answered: number[] = [];
  const ms: number[] = [];
  for (const line of await componentLogLines('controller')) {
    if (!line.includes('"method":"CreateVolume"')) continue;
    let entry: { time?: string | number; msg?: string; ms?: number };
    try {
      entry = JSON.parse(line) as { time?: string | number; msg?: string; ms?: number };
    } catch {
      continue;
    }
    // The driver logs ISO times (pino's isoTime).
    const time = typeof entry.time === 'string' ? Date.parse(entry.time) : entry.time;
    if (time === undefined || Number.isNaN(time) || time < since) continue;
    if (entry.msg === 'call') started.push(time);
    if (entry.msg === 'ok') {
      answered.push(time);
      if (entry.ms !== undefined) ms.push(entry.ms);
    }
  }
  return { started, answered, ms };
}

function percentileOf(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** The Lease holders of the controller's three leaders, as the nodes they run on. */
async function leaderHolders(): Promise<{ failover: string | undefined; attacher: string | undefined; provisioner: string | undefined }> {
  const holder = async (lease: string): Promise<string | undefined> => (await get<{ spec: { holderIdentity?: string } }>('lease', lease, NAMESPACE))?.spec.holderIdentity;
  const failoverPod = (await holder('ferry.csi.io-failover'))?.replace(/_\d+$/, '');
  const failover = failoverPod ? (await get<PodJson>('pod', failoverPod, NAMESPACE))?.spec.nodeName : undefined;
  return { failover, attacher: await holder('external-attacher-leader-ferry-csi-io'), provisioner: await holder('ferry-csi-io') };
}

/**
 * Moves every controller leader (failover controller, csi-attacher, csi-provisioner) to `node`: the replica on the
 * other node is deleted until all three Leases name `node`, with the other node cordoned meanwhile. On the host
 * network a sidecar's identity is its host's name, so a replacement that came back on the same node would carry on
 * its predecessor's Lease as its own (seen: three minutes of replacements on node2, each leading at once); cordoned,
 * the replacement waits Pending until the Leases have moved, and then starts there as a candidate.
 */
async function leadersOnto(node: string): Promise<void> {
  const other = node === 'node1' ? 'node2' : 'node1';
  const h0 = await leaderHolders();
  if (h0.failover === node && h0.attacher === node && h0.provisioner === node) return;
  await ferry.cluster.kubectl.run(['cordon', other]);
  try {
    await moveLeaders(node, other);
  } finally {
    await ferry.cluster.kubectl.run(['uncordon', other]);
  }
}

async function moveLeaders(node: string, other: string): Promise<void> {
  // What the last look saw, for the error when it never converges.
  let seen = '';
  await waitFor(`every controller leader on ${node}`, async () => {
    const h = await leaderHolders();
    if (h.failover === node && h.attacher === node && h.provisioner === node) return true;
    const pods = (await ferry.cluster.kubectl.getJson<{ items: { metadata: { name: string; deletionTimestamp?: string }; spec: { nodeName?: string }; status: { phase?: string; containerStatuses?: { name: string; ready: boolean; restartCount: number }[] } }[] }>(['pods', '-n', NAMESPACE])).items;
    seen =
      `leaders: failover ${h.failover ?? 'none'}, attacher ${h.attacher ?? 'none'}, provisioner ${h.provisioner ?? 'none'}; pods: ` +
      pods
        .map((p) => `${p.metadata.name} on ${p.spec.nodeName ?? '?'} ${p.status.phase ?? '?'}${p.metadata.deletionTimestamp ? ' (deleting)' : ''} [${(p.status.containerStatuses ?? []).map((c) => `${c.name}${c.ready ? '' : ' not ready'}${c.restartCount > 0 ? ` x${c.restartCount}` : ''}`).join(', ')}]`)
        .join('; ');
    const deployments = [...(h.failover !== node ? ['failover'] : []), ...(h.attacher !== node || h.provisioner !== node ? ['controller'] : [])];
    for (const d of deployments) {
      for (const p of pods.filter((x) => x.metadata.name.startsWith(`${RELEASE}-${d}-`) && x.spec.nodeName === other && !x.metadata.deletionTimestamp)) {
        await ferry.cluster.kubectl.run(['delete', 'pod', '-n', NAMESPACE, p.metadata.name, '--wait=false']);
      }
    }
    return false;
  }, { timeoutMs: 180_000, intervalMs: 5_000 }).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; last seen: ${seen}`);
  });
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

  it('a VolumeAttributesClass change on a bound PVC changes its bandwidth limit live, measured by dd in the pod', async () => {
    await apply(volumeAttributesClass('ferry-qos-10m', { bandwidthLimitInKbps: '10240' }), volumeAttributesClass('ferry-qos-20m', { bandwidthLimitInKbps: '20480' }));
    // A filesystem volume, written with direct I/O over blocks already allocated: each write reaches the pool's device
    // from the pod's own cgroup, where `ferry pool` puts its blkio rule. (A raw block volume in a pod goes through the
    // loop device kubelet puts over the device file; its writes land in the page cache and the flusher, outside the
    // pod's cgroup, drains them: docs/qos.md.) One figure per 24 MiB, timed with /proc/uptime (10 ms steps): this
    // busybox dd prints no rate of its own.
    const script =
      'dd if=/dev/zero of=/data/qos.bin bs=1048576 count=24 2>/dev/null && sync || exit 1; ' +
      'while true; do a=$(cut -d" " -f1 /proc/uptime); dd if=/dev/zero of=/data/qos.bin bs=1048576 count=24 oflag=direct conv=notrunc 2>/dev/null || exit 1; ' +
      'b=$(cut -d" " -f1 /proc/uptime); echo "wrote 25165824 bytes from $a to $b"; done';
    const t0 = Date.now();
    await apply(pvc('qos', '8Gi', { volumeAttributesClass: 'ferry-qos-10m' }), pod('qos-writer', 'node1', 'qos', script, { keepRunning: true }));
    await waitPod('qos-writer', 'Running');
    const rates = async (): Promise<number[]> =>
      (await logs('qos-writer'))
        .split('\n')
        .map((l) => /^wrote (\d+) bytes from ([0-9.]+) to ([0-9.]+)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1]) / (Number(m[3]) - Number(m[2])) / (1024 * 1024));
    const within = (rate: number, limit: number): boolean => Math.abs(rate - limit) <= limit * 0.1;
    // The first figure may include a moment before the container's cgroup got the rule: judge the later ones.
    await waitFor('three dd figures', async () => (await rates()).length >= 3, { timeoutMs: 180_000, intervalMs: 1_000 });
    const slow = (await rates()).slice(1);
    report(`QoS in a pod: VolumeAttributesClass ferry-qos-10m (10 MiB/s), running ${seconds(Date.now() - t0)} after the PVC: dd measured ${slow.map((r) => r.toFixed(2)).join(', ')} MiB/s`);
    for (const rate of slow) expect(within(rate, 10)).toBe(true);

    const t = Date.now();
    await ferry.cluster.kubectl.run(['patch', 'pvc', 'qos', '-n', NS, '--type=merge', '-p', '{"spec":{"volumeAttributesClassName":"ferry-qos-20m"}}']);
    await waitFor('the PVC to report the new class', async () => (await get<{ status: { currentVolumeAttributesClassName?: string } }>('pvc', 'qos'))?.status.currentVolumeAttributesClassName === 'ferry-qos-20m', {
      timeoutMs: 180_000,
      intervalMs: 1_000,
    });
    const modified = Date.now() - t;
    const seen = (await rates()).length;
    // The figure running at the change mixes both limits: judge the ones after it.
    await waitFor('figures after the change', async () => (await rates()).length >= seen + 3, { timeoutMs: 120_000, intervalMs: 1_000 });
    const fast = (await rates()).slice(seen + 1);
    report(`QoS in a pod: changed to ferry-qos-20m (20 MiB/s) on the bound PVC, modified in ${seconds(modified)}: dd measured ${fast.map((r) => r.toFixed(2)).join(', ')} MiB/s`);
    for (const rate of fast) expect(within(rate, 20)).toBe(true);
    await remove('pod', 'qos-writer');
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

  it('100 PVCs from one StorageClass bind, 100 pods run with them mounted, and deleting them leaves nothing', async () => {
    const n = 100;
    const names = Array.from({ length: n }, (_, i) => `scale-${String(i).padStart(3, '0')}`);
    // Timed from a ready driver (when this runs first after the install, the provisioner may not lead yet, or the node
    // plugins may not have registered their topology, which it would retry with a back-off): provisioning is measured.
    await waitFor('both node plugins registered with their topology, and a provisioner leading', async () => {
      const csinodes = await ferry.cluster.kubectl.getJson<{ items: { spec: { drivers?: { name: string; topologyKeys?: string[] }[] } }[] }>(['csinodes']);
      const registered = csinodes.items.filter((c) => (c.spec.drivers ?? []).some((d) => d.name === 'ferry.csi.io' && (d.topologyKeys ?? []).length > 0)).length;
      return registered === 2 && (await leaderHolders()).provisioner !== undefined;
    }, { timeoutMs: 120_000, intervalMs: 1_000 });
    const abortedBefore = await controllerAborts();
    const poolBefore = (await ferry.poolVolumes()).length;
    const loopsBefore = (await ferry.loopDevices()).length;
    // What the controller manager's clients asked and waited for meanwhile: its PV controller annotates each claim
    // before the provisioner takes it, and binds each claim to its volume, at the manager's --kube-api-qps.
    const kcmBefore = await ferry.cluster.controllerManagerMetrics();
    const t0 = Date.now();
    await apply(...names.map((name) => pvc(name, '1Gi', { storageClass: IMMEDIATE_CLASS })));
    const boundCount = async (): Promise<number> =>
      (await ferry.cluster.kubectl.getJson<{ items: { metadata: { name: string }; status: { phase?: string } }[] }>(['pvc', '-n', NS])).items.filter(
        (c) => c.metadata.name.startsWith('scale-') && c.status.phase === 'Bound',
      ).length;
    // When each claim was first seen Bound (sampled every 500 ms), for the timeline below.
    const boundAt: number[] = [];
    await waitFor(`${n} PVCs Bound`, async () => {
      const bound = await boundCount();
      while (boundAt.length < bound) boundAt.push(Date.now() - t0);
      return bound === n;
    }, { timeoutMs: 300_000, intervalMs: 500 });
    const boundMs = Date.now() - t0;
    const kcm = clientActivity(kcmBefore, await ferry.cluster.controllerManagerMetrics());
    const abortedAtBind = (await controllerAborts()) - abortedBefore;
    const creates = await createVolumeTimes(t0);
    const pvCreated = (await ferry.cluster.kubectl.getJson<{ items: { metadata: { creationTimestamp: string }; spec: { claimRef?: { name?: string } } }[] }>(['pv'])).items
      .filter((pv) => pv.spec.claimRef?.name?.startsWith('scale-'))
      .map((pv) => Date.parse(pv.metadata.creationTimestamp) - t0);
    const at = (values: readonly number[], p: number): string => (values.length === 0 ? '-' : seconds(Math.max(0, percentileOf(values, p))));
    report(
      `100 PVCs, where the time went (from the apply): CreateVolume calls started ${at(creates.started.map((t) => t - t0), 0)}..${at(creates.started.map((t) => t - t0), 100)}, ` +
        `answered by ${at(creates.answered.map((t) => t - t0), 100)} (${creates.answered.length} calls, each p50 ${percentileOf(creates.ms, 50)} ms, max ${percentileOf(creates.ms, 100)} ms); ` +
        `PVs created p50 ${at(pvCreated, 50)}, last ${at(pvCreated, 100)} (1 s resolution); claims Bound p50 ${at(boundAt, 50)}, last ${at(boundAt, 100)}; ` +
        `kube-controller-manager meanwhile (API qps,burst ${process.env['FERRY_E2E_KCM_API_QPS'] || '20,30, the default'}): ` +
        `${kcm.requests} API requests (${Object.entries(kcm.byMethod).map(([m, n]) => `${m} ${n}`).join(', ')}), ${kcm.throttled} of them held in its own rate limiter (${kcm.waitedSeconds.toFixed(1)} s in all, ${kcm.waitedOverOneSecond} over 1 s)`,
    );

    const t1 = Date.now();
    await apply(...names.map((name, i) => pod(`${name}-pod`, i % 2 === 0 ? 'node1' : 'node2', name, `echo ${name} > /data/name && sync && sleep 3600`, { keepRunning: true, labels: { scale: 'yes' } })));
    await waitFor(`${n} pods Running`, async () => (await podsLabelled('scale=yes')).filter((p) => p.status.phase === 'Running').length === n, {
      timeoutMs: 600_000,
      intervalMs: 2_000,
    });
    const runningMs = Date.now() - t1;
    // Mounted: each pod's volume is a CSI publish mount under its node's kubelet directory.
    const csiMounts = (): number =>
      ['node1', 'node2']
        .flatMap((node) => mountsUnder(ferry.cluster.node(node).rootDir).map((m) => m.target))
        .filter((target) => /\/pods\/[^/]+\/volumes\/kubernetes\.io~csi\/[^/]+\/mount$/.test(target)).length;
    expect(csiMounts()).toBeGreaterThanOrEqual(n);
    const mapped = (await ferry.poolVolumes()).filter((v) => (v.mappedSdcInfo ?? []).length > 0).length;
    expect(mapped).toBeGreaterThanOrEqual(n);

    const t2 = Date.now();
    await ferry.cluster.kubectl.run(['delete', 'pod', '-n', NS, '-l', 'scale=yes', '--wait=true', '--timeout=600s'], { timeoutMs: 620_000 });
    await remove('pvc', ...names);
    await waitFor('the 100 PersistentVolumes to be deleted', async () => {
      const pvs = await ferry.cluster.kubectl.getJson<{ items: { spec: { claimRef?: { name?: string } } }[] }>(['pv']);
      return !pvs.items.some((pv) => pv.spec.claimRef?.name?.startsWith('scale-'));
    }, { timeoutMs: 600_000, intervalMs: 2_000 });
    const deletedMs = Date.now() - t2;
    const aborted = (await controllerAborts()) - abortedBefore;

    // Nothing left: no pool volume or mapping of theirs, no CSI mount, no loop device.
    expect((await ferry.poolVolumes()).length).toBe(poolBefore);
    expect((await ferry.loopDevices()).length).toBe(loopsBefore);
    expect(csiMounts()).toBe(0);
    report(
      `100 PVCs (${IMMEDIATE_CLASS}, Immediate): all Bound after ${seconds(boundMs)} (${abortedAtBind} ABORTED answers meanwhile); ` +
        `100 pods (50 per node) Running with their volumes mounted ${seconds(runningMs)} later; all deleted, nothing left, after ${seconds(deletedMs)}; ` +
        `ABORTED answers of the controller over the whole scenario: ${aborted}`,
    );
  });

  /**
   * `on` twice: once with the failover controller's leader on the surviving node (the usual case), once with every
   * controller leader (failover controller, csi-attacher, csi-provisioner) on the node that dies (the other replicas
   * must first wait out the leader Leases). The StatefulSet prefers the node it should start on; after the death it
   * may go anywhere.
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
      if (mode === 'on' && leader === 'dies') {
        const held = await leaderHolders();
        await leadersOnto(held.failover ?? 'node1');
      }
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
      let scheduledAt: number | undefined;
      while (Date.now() - died < limitMs) {
        const p = await get<PodJson>('pod', podName).catch(() => undefined);
        if (scheduledAt === undefined && p?.spec.nodeName && p.spec.nodeName !== victim) scheduledAt = Date.now();
        if (p && p.spec.nodeName && p.spec.nodeName !== victim && p.status.phase === 'Running' && !p.metadata.deletionTimestamp) {
          if ((await logs(podName).catch(() => '')).includes(`found ${data}`)) {
            recoveredAt = Date.now();
            break;
          }
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      // Where the time went: the failover controller's steps (its log), the replacement bound to a node (this loop's
      // look, every 0.5 s or so), its container started (the kubelet's record, whole seconds). The figure itself is
      // when the container printed the token it found (the runtime's timestamp of that line), not when this loop
      // happened to read it.
      let steps = '';
      let printed: number | undefined;
      if (recoveredAt !== undefined) {
        const failover = await failoverSteps(victim, died);
        printed = await printedAt(podName, `found ${data}`);
        const replacement = await get<PodJson>('pod', podName);
        const started = Date.parse(replacement?.status.containerStatuses?.[0]?.state?.running?.startedAt ?? '');
        const at = (t: number | undefined): string => secondsAfter(t, died);
        const survivor = replacement?.spec.nodeName ?? '';
        const kubelet = kubeletVolumeSteps(path.join(ferry.cluster.node(survivor).logDir, 'kubelet.log'), podName, died);
        steps =
          ` (failover controller: a replica took the lead ${at(failover.leading)}, confirmed ahead ${at(failover.confirmed)}, fenced ${at(failover.fenced)}; ` +
          `replacement on its node ${at(scheduledAt)}; its kubelet: ${describeKubeletSteps(kubelet, died)}; ` +
          `container started ${at(started)}, seen by this harness ${at(recoveredAt)})`;
      }
      report(
        recoveredAt !== undefined
          ? `failover ${mode}: ${victim} killed → ${podName} Running on the other node with its data after ${seconds((printed ?? recoveredAt) - died)}${steps}${where}; ${kubeletStatus}`
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

  it('20 single-writer StatefulSet pods on a node that dies holding every controller leader run on the other node with their data', async () => {
    const count = 20;
    await ferry.setFailover('on');
    const leaders = await leaderHolders();
    const victim = leaders.failover ?? 'node1';
    const survivor = victim === 'node1' ? 'node2' : 'node1';
    await leadersOnto(victim);
    const names = Array.from({ length: count }, (_, i) => `fleet-${String(i).padStart(2, '0')}`);
    const tokens = new Map(names.map((name) => [`${name}-0`, token()]));
    // All on the victim: the survivor takes no new pods until the victim dies.
    await ferry.cluster.kubectl.run(['cordon', survivor]);
    try {
      await apply(...names.map((name) => statefulSet(name, tokens.get(`${name}-0`) ?? '', victim, { fleet: 'yes' })));
      await waitFor(`${count} pods Running on ${victim}`, async () => {
        const pods = await podsLabelled('fleet=yes');
        return pods.filter((p) => p.status.phase === 'Running' && p.spec.nodeName === victim).length === count;
      }, { timeoutMs: 600_000, intervalMs: 2_000 });
      for (const [podName, data] of tokens) {
        await waitFor(`${podName} to write its token`, async () => (await logs(podName)).includes(`found ${data}`), { timeoutMs: 120_000, intervalMs: 1_000 });
      }
    } finally {
      await ferry.cluster.kubectl.run(['uncordon', survivor]);
    }
    const held = await leaderHolders();
    expect(held).toEqual({ failover: victim, attacher: victim, provisioner: victim });
    const poolVolumeIds = new Map<string, string>();
    for (const name of names) {
      const claim = await get<{ spec: { volumeName: string } }>('pvc', `data-${name}-0`);
      const pv = await get<{ spec: { csi: { volumeHandle: string } } }>('pv', claim?.spec.volumeName ?? '', '');
      // pool:<system>-<volume>: the pool's own id is the last part.
      poolVolumeIds.set(name, pv?.spec.csi.volumeHandle.split('-').pop() ?? '');
    }
    const sdc = await ferry.sdcIds();
    const logBefore = ferry.poolLog().length;

    const died = Date.now();
    await ferry.cluster.killNode(victim);
    await exec('sync', []);
    await ferry.setSdcState(victim, 'Disconnected');
    const recovered = new Map<string, number>();
    // The part Ferry and the sidecars control: the volume attached to the survivor (its VolumeAttachment attached).
    const attached = new Map<string, number>();
    // Each replacement pod first seen bound to the survivor (the scheduler's part, after the failover's deletion).
    const scheduled = new Map<string, number>();
    while (recovered.size < count && Date.now() - died < 120_000) {
      const [pods, attachments] = await Promise.all([
        podsLabelled('fleet=yes').catch(() => [] as PodJson[]),
        ferry.cluster.kubectl
          .getJson<{ items: { spec: { nodeName: string; source: { persistentVolumeName?: string } }; status?: { attached?: boolean } }[] }>(['volumeattachments'])
          .then((l) => l.items)
          .catch(() => []),
      ]);
      for (const va of attachments) {
        const pv = va.spec.source.persistentVolumeName ?? '';
        if (va.spec.nodeName === survivor && va.status?.attached === true && !attached.has(pv)) attached.set(pv, Date.now() - died);
      }
      for (const p of pods) if (p.spec.nodeName === survivor && !scheduled.has(p.metadata.name)) scheduled.set(p.metadata.name, Date.now() - died);
      // Logs read side by side: one after another, 20 pods' reads would make the measurement itself slow.
      await Promise.all(
        pods
          .filter((p) => !recovered.has(p.metadata.name) && p.spec.nodeName === survivor && p.status.phase === 'Running' && !p.metadata.deletionTimestamp)
          .map(async (p) => {
            // When the container printed it (the runtime's timestamp), not when this loop read it.
            const printed = await printedAt(p.metadata.name, `found ${tokens.get(p.metadata.name) ?? '?'}`);
            if (printed !== undefined) recovered.set(p.metadata.name, printed - died);
          }),
      );
      await new Promise((r) => setTimeout(r, 500));
    }
    const times = [...recovered.values()];
    const attachTimes = [...attached.values()];
    const failover = await failoverSteps(victim, died);
    const survivorLines = await componentLogLines('node', survivor);
    const [stages, publishes] = [callTimes(survivorLines, 'NodeStageVolume', died), callTimes(survivorLines, 'NodePublishVolume', died)];
    const calls = (name: string, c: { answered: number[]; ms: number[] }): string =>
      c.answered.length === 0 ? `${name} none` : `${name} ${c.answered.length} (each p50 ${percentileOf(c.ms, 50)} ms, max ${Math.max(...c.ms)} ms; last answered ${seconds(Math.max(...c.answered) - died)})`;
    const scheduledTimes = [...scheduled.values()];
    // The survivor's kubelet: how often its volume checks failed, and why, before it staged each volume.
    const kubeletSteps = names.map((name) => kubeletVolumeSteps(path.join(ferry.cluster.node(survivor).logDir, 'kubelet.log'), `${name}-0`, died));
    const failedChecks = (why: string): number => kubeletSteps.reduce((n, k) => n + k.failures.filter((f) => f.why === why).length, 0);
    const staged = kubeletSteps.flatMap((k) => (k.mountDevice === undefined ? [] : [k.mountDevice - died]));
    const checking = kubeletSteps.flatMap((k) => (k.checking === undefined ? [] : [k.checking - died]));
    const deletedAgain = kubeletSteps.reduce((n, k) => n + Math.max(0, k.podUids.length - 1), 0);
    // The kubelet's own record of each container's start (whole seconds): what remains after it is the log read.
    const startedTimes = (await podsLabelled('fleet=yes'))
      .filter((p) => p.spec.nodeName === survivor)
      .map((p) => Date.parse(p.status.containerStatuses?.[0]?.state?.running?.startedAt ?? '') - died)
      .filter((t) => Number.isFinite(t));
    report(
      `failover of ${count} pods, every controller leader (failover controller, csi-attacher, csi-provisioner) on the dying node: ` +
        `${recovered.size} of ${count} Running on ${survivor} with their data; first ${seconds(Math.min(...times))}, p50 ${seconds(percentileOf(times, 50))}, max ${seconds(Math.max(...times))}` +
        `; failover controller: a replica took the lead ${secondsAfter(failover.leading, died)}, ` +
        `confirmed ahead ${secondsAfter(failover.confirmed, died)}, fenced ${secondsAfter(failover.fenced, died)}` +
        `; pods on ${survivor} (${scheduledTimes.length}): p50 ${seconds(percentileOf(scheduledTimes, 50))}, max ${seconds(Math.max(...scheduledTimes))}` +
        `; volumes attached to ${survivor} (${attachTimes.length} of ${count}): p50 ${seconds(percentileOf(attachTimes, 50))}, max ${seconds(Math.max(...attachTimes))}` +
        `; the survivor's kubelet: ${deletedAgain} replacement pod(s) deleted again and replaced, volumes reported in use p50 ${seconds(percentileOf(checking, 50))}, max ${seconds(Math.max(...checking))}, ` +
        `checks failed ${failedChecks('not yet in volumesInUse')} times not yet in volumesInUse, ${failedChecks('not yet attached')} times not yet attached, ` +
        `devices staged (${staged.length}) p50 ${seconds(percentileOf(staged, 50))}, max ${seconds(Math.max(...staged))}` +
        `; ${calls('NodeStage', stages)}, ${calls('NodePublish', publishes)}` +
        `; containers started (${startedTimes.length}, 1 s resolution): p50 ${seconds(percentileOf(startedTimes, 50))}, max ${seconds(Math.max(...startedTimes))}; ${kubeletStatus}`,
    );
    expect(recovered.size).toBe(count);

    // Never two writers: in the pool's own order, each volume lost its mapping to the dead node before it was mapped
    // to the survivor.
    const entries = ferry.poolLog().slice(logBefore);
    for (const [name, volumeId] of poolVolumeIds) {
      const unmapped = entries.findIndex((e) => e.msg === 'unmapped' && e.volumeId === volumeId && (e.sdcIds ?? []).includes(sdc[victim] ?? '?'));
      const mapped = entries.findIndex((e) => e.msg === 'mapped' && e.volumeId === volumeId && e.sdcId === sdc[survivor]);
      expect({ name, fencedFirst: unmapped >= 0 && mapped > unmapped }).toEqual({ name, fencedFirst: true });
    }
    report(`failover of ${count} pods: in the pool's log every volume was unmapped from ${victim} before it was mapped to ${survivor}`);

    // The pods are gone from the dead node's point of view: removed before it comes back, so it returns to nothing.
    await remove('statefulset', ...names);
    await remove('pvc', ...names.map((name) => `data-${name}-0`));
    await ferry.setSdcState(victim, 'Connected');
    try {
      await ferry.cluster.reviveNode(victim);
    } catch (err) {
      // Seen once under a load average of 33: the restarted kubelet exited at once (exit 1). The node is what the
      // later scenarios need back, not what this one measures: stop what did start, and start it once more.
      log(`${victim} did not come back (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); killing what started and reviving it again`);
      await ferry.cluster.killNode(victim);
      await ferry.cluster.reviveNode(victim);
    }
    await ferry.cluster.waitForNodeReady(victim, 'True', 180_000);
    await waitFor('the out-of-service taint to be removed', async () => {
      const node = await get<{ spec: { taints?: { key: string }[] } }>('node', victim, '');
      return !(node?.spec.taints ?? []).some((t) => t.key === 'node.kubernetes.io/out-of-service');
    }, { timeoutMs: 120_000, intervalMs: 1_000 });
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
