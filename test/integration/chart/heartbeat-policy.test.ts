import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CoordinationV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, V1MicroTime, type KubernetesObject } from '@kubernetes/client-node';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ClientNodeKubeApi } from '../../../src/kube/client-node-kube-api.js';
import { NodeHeartbeat } from '../../../src/kube/node-heartbeat.js';
import { createLogger } from '../../../src/util/log.js';
import { REPO_ROOT } from '../../helpers/driver-process.js';
import { startControlPlane, type ControlPlane } from '../../helpers/kube-control-plane.js';

/**
 * The chart's RBAC and ValidatingAdmissionPolicy in a real kube-apiserver (v1.36, test/e2e/build-tools.sh), exercised
 * with real service account tokens bound to pods on two nodes, as the kubelet projects them: the node plugin's account
 * renews its own node's heartbeat (with Ferry's own NodeHeartbeat code) and nothing else, whatever it tries.
 */
const CHART = path.join(REPO_ROOT, 'charts', 'ferry');
const NAMESPACE = 'kube-system';
const log = createLogger('silent');

let cp: ControlPlane;
let admin: KubeConfig;
let core: CoreV1Api;

/** The chart's RBAC and admission objects, as `helm template` renders them with the PowerFlex example. */
function chartObjects(): KubernetesObject[] {
  const helmDir = execFileSync(path.join(REPO_ROOT, 'scripts', 'install-helm.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const r = spawnSync(path.join(helmDir, 'helm'), ['template', 'ferry', CHART, '--namespace', NAMESPACE, '-f', path.join(CHART, 'examples', 'powerflex.yaml')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const kinds = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null && kinds.has(o.kind ?? ''));
}

/** A kubeconfig that authenticates with `token` against the test's API server. */
function withToken(token: string): KubeConfig {
  const kc = new KubeConfig();
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('no cluster in the admin kubeconfig');
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'sa', token }],
    contexts: [{ name: 'sa', cluster: cluster.name, user: 'sa' }],
    currentContext: 'sa',
  });
  return kc;
}

/** A token of `account`, bound to `pod` when given (then it carries the pod's node in its node-name claim). */
async function token(account: string, pod?: { name: string; uid: string }): Promise<string> {
  const answer = await core.createNamespacedServiceAccountToken({
    name: account,
    namespace: NAMESPACE,
    body: { spec: { audiences: [], expirationSeconds: 3600, ...(pod ? { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid } } : {}) } },
  });
  if (!answer.status?.token) throw new Error('no token in the TokenRequest answer');
  return answer.status.token;
}

async function nodePluginPod(name: string, nodeName: string): Promise<{ name: string; uid: string }> {
  await core.createNode({ body: { metadata: { name: nodeName } } });
  const pod = await core.createNamespacedPod({
    namespace: NAMESPACE,
    body: {
      metadata: { name },
      spec: { nodeName, serviceAccountName: 'ferry-node', automountServiceAccountToken: false, containers: [{ name: 'ferry', image: 'ferry' }] },
    },
  });
  return { name, uid: pod.metadata?.uid ?? '' };
}

function lease(name: string, holder: string): { metadata: { name: string; namespace: string; resourceVersion?: string }; spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: V1MicroTime } } {
  return { metadata: { name, namespace: NAMESPACE }, spec: { holderIdentity: holder, leaseDurationSeconds: 8, renewTime: new V1MicroTime(Date.now()) } };
}

/** A replace with the current version (the node account may read a Lease): only the admission policy stands in the way. */
async function replaceAsNodeA(name: string, holder: string): Promise<unknown> {
  const current = await nodeA.readNamespacedLease({ name, namespace: NAMESPACE });
  const body = lease(name, holder);
  return nodeA.replaceNamespacedLease({ name, namespace: NAMESPACE, body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion ?? '' } } });
}

/** The HTTP status and message of a refused call (fails the test when the call went through). */
async function refusal(promise: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { code?: number; body?: unknown };
    if (typeof e.code === 'number') return { code: e.code, message: typeof e.body === 'string' ? e.body : JSON.stringify(e.body) };
    throw err;
  }
  throw new Error('the call was allowed; a refusal was expected');
}

let nodeA: CoordinationV1Api;
let nodeAToken: string;
let unbound: CoordinationV1Api;
let controller: CoordinationV1Api;
let failover: CoordinationV1Api;

