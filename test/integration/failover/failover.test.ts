import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Backend, Capability, NodeFencing } from '../../../src/backends/backend.js';
import { createBackends } from '../../../src/backends/factory.js';
import { parseConfig } from '../../../src/config/load.js';
import { FailoverController, FENCED_AT_ANNOTATION, type FailoverRole } from '../../../src/failover/failover-controller.js';
import { ClientNodeKubeApi, loadKubeConfig } from '../../../src/kube/client-node-kube-api.js';
import { PersistentVolumeEvents } from '../../../src/kube/event-recorder.js';
import { LeaderElector } from '../../../src/kube/leader-election.js';
import { NodeHeartbeat } from '../../../src/kube/node-heartbeat.js';
import { KubeNodeLiveness } from '../../../src/kube/node-liveness.js';
import { createLogger } from '../../../src/util/log.js';
import { startDriver } from '../../helpers/driver-process.js';
import { eventually } from '../../helpers/eventually.js';
import { startControlPlane, type ControlPlane } from '../../helpers/kube-control-plane.js';
import { powerFlexBackendYaml, startPool, type PoolProcess } from '../../helpers/pool.js';
import { KubeFixture } from './kube-fixture.js';

/**
 * The failover controller, heartbeats, leader election, liveness evidence and Events against a real kube-apiserver
 * (with etcd) and the real ferry pool. No kubelet runs: the test writes the Node conditions a kubelet would.
 */
const DRIVER = 'ferry.csi.io';
const NAMESPACE = 'kube-system';
const G1 = '11111111-AAAA-4000-8000-000000000001';
const G2 = '22222222-BBBB-4000-8000-000000000002';
/** A node with no SDC: Kubernetes knows it, the storage system does not. */
const G3 = '33333333-CCCC-4000-8000-000000000003';
const GiB = 1024n ** 3n;
const cap: Capability = { accessType: 'mount', accessMode: 'SINGLE_NODE_WRITER', fsType: 'ext4', mountFlags: [] };
const log = createLogger(process.env.FERRY_TEST_LOG === 'debug' ? 'debug' : 'silent');

let cp: ControlPlane;
let pool: PoolProcess;
let backend: Backend;
let kube: ClientNodeKubeApi;
let fixture: KubeFixture;
const stoppers: (() => Promise<void>)[] = [];

function heartbeat(
  nodeName: string,
  nodeId: string,
  state: { clean: boolean | undefined; cleanAt: Date | undefined },
  ownerPod?: { name: string; uid: string },
): NodeHeartbeat {
  const options = { namespace: NAMESPACE, nodeName, nodeId, driverName: DRIVER, intervalMs: 300, durationSeconds: 2, cleanState: () => state };
  const hb = new NodeHeartbeat(kube, { ...options, ...(ownerPod ? { ownerPod } : {}) }, log);
  stoppers.push(() => hb.stop());
  return hb;
}

/** A failover controller on the pool (or `fencing` in its place), leading unless `role` says otherwise. */
function controller(mode: 'on' | 'dry-run', actions: string[], role: () => FailoverRole = () => 'lead', fencing: NodeFencing | undefined = backend.nodeFencing): FailoverController {
  if (!fencing) throw new Error('the PowerFlex backend fences nodes');
  const c = new FailoverController(kube, [{ backend: 'pool', fencing }], role, { mode, driverName: DRIVER, namespace: NAMESPACE, intervalMs: 300, storageTimeoutMs: 20_000 }, log, {
    // node1 is the node under test; the others (node3 has no SDC, so it is never fenced) would only add noise.
    failoverAction: (action, node) => node === 'node1' && actions.push(action),
  });
  stoppers.push(() => c.stop());
  return c;
}

/** The pool's fencing, noting every look at node1's storage by whether it continued an earlier confirmation. */
function countingLooks(): { fencing: NodeFencing; looks: boolean[] } {
  const real = backend.nodeFencing;
  if (!real) throw new Error('the PowerFlex backend fences nodes');
  const looks: boolean[] = [];
  const fencing: NodeFencing = {
    observeNode: (nodeId, ctx, options) => {
      if (nodeId === G1) looks.push(options?.continuing === true);
      return real.observeNode(nodeId, ctx, options);
    },
    fenceNode: (nodeId, ctx) => real.fenceNode(nodeId, ctx),
  };
  return { fencing, looks };
}

/** node1 back as it was for the tests after a fence: its SDC connected, Ferry's taint and annotation gone. */
async function unfenceNode1(): Promise<void> {
  await setSdc(G1, 'Connected');
  await kube.updateNodeMarks('node1', (n) => ({ taints: n.taints.filter((t) => t.key !== 'node.kubernetes.io/out-of-service'), annotations: { [FENCED_AT_ANNOTATION]: null } }));
}

/** A node whose plugin beat once and then stopped, and whose heartbeat has run out. */
async function expireHeartbeat(nodeName: string, nodeId: string): Promise<void> {
  const hb = heartbeat(nodeName, nodeId, { clean: true, cleanAt: new Date() });
  await hb.start();
  await hb.stop({ deleteLease: false }); // a crash: the Lease stays and runs out
  await new Promise((r) => setTimeout(r, 2_200));
}

async function newVolumeOn(nodeId: string, name: string): Promise<string> {
  const ctx = { signal: AbortSignal.timeout(30_000), log };
  const volume = await backend.createVolume({ name, capacity: { requiredBytes: 8n * GiB, limitBytes: 0n }, parameters: {}, source: undefined, capabilities: [cap] }, ctx);
  await backend.publishVolume({ volumeId: volume.id, nodeId, capability: cap, readOnly: false, volumeContext: {} }, ctx);
  return volume.id;
}

async function mappedTo(localId: string): Promise<string[]> {
  return (await backend.getVolume(localId, { signal: AbortSignal.timeout(10_000), log })).publishedNodeIds;
}

async function setSdc(guid: string, state: 'Connected' | 'Disconnected'): Promise<void> {
  const res = await pool.request('POST', `/pool/hosts/${guid}/state`, { auth: 'admin', body: { mdmConnectionState: state } });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  cp = await startControlPlane();
  pool = await startPool({ hosts: [{ name: 'node1', guid: G1 }, { name: 'node2', guid: G2 }] });
  const config = parseConfig(powerFlexBackendYaml(pool, ['preemptionConfirmSeconds: 1']).join('\n'), 'test');
  const kubeConfig = loadKubeConfig(cp.kubeconfig);
  kube = new ClientNodeKubeApi(kubeConfig);
  const [built] = await createBackends(config.backends, config.node, log, { liveness: new KubeNodeLiveness(kube, DRIVER, NAMESPACE), recorder: new PersistentVolumeEvents(kube, DRIVER, log) });
  if (!built) throw new Error('no backend built');
  backend = built;
  fixture = new KubeFixture(kubeConfig, DRIVER);
  await fixture.addDefaultServiceAccount();
  await fixture.addNode('node1', G1);
  await fixture.addNode('node2', G2);
  await fixture.addNode('node3', G3);
  // node2 stays alive throughout: its plugin beats.
  await heartbeat('node2', G2, { clean: true, cleanAt: new Date() }).start();
}, 180_000);

afterAll(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
  await backend?.close();
  await pool?.cleanup();
  await cp?.stop();
});