beforeAll(async () => {
  cp = await startControlPlane();
  admin = new KubeConfig();
  admin.loadFromFile(cp.kubeconfig);
  core = admin.makeApiClient(CoreV1Api);
  const objects = KubernetesObjectApi.makeApiClient(admin);
  for (const obj of chartObjects()) await objects.create(obj);
  // Leases the node plugin must never touch: another node's heartbeat, the control plane's, the sidecars'.
  const coordination = admin.makeApiClient(CoordinationV1Api);
  const others: [string, string][] = [['ferry-node-node-b', 'node-b'], ['kube-controller-manager', 'cp-1'], ['external-attacher-leader-ferry-csi-io', 'ctl-1']];
  for (const [name, holder] of others) {
    await coordination.createNamespacedLease({ namespace: NAMESPACE, body: lease(name, holder) });
  }
  const podA = await nodePluginPod('ferry-node-aaaaa', 'node-a');
  nodeAToken = await token('ferry-node', podA);
  nodeA = withToken(nodeAToken).makeApiClient(CoordinationV1Api);
  unbound = withToken(await token('ferry-node')).makeApiClient(CoordinationV1Api);
  controller = withToken(await token('ferry-controller')).makeApiClient(CoordinationV1Api);
  failover = withToken(await token('ferry-failover')).makeApiClient(CoordinationV1Api);
  // The admission policy is loaded by the API server asynchronously after it is created.
  for (let i = 0; ; i++) {
    const r = await refusal(nodeA.deleteNamespacedLease({ name: 'kube-controller-manager', namespace: NAMESPACE })).catch(() => undefined);
    if (r?.message.includes('only write its own heartbeat')) break;
    if (i > 100) throw new Error('the admission policy never took effect');
    // Deleted while the policy was not yet in force: put it back for the tests below.
    if (r === undefined) await coordination.createNamespacedLease({ namespace: NAMESPACE, body: lease('kube-controller-manager', 'cp-1') });
    await new Promise((res) => setTimeout(res, 200));
  }
}, 300_000);

afterAll(async () => {
  await cp?.stop();
});

describe('the node plugin\'s service account, with a token bound to a pod on node-a', () => {
  test('Ferry\'s own heartbeat code creates, renews and deletes node-a\'s Lease', async () => {
    const api = new ClientNodeKubeApi(withToken(nodeAToken));
    const heartbeat = new NodeHeartbeat(
      api,
      { namespace: NAMESPACE, nodeName: 'node-a', nodeId: 'node-a', driverName: 'ferry.csi.io', intervalMs: 60_000, durationSeconds: 8, cleanState: () => ({ clean: true, cleanAt: new Date() }) },
      log,
    );
    await heartbeat.beat();
    const first = await api.getLease(NAMESPACE, 'ferry-node-node-a');
    expect(first?.holder).toBe('node-a');
    await heartbeat.beat();
    const second = await api.getLease(NAMESPACE, 'ferry-node-node-a');
    expect(second?.resourceVersion).not.toBe(first?.resourceVersion);
    await heartbeat.stop();
    expect(await api.getLease(NAMESPACE, 'ferry-node-node-a')).toBeUndefined();
  });

  test('cannot write another node\'s heartbeat, nor hold its own in another node\'s name', async () => {
    const other = await refusal(replaceAsNodeA('ferry-node-node-b', 'node-b'));
    expect(other.message).toContain('a node plugin may only write its own heartbeat Lease ferry-node-node-a, not ferry-node-node-b');
    expect((await refusal(nodeA.createNamespacedLease({ namespace: NAMESPACE, body: lease('ferry-node-node-c', 'node-c') }))).message).toContain('only write its own heartbeat');
    const forged = await refusal(nodeA.createNamespacedLease({ namespace: NAMESPACE, body: lease('ferry-node-node-a', 'node-b') }));
    expect(forged.message).toContain("a heartbeat Lease's holder is the node it runs on");
    expect((await refusal(nodeA.deleteNamespacedLease({ name: 'ferry-node-node-b', namespace: NAMESPACE }))).message).toContain('only write its own heartbeat');
  });

  test('cannot touch the control plane\'s or the sidecars\' Leases, nor list Leases, nor write outside its namespace', async () => {
    for (const name of ['kube-controller-manager', 'external-attacher-leader-ferry-csi-io']) {
      expect((await refusal(nodeA.deleteNamespacedLease({ name, namespace: NAMESPACE }))).message).toContain('only write its own heartbeat');
      expect((await refusal(replaceAsNodeA(name, 'node-a'))).message).toContain('only write its own heartbeat');
    }
    expect((await refusal(nodeA.listNamespacedLease({ namespace: NAMESPACE }))).code).toBe(403);
    expect((await refusal(nodeA.createNamespacedLease({ namespace: 'default', body: { ...lease('ferry-node-node-a', 'node-a'), metadata: { name: 'ferry-node-node-a', namespace: 'default' } } }))).code).toBe(403);
  });

  test('a token of the same account that is not bound to a node writes nothing', async () => {
    const r = await refusal(unbound.createNamespacedLease({ namespace: NAMESPACE, body: lease('ferry-node-node-a', 'node-a') }));
    expect(r.message).toContain('not bound to a node');
  });
});

describe('the controller\'s and the failover controller\'s service accounts', () => {
  test('only the failover account deletes a Lease, and only its own; both read the heartbeats', async () => {
    await failover.createNamespacedLease({ namespace: NAMESPACE, body: lease('ferry.csi.io-failover', 'ctl-1') });
    expect((await refusal(controller.deleteNamespacedLease({ name: 'ferry.csi.io-failover', namespace: NAMESPACE }))).code).toBe(403);
    await failover.deleteNamespacedLease({ name: 'ferry.csi.io-failover', namespace: NAMESPACE });
    for (const account of [controller, failover]) {
      expect((await refusal(account.deleteNamespacedLease({ name: 'kube-controller-manager', namespace: NAMESPACE }))).code).toBe(403);
      expect((await account.listNamespacedLease({ namespace: NAMESPACE })).items.map((l) => l.metadata?.name)).toContain('ferry-node-node-b');
    }
  });
});