describe('heartbeats and liveness evidence', () => {
  test('a node plugin\'s heartbeat Lease makes Kubernetes see the node alive; once it stops, the heartbeat expires', async () => {
    const liveness = new KubeNodeLiveness(kube, DRIVER, NAMESPACE);
    const plugin = { name: 'ferry-node-x1', uid: '6f1c1f4e-0000-4000-8000-000000000001' };
    const hb = heartbeat('node3', G3, { clean: true, cleanAt: new Date() }, plugin);
    await hb.start();
    const lease = await kube.getLease(NAMESPACE, 'ferry-node-node3');
    // Owned by the plugin's Pod: deleting the Pod (uninstall) deletes the Lease, whatever the plugin managed to do.
    expect(lease?.ownerPod).toEqual(plugin);
    expect(lease?.annotations['ferry.csi.io/node-id']).toBe(G3);
    expect(lease?.annotations['ferry.csi.io/clean']).toBe('true');
    await expect(liveness.observe(G3)).resolves.toEqual({ configured: true, nodeExists: true, nodeReady: true, outOfService: false, heartbeatExpired: false });
    await hb.stop({ deleteLease: false }); // the plugin dies
    await eventually(async () => {
      const evidence = await liveness.observe(G3);
      return evidence.configured && evidence.heartbeatExpired ? true : undefined;
    }, 'the heartbeat to expire', 5_000);
    // An id no CSINode or Lease names: the node is gone.
    await expect(liveness.observe('99999999-0000-4000-8000-000000000000')).resolves.toMatchObject({ nodeExists: false });
  });

  test('safe preemption refuses while Kubernetes sees the holder alive, even with its SDC Disconnected; takes over once its Node is NotReady, with an Event on the PV', async () => {
    const volumeId = await newVolumeOn(G1, 'pvc-preempt');
    await fixture.addWorkload('pv-preempt', `pool:${volumeId}`, 'claim-preempt', 'pod-preempt', 'node1');
    const hb = heartbeat('node1', G1, { clean: true, cleanAt: new Date() });
    await hb.start();
    await setSdc(G1, 'Disconnected');
    const ctx = { signal: AbortSignal.timeout(30_000), log };
    const publish = (): Promise<Record<string, string>> => backend.publishVolume({ volumeId, nodeId: G2, capability: cap, readOnly: false, volumeContext: {} }, ctx);
    await expect(publish()).rejects.toThrow(/Kubernetes still sees the holder alive/);
    expect(await mappedTo(volumeId)).toEqual([G1]);

    await hb.stop({ deleteLease: false });
    await fixture.setReady('node1', false);
    await publish();
    expect(await mappedTo(volumeId)).toEqual([G2]);
    const events = await eventually(async () => {
      const e = await fixture.events('PersistentVolume', 'pv-preempt');
      return e.some((x) => x.startsWith('VolumeTakenOver')) ? e : undefined;
    }, 'the VolumeTakenOver Event');
    expect(events.some((e) => e.startsWith('TakeOverRefused'))).toBe(true);
    expect(events.find((e) => e.startsWith('VolumeTakenOver'))).toMatch(/its Node is NotReady/);
    // Put node1 back for the next tests.
    await fixture.setReady('node1', true);
    await setSdc(G1, 'Connected');
    await backend.unpublishVolume(volumeId, G2, ctx);
  });
});

describe('failover controller', () => {
  test('a lost heartbeat alone (the SDC still Connected) fences nothing; the node is reported waiting', async () => {
    const volumeId = await newVolumeOn(G1, 'pvc-alive');
    const actions: string[] = [];
    const c = controller('on', actions);
    // node1's plugin stops beating: suspect, but the storage side says its SDC is alive.
    await expireHeartbeat('node1', G1);
    await c.reconcile();
    expect(actions).toEqual(['refused']);
    expect(await fixture.taints('node1')).toEqual([]);
    expect(await mappedTo(volumeId)).toEqual([G1]);
    expect((await fixture.events('Node', 'node1')).some((e) => /FailoverWaiting: .*reports the node's data client Connected/.test(e))).toBe(true);
    await c.reconcile();
    expect(actions).toEqual(['refused']); // said once, not every round
    await backend.unpublishVolume(volumeId, G1, { signal: AbortSignal.timeout(10_000), log });
  });

  test('dry-run: a dead node is reported as what would be done, and nothing changes', async () => {
    const volumeId = await newVolumeOn(G1, 'pvc-dry');
    await expireHeartbeat('node1', G1);
    await setSdc(G1, 'Disconnected');
    const actions: string[] = [];
    await controller('dry-run', actions).reconcile();
    expect(actions).toEqual(['would-fence']);
    expect(await fixture.taints('node1')).toEqual([]);
    expect(await mappedTo(volumeId)).toEqual([G1]);
    expect((await fixture.events('Node', 'node1')).some((e) => e.startsWith('FailoverDryRun: would fence node node1'))).toBe(true);
    await setSdc(G1, 'Connected');
    await backend.unpublishVolume(volumeId, G1, { signal: AbortSignal.timeout(10_000), log });
  });

  test('on: a dead node is fenced on the storage side, tainted out-of-service and its pods deleted; back, beating and clean, the taint comes off', async () => {
    const volumeId = await newVolumeOn(G1, 'pvc-dead');
    const other = await newVolumeOn(G2, 'pvc-other');
    await fixture.addWorkload('pv-dead', `pool:${volumeId}`, 'claim-dead', 'pod-dead', 'node1');
    const actions: string[] = [];
    const state: { clean: boolean | undefined; cleanAt: Date | undefined } = { clean: false, cleanAt: undefined };
    const node1 = heartbeat('node1', G1, state);
    await node1.start();
    const c = controller('on', actions);
    c.start();

    // The host dies: its plugin stops beating and the MDM loses its SDC.
    await node1.stop({ deleteLease: false });
    const died = Date.now();
    await setSdc(G1, 'Disconnected');
    await eventually(async () => ((await fixture.taints('node1')).length > 0 ? true : undefined), 'node1 to be tainted', 15_000);
    const fencedAfterMs = Date.now() - died;
    expect(await fixture.taints('node1')).toEqual(['node.kubernetes.io/out-of-service=nodeshutdown:NoSchedule']);
    expect(await mappedTo(volumeId)).toEqual([]);
    expect(await mappedTo(other)).toEqual([G2]); // only the dead node's mappings
    await eventually(async () => ((await fixture.podExists('pod-dead')) ? undefined : true), 'the dead node\'s pod to be deleted');
    expect(actions).toEqual(expect.arrayContaining(['fenced', 'pod-deleted']));
    expect((await fixture.events('Node', 'node1')).some((e) => /^NodeFenced: fenced by Ferry: \d+ volume mapping/.test(e))).toBe(true);
    // heartbeat duration 2 s + one 1 s confirmation window + rounds of 300 ms
    expect(fencedAfterMs).toBeLessThan(8_000);

    // Back, Ready and beating, but not yet clean: stays fenced.
    await setSdc(G1, 'Connected');
    const revived = heartbeat('node1', G1, state);
    await revived.start();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await fixture.taints('node1')).toHaveLength(1);
    // Its plugin reports clean: the taint and Ferry's annotation come off.
    state.clean = true;
    state.cleanAt = new Date();
    await eventually(async () => ((await fixture.taints('node1')).length === 0 ? true : undefined), 'the taint to be removed', 10_000);
    expect((await fixture.annotations('node1'))[FENCED_AT_ANNOTATION]).toBeUndefined();
    expect(actions).toContain('unfenced');
    expect((await fixture.events('Node', 'node1')).some((e) => e.startsWith('NodeUnfenced'))).toBe(true);
    await c.stop();
    await revived.stop();
  });

  test('a node fenced by an earlier Ferry (its taint NoExecute) is un-tainted once back and clean', async () => {
    await kube.updateNodeMarks('node1', (n) => ({
      taints: [...n.taints, { key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute' }],
      annotations: { [FENCED_AT_ANNOTATION]: new Date(Date.now() - 60_000).toISOString() },
    }));
    const hb = heartbeat('node1', G1, { clean: true, cleanAt: new Date() });
    await hb.start();
    const actions: string[] = [];
    const c = controller('on', actions);
    c.start();
    await eventually(async () => ((await fixture.taints('node1')).length === 0 ? true : undefined), 'the earlier taint to be removed', 10_000);
    expect(actions).toEqual(['unfenced']);
    expect((await fixture.annotations('node1'))[FENCED_AT_ANNOTATION]).toBeUndefined();
    await c.stop();
    await hb.stop();
  });

  test('fencing a node that carries an operator\'s out-of-service taint keeps it, through the fence and after', async () => {
    const volumeId = await newVolumeOn(G1, 'pvc-operator-taint');
    const operators = { key: 'node.kubernetes.io/out-of-service', value: 'maintenance', effect: 'NoExecute' as const };
    await kube.updateNodeMarks('node1', (n) => ({ taints: [...n.taints, operators], annotations: {} }));
    await expireHeartbeat('node1', G1);
    await setSdc(G1, 'Disconnected');
    const actions: string[] = [];
    await controller('on', actions).reconcile();
    expect(actions).toEqual(expect.arrayContaining(['fenced']));
    expect(await mappedTo(volumeId)).toEqual([]);
    expect((await fixture.taints('node1')).sort()).toEqual(['node.kubernetes.io/out-of-service=maintenance:NoExecute', 'node.kubernetes.io/out-of-service=nodeshutdown:NoSchedule']);
    // Back and clean: Ferry's own taint comes off, the operator's stays.
    await setSdc(G1, 'Connected');
    const hb = heartbeat('node1', G1, { clean: true, cleanAt: new Date() });
    await hb.start();
    const c = controller('on', actions);
    c.start();
    await eventually(async () => ((await fixture.taints('node1')).length === 1 ? true : undefined), 'Ferry\'s taint to be removed', 10_000);
    expect(await fixture.taints('node1')).toEqual(['node.kubernetes.io/out-of-service=maintenance:NoExecute']);
    await c.stop();
    await hb.stop();
    await unfenceNode1();
  });

  test('an operator\'s own out-of-service taint is never removed by Ferry', async () => {
    await kube.updateNodeMarks('node2', (n) => ({ taints: [...n.taints, { key: 'node.kubernetes.io/out-of-service', value: 'maintenance', effect: 'NoExecute' }], annotations: {} }));
    await controller('on', []).reconcile();
    expect(await fixture.taints('node2')).toEqual(['node.kubernetes.io/out-of-service=maintenance:NoExecute']);
    await kube.updateNodeMarks('node2', (n) => ({ taints: n.taints.filter((t) => t.value !== 'maintenance'), annotations: {} }));
  });

  test('a standby whose leader went silent confirms a dead node without acting; once it leads it fences at once, with no window of its own', async () => {
    const volumeId = await newVolumeOn(G1, 'pvc-standby');
    await expireHeartbeat('node1', G1);
    await setSdc(G1, 'Disconnected');
    const { fencing: spy, looks } = countingLooks();
    let role: FailoverRole = 'standby';
    const actions: string[] = [];
    const c = controller('on', actions, () => role, spy);

    // A standby under a live leader never reads the volumes' counters (it would split the leader's window).
    await c.reconcile();
    expect(looks).toEqual([]);
    // Its leader went silent: it confirms the node dead over a full window, and changes nothing; the next round
    // continues that confirmation (no window).
    role = 'prepare';
    await c.reconcile();
    expect(looks).toEqual([false]);
    await c.reconcile();
    expect(looks).toEqual([false, true]);
    expect(actions).toEqual([]);
    expect(await fixture.taints('node1')).toEqual([]);
    expect(await mappedTo(volumeId)).toEqual([G1]);
    // It leads: the connection is looked at again and the I/O since counted, no new window; fenced in that round.
    role = 'lead';
    await c.reconcile();
    expect(looks).toEqual([false, true, true]);
    expect(actions).toEqual(expect.arrayContaining(['fenced']));
    expect(await fixture.taints('node1')).toEqual(['node.kubernetes.io/out-of-service=nodeshutdown:NoSchedule']);
    expect(await mappedTo(volumeId)).toEqual([]);
    expect((await fixture.events('Node', 'node1')).some((e) => /^NodeFenced: .*confirmed \d+ ms before, ahead of acting/.test(e))).toBe(true);

    // Back as it was for the tests after this one.
    await unfenceNode1();
  });

  test('a replica that takes the lead acts at once, not after the rest of its interval', async () => {
    const volumeId = await newVolumeOn(G1, 'pvc-wake');
    await expireHeartbeat('node1', G1);
    await setSdc(G1, 'Disconnected');
    const { fencing, looks } = countingLooks();
    let role: FailoverRole = 'prepare';
    const c = new FailoverController(kube, [{ backend: 'pool', fencing }], () => role, { mode: 'on', driverName: DRIVER, namespace: NAMESPACE, intervalMs: 20_000, storageTimeoutMs: 20_000 }, log, { failoverAction: () => undefined });
    stoppers.push(() => c.stop());
    c.start();
    await eventually(async () => (looks.length > 0 ? true : undefined), 'the standby to confirm the node', 10_000);
    role = 'lead';
    const leading = Date.now();
    await eventually(async () => ((await mappedTo(volumeId)).length === 0 ? true : undefined), 'the node to be fenced', 10_000);
    // The 20 s interval between rounds was cut short by the take-over.
    expect(Date.now() - leading).toBeLessThan(5_000);
    await c.stop();
    await unfenceNode1();
  });

  test('the leader confirms a node whose heartbeat is late ahead, and fences it in the round its heartbeat expires, with no window then', async () => {
    const volumeId = await newVolumeOn(G1, 'pvc-late');
    const { fencing: spy, looks } = countingLooks();
    const actions: string[] = [];
    const c = controller('on', actions, () => 'lead', spy);
    // The plugin beats (every 300 ms, lasting 2 s) and dies; the MDM loses the SDC.
    const hb = heartbeat('node1', G1, { clean: true, cleanAt: new Date() });
    await hb.start();
    await hb.stop({ deleteLease: false });
    const died = Date.now();
    await setSdc(G1, 'Disconnected');
    // Late (over 1 s), not expired: confirmed over a full window, nothing done.
    await new Promise((r) => setTimeout(r, 1_200));
    await c.reconcile();
    expect(looks).toEqual([false]);
    expect(actions).toEqual([]);
    expect(await mappedTo(volumeId)).toEqual([G1]);
    // Expired: fenced in that round, continuing the confirmation.
    await new Promise((r) => setTimeout(r, Math.max(0, died + 2_300 - Date.now())));
    await c.reconcile();
    expect(looks).toEqual([false, true]);
    expect(actions).toEqual(expect.arrayContaining(['fenced']));
    expect(await mappedTo(volumeId)).toEqual([]);

    await unfenceNode1();
  });

  test('a standby\'s confirmation is not carried into the lead once the node shows I/O or its client is back', async () => {
    const volumeId = await newVolumeOn(G1, 'pvc-standby-back');
    await expireHeartbeat('node1', G1);
    await setSdc(G1, 'Disconnected');
    let role: FailoverRole = 'prepare';
    const actions: string[] = [];
    const c = controller('on', actions, () => role);
    await c.reconcile();
    // The MDM sees the client again before the standby leads: the continued look refuses, nothing is fenced.
    await setSdc(G1, 'Connected');
    role = 'lead';
    await c.reconcile();
    expect(actions).toEqual(['refused']);
    expect(await fixture.taints('node1')).toEqual([]);
    expect(await mappedTo(volumeId)).toEqual([G1]);
    await backend.unpublishVolume(volumeId, G1, { signal: AbortSignal.timeout(10_000), log });
  });
});

describe('leader election', () => {
  test('of two candidates exactly one leads; when it stops, the other takes over', async () => {
    const options = { namespace: NAMESPACE, leaseName: 'ferry-test-leader', leaseDurationSeconds: 2, renewDeadlineMs: 1_500, retryPeriodMs: 200 };
    const pods = { a: { name: 'ferry-failover-a', uid: '6f1c1f4e-0000-4000-8000-00000000000a' }, b: { name: 'ferry-failover-b', uid: '6f1c1f4e-0000-4000-8000-00000000000b' } };
    const a = new LeaderElector(kube, { ...options, identity: 'a', ownerPod: pods.a }, log);
    const b = new LeaderElector(kube, { ...options, identity: 'b', ownerPod: pods.b }, log);
    a.start();
    b.start();
    await eventually(async () => (a.isLeader() || b.isLeader() ? true : undefined), 'a leader');
    for (let i = 0; i < 10; i++) {
      expect(Number(a.isLeader()) + Number(b.isLeader())).toBe(1);
      await new Promise((r) => setTimeout(r, 100));
    }
    const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
    // The leader's Pod owns the Lease: gone with the Pod (uninstall) even when the leader cannot delete it itself.
    expect((await kube.getLease(NAMESPACE, 'ferry-test-leader'))?.ownerPod).toEqual(leader === a ? pods.a : pods.b);
    await leader.stop();
    expect(leader.isLeader()).toBe(false);
    await eventually(async () => (follower.isLeader() ? true : undefined), 'the follower to lead', 5_000);
    expect((await kube.getLease(NAMESPACE, 'ferry-test-leader'))?.ownerPod).toEqual(follower === a ? pods.a : pods.b);
    await follower.stop();
  });

  test('a candidate sees its leader go silent after two missed renewals, before the Lease runs out', async () => {
    // b looks every 300 ms and calls its leader silent after two retry periods (600 ms) without a change; the test
    // renews every 100 ms, so even a slow API call or a late timer leaves a live leader well inside that.
    const options = { namespace: NAMESPACE, leaseName: 'ferry-test-silent', leaseDurationSeconds: 4, renewDeadlineMs: 3_000, retryPeriodMs: 300 };
    // The leader is the test itself: it renews the Lease as a leader would, and then dies.
    const write = (now: Date, acquired: Date) => ({ holder: 'a', durationSeconds: 4, acquireTime: acquired, renewTime: now, transitions: 0, labels: {}, annotations: {} });
    const acquired = new Date();
    let lease = await kube.createLease(NAMESPACE, 'ferry-test-silent', write(acquired, acquired));
    const b = new LeaderElector(kube, { ...options, identity: 'b' }, log);
    b.start();
    try {
      // While a renews, b waits and does not take a for silent.
      for (let i = 0; i < 16; i++) {
        await new Promise((r) => setTimeout(r, 100));
        lease = await kube.replaceLease(lease, write(new Date(), acquired));
        expect({ leading: b.isLeader(), silent: b.leaderSilent() }).toEqual({ leading: false, silent: false });
      }
      const died = Date.now();
      await eventually(async () => (b.leaderSilent() ? true : undefined), 'b to see its leader silent', 3_000);
      const silentAfter = Date.now() - died;
      expect(b.isLeader()).toBe(false);
      expect(silentAfter).toBeLessThan(options.leaseDurationSeconds * 1000);
      await eventually(async () => (b.isLeader() ? true : undefined), 'b to lead once the Lease ran out', 8_000);
      expect(b.leaderSilent()).toBe(false);
      expect((await kube.getLease(NAMESPACE, 'ferry-test-silent'))?.holder).toBe('b');
    } finally {
      await b.stop();
    }
  });
});

describe('ferry driver with a Kubernetes API', () => {
  test('the node plugin renews its heartbeat Lease; the controller leads the failover controller', async () => {
    const kubeArgs = ['--kubeconfig', cp.kubeconfig, '--namespace', NAMESPACE];
    const node = await startDriver(['--mode', 'node', '--node-id', G3, '--node-name', 'node3', '--heartbeat-interval-seconds', '0.5', '--heartbeat-duration-seconds', '3', ...kubeArgs]);
    const controllerProcess = await startDriver(['--mode', 'controller', '--failover', 'dry-run', '--failover-interval-seconds', '0.5', ...kubeArgs]);
    try {
      const first = await kube.getLease(NAMESPACE, 'ferry-node-node3');
      expect(first?.holder).toBe('node3');
      expect(first?.annotations['ferry.csi.io/node-id']).toBe(G3);
      const renewed = await eventually(async () => {
        const now = await kube.getLease(NAMESPACE, 'ferry-node-node3');
        return now?.renewTime && first?.renewTime && now.renewTime > first.renewTime ? now : undefined;
      }, 'a renewal', 5_000);
      expect(renewed.durationSeconds).toBe(3);
      await controllerProcess.waitForOutput('leader election: now leading', 10_000);
      await controllerProcess.waitForOutput('"failover controller started"', 10_000);
      expect((await kube.getLease(NAMESPACE, 'ferry.csi.io-failover'))?.holder).toMatch(/_\d+$/);
    } finally {
      await node.stop();
      await controllerProcess.stop();
    }
    // Stopping on purpose leaves no Lease: the next replica need not wait one out, and an expired heartbeat of a
    // plugin that was merely upgraded or uninstalled cannot make its node look dead.
    expect(await kube.getLease(NAMESPACE, 'ferry.csi.io-failover')).toBeUndefined();
    expect(await kube.getLease(NAMESPACE, 'ferry-node-node3')).toBeUndefined();
  });
});
