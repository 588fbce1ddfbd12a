import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { REPO_ROOT } from '../../helpers/driver-process.js';

/**
 * charts/ferry as rendered: what each service account may do (every verb on every resource, exactly), which containers
 * hold a token at all, that nothing a node mounts holds a gateway credential, and the pods' exposure (root, host
 * network, metrics address) per backend. `helm template` only: no cluster.
 */
const CHART = path.join(REPO_ROOT, 'charts', 'ferry');
const EXAMPLES = { powerflex: path.join(CHART, 'examples', 'powerflex.yaml'), nfs: path.join(CHART, 'examples', 'nfs.yaml') };
const TOKEN_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface VolumeMount {
  name: string;
  mountPath: string;
}
interface Container {
  name: string;
  args?: string[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: VolumeMount[];
}
interface Volume {
  name: string;
  secret?: unknown;
  configMap?: { name: string };
  projected?: { sources: Record<string, unknown>[] };
  hostPath?: unknown;
  emptyDir?: unknown;
}
interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  hostNetwork?: boolean;
  containers: Container[];
  volumes: Volume[];
}
interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
  spec?: { template?: { spec: PodSpec } } & Record<string, unknown>;
  data?: Record<string, string>;
}

let helm: string;
let tmp: string;

beforeAll(() => {
  const dir = execFileSync(path.join(REPO_ROOT, 'scripts', 'install-helm.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 900_000 }).trim();
  helm = path.join(dir, 'helm');
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ferry-chart-rbac-'));
}, 900_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function render(...args: string[]): K8sObject[] {
  const r = spawnSync(helm, ['template', 'ferry', CHART, '--namespace', 'kube-system', ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`helm template ${args.join(' ')}: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/**
 * Every grant of a rendered chart as "account: verb group/resource[@namespace][#name]", one line per verb, sorted: a
 * change of any rule, binding or subject changes this list.
 */
function grants(objs: readonly K8sObject[]): Record<string, string[]> {
  const roles = new Map(objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role').map((o) => [`${o.kind}/${o.metadata.name}`, o]));
  const out: Record<string, string[]> = {};
  for (const binding of objs.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
    const role = roles.get(`${binding.roleRef?.kind ?? ''}/${binding.roleRef?.name ?? ''}`);
    if (!role) throw new Error(`${binding.metadata.name} binds a role the chart does not render`);
    const where = binding.kind === 'RoleBinding' ? `@${binding.metadata.namespace ?? ''}` : '';
    for (const subject of binding.subjects ?? []) {
      expect(subject.kind).toBe('ServiceAccount');
      const lines = (out[subject.name] ??= []);
      for (const rule of role.rules ?? []) {
        for (const group of rule.apiGroups) {
          for (const resource of rule.resources) {
            for (const verb of rule.verbs) {
              const names = rule.resourceNames ? `#${rule.resourceNames.join(',')}` : '';
              lines.push(`${verb} ${group === '' ? '' : `${group}/`}${resource}${where}${names}`);
            }
          }
        }
      }
    }
  }
  for (const key of Object.keys(out)) out[key] = [...new Set(out[key])].sort();
  return out;
}

function verbs(list: string, resource: string): string[] {
  return list.split(',').map((v) => `${v} ${resource}`);
}

function sorted(...lists: string[][]): string[] {
  return [...new Set(lists.flat())].sort();
}

/** What the sidecars need, from their own RBAC documentation (group snapshots apart: see GROUP_SNAPSHOTTER). */
const SIDECARS = [
  ...verbs('get,list,watch,create,delete,patch', 'persistentvolumes'),
  ...verbs('get,list,watch,update', 'persistentvolumeclaims'),
  ...verbs('patch', 'persistentvolumeclaims/status'),
  ...verbs('get,list,watch', 'pods'),
  ...verbs('get,list,watch', 'nodes'),
  ...verbs('list,watch,create,update,patch', 'events'),
  ...verbs('get,list,watch', 'storage.k8s.io/storageclasses'),
  ...verbs('get,list,watch', 'storage.k8s.io/csinodes'),
  ...verbs('get,list,watch,patch', 'storage.k8s.io/volumeattachments'),
  ...verbs('patch', 'storage.k8s.io/volumeattachments/status'),
  ...verbs('get,list,watch', 'storage.k8s.io/volumeattributesclasses'),
  ...verbs('get,list,watch', 'snapshot.storage.k8s.io/volumesnapshotclasses'),
  ...verbs('get,list,watch,update,patch', 'snapshot.storage.k8s.io/volumesnapshotcontents'),
  ...verbs('update,patch', 'snapshot.storage.k8s.io/volumesnapshotcontents/status'),
  ...verbs('get,list,watch,update,patch', 'snapshot.storage.k8s.io/volumesnapshots'),
];
/** csi-snapshotter's group snapshot controller (its rbac-csi-snapshotter.yaml), when the chart turns it on. */
const GROUP_SNAPSHOTTER = [
  ...verbs('get,list,watch', 'groupsnapshot.storage.k8s.io/volumegroupsnapshotclasses'),
  ...verbs('get,list,watch,update,patch', 'groupsnapshot.storage.k8s.io/volumegroupsnapshotcontents'),
  ...verbs('update,patch', 'groupsnapshot.storage.k8s.io/volumegroupsnapshotcontents/status'),
];
/**
 * Storage capacity tracking (storageCapacity.enabled, the default): the provisioner's CSIStorageCapacity objects in the
 * release namespace, and the walk from its pod to the Deployment that owns them; and the VolumeAttributesClass a PVC
 * names at CreateVolume.
 */
const CAPACITY = [
  ...verbs('get,list,watch,create,update,patch,delete', 'storage.k8s.io/csistoragecapacities@kube-system'),
  ...verbs('get', 'pods@kube-system'),
  ...verbs('get', 'apps/replicasets@kube-system'),
];
/** Ferry's controller container: preemption evidence (Node, CSINode ids, heartbeats), Events on PVs, a PV's QoS class. */
const FERRY_CONTROLLER = [
  ...verbs('get', 'nodes'),
  ...verbs('list', 'storage.k8s.io/csinodes'),
  ...verbs('list', 'persistentvolumes'),
  ...verbs('create', 'events'),
  ...verbs('get', 'storage.k8s.io/volumeattributesclasses'),
];
const LEASES_READ = verbs('get,list', 'coordination.k8s.io/leases@kube-system');
const LEASES_ELECT = verbs('create,update', 'coordination.k8s.io/leases@kube-system');
/** The failover controller, in its own pods: what it reads in dry-run, and what it changes in on. */
const FAILOVER_READ = [...verbs('get,list', 'nodes'), ...verbs('list', 'storage.k8s.io/csinodes'), ...verbs('list', 'persistentvolumes'), ...verbs('create', 'events')];
const FAILOVER_ACT = [...verbs('patch', 'nodes'), ...verbs('list,delete', 'pods')];
const FAILOVER_LEASE_DELETE = ['delete coordination.k8s.io/leases@kube-system#ferry.csi.io-failover'];
const HEARTBEAT = sorted(verbs('get,create,update,delete', 'coordination.k8s.io/leases@kube-system'));

const WORKLOADS = { controller: 'Deployment', failover: 'Deployment', node: 'DaemonSet' } as const;

function workload(objs: readonly K8sObject[], component: keyof typeof WORKLOADS): PodSpec {
  const spec = objs.find((o) => o.kind === WORKLOADS[component] && o.metadata.name === `ferry-${component}`)?.spec?.template?.spec;
  if (!spec) throw new Error(`no ${WORKLOADS[component]} ferry-${component}`);
  return spec;
}

describe('RBAC per service account, exactly', () => {
  test('the PowerFlex example (failover on, leader election on)', () => {
    expect(grants(render('-f', EXAMPLES.powerflex))).toEqual({
      'ferry-controller': sorted(SIDECARS, CAPACITY, FERRY_CONTROLLER, LEASES_READ, LEASES_ELECT),
      'ferry-failover': sorted(FAILOVER_READ, FAILOVER_ACT, LEASES_READ, LEASES_ELECT, FAILOVER_LEASE_DELETE),
      'ferry-node': HEARTBEAT,
    });
  });

  test('storage capacity tracking off: no CSIStorageCapacity grant, nor the owner walk', () => {
    expect(grants(render('-f', EXAMPLES.powerflex, '--set', 'storageCapacity.enabled=false'))['ferry-controller']).toEqual(
      sorted(SIDECARS, FERRY_CONTROLLER, LEASES_READ, LEASES_ELECT),
    );
  });

  test('no sidecar container can taint a node, delete a pod or delete a Lease: those are the failover account\'s', () => {
    const controller = grants(render('-f', EXAMPLES.powerflex))['ferry-controller'] ?? [];
    expect(controller.filter((g) => /^(patch nodes|delete pods|delete coordination)/.test(g))).toEqual([]);
  });

  test('failover dry-run: reads the nodes, never patches them nor deletes pods', () => {
    expect(grants(render('-f', EXAMPLES.powerflex, '--set', 'controller.failover.mode=dry-run'))).toEqual({
      'ferry-controller': sorted(SIDECARS, CAPACITY, FERRY_CONTROLLER, LEASES_READ, LEASES_ELECT),
      'ferry-failover': sorted(FAILOVER_READ, LEASES_READ, LEASES_ELECT, FAILOVER_LEASE_DELETE),
      'ferry-node': HEARTBEAT,
    });
  });

  test('failover off and no leader election: no failover account or pods; the controller only reads Leases', () => {
    const objs = render('-f', EXAMPLES.powerflex, '--set', 'controller.failover.mode=off', '--set', 'controller.leaderElection.enabled=false', '--set', 'controller.replicas=1');
    expect(grants(objs)).toEqual({ 'ferry-controller': sorted(SIDECARS, CAPACITY, FERRY_CONTROLLER, LEASES_READ), 'ferry-node': HEARTBEAT });
    expect(objs.filter((o) => o.metadata.name === 'ferry-failover')).toEqual([]);
  });

  test('no rule for group snapshots unless they are turned on, and no wildcard', () => {
    for (const objs of [render(), render('-f', EXAMPLES.powerflex), render('-f', EXAMPLES.nfs)]) {
      const lines = Object.values(grants(objs)).flat();
      expect(lines.filter((l) => l.includes('groupsnapshot'))).toEqual([]);
      expect(lines.filter((l) => l.includes('*'))).toEqual([]);
      const snapshotter = workload(objs, 'controller').containers.find((c) => c.name === 'csi-snapshotter');
      expect(snapshotter?.args?.filter((a) => a.includes('GroupSnapshot'))).toEqual([]);
    }
  });

  test('group snapshots on: the snapshotter\'s feature gate, exactly its three groupsnapshot rules, and the class', () => {
    const objs = render(
      '-f', EXAMPLES.powerflex,
      '--set', 'sidecars.snapshotter.volumeGroupSnapshots=true',
      '--set', 'volumeGroupSnapshotClasses[0].name=ferry-groups',
      '--set', 'volumeGroupSnapshotClasses[0].deletionPolicy=Retain',
    );
    expect(grants(objs)['ferry-controller']).toEqual(
      sorted(SIDECARS, CAPACITY, FERRY_CONTROLLER, LEASES_READ, LEASES_ELECT, GROUP_SNAPSHOTTER),
    );
    const snapshotter = workload(objs, 'controller').containers.find((c) => c.name === 'csi-snapshotter');
    expect(snapshotter?.args).toContain('--feature-gates=CSIVolumeGroupSnapshot=true');
    const classes = objs.filter((o) => o.kind === 'VolumeGroupSnapshotClass') as (K8sObject & { apiVersion?: string; driver?: string; deletionPolicy?: string })[];
    expect(classes.map((c) => [c.apiVersion, c.metadata.name, c.driver, c.deletionPolicy])).toEqual([['groupsnapshot.storage.k8s.io/v1', 'ferry-groups', 'ferry.csi.io', 'Retain']]);
  });
});

describe('the node account writes only its own heartbeat', () => {
  test('a ValidatingAdmissionPolicy, bound with Deny, keyed on the token\'s node-name claim, for the node account only', () => {
    const objs = render('-f', EXAMPLES.powerflex);
    const policy = objs.find((o) => o.kind === 'ValidatingAdmissionPolicy');
    const spec = policy?.spec as {
      failurePolicy: string;
      matchConditions: { expression: string }[];
      matchConstraints: { resourceRules: { resources: string[]; operations: string[] }[] };
      validations: { expression: string }[];
      variables: { name: string; expression: string }[];
    };
    expect(spec.failurePolicy).toBe('Fail');
    expect(spec.matchConstraints.resourceRules).toEqual([expect.objectContaining({ resources: ['leases'], operations: ['CREATE', 'UPDATE', 'DELETE'] })]);
    expect(spec.matchConditions.map((c) => c.expression)).toEqual(['request.userInfo.username == "system:serviceaccount:kube-system:ferry-node"']);
    expect(spec.variables[0]?.expression).toContain("request.userInfo.extra['authentication.kubernetes.io/node-name']");
    expect(spec.validations.map((v) => v.expression)).toContain("request.name == 'ferry-node-' + variables.nodeName");
    const binding = objs.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding');
    expect(binding?.spec).toEqual({ policyName: policy?.metadata.name, validationActions: ['Deny'] });
  });
});

describe('credentials: where they are mounted', () => {
  test.each([['powerflex'], ['nfs'], ['defaults']])('%s: no volume of the node pod holds a Secret; the token only in the containers that call the API', (name) => {
    const objs = name === 'defaults' ? render() : render('-f', EXAMPLES[name as keyof typeof EXAMPLES]);
    const node = workload(objs, 'node');
    expect(node.automountServiceAccountToken).toBe(false);
    const secretSources = node.volumes.flatMap((v) => [...(v.secret ? [v.name] : []), ...(v.projected?.sources ?? []).filter((s) => 'secret' in s).map(() => v.name)]);
    expect(secretSources).toEqual([]);
    // The one projected volume is the service account token (for the heartbeat), in the ferry container alone.
    expect(node.volumes.filter((v) => v.projected).map((v) => v.name)).toEqual(['kube-api-access']);
    const withToken = (spec: PodSpec): string[] => spec.containers.filter((c) => (c.volumeMounts ?? []).some((m) => m.mountPath === TOKEN_DIR)).map((c) => c.name);
    expect(withToken(node)).toEqual(['ferry']);
    const controller = workload(objs, 'controller');
    expect(controller.automountServiceAccountToken).toBe(false);
    expect(withToken(controller)).toEqual(['ferry', 'csi-provisioner', 'csi-attacher', 'csi-resizer', 'csi-snapshotter']);
    const failover = workload(objs, 'failover');
    expect([failover.serviceAccountName, failover.automountServiceAccountToken, withToken(failover)]).toEqual(['ferry-failover', false, ['ferry']]);
    // The failover pods run the one failover controller; the CSI controller's ferry never does.
    expect(failover.containers[0]?.args).toContain('--failover=on');
    expect(controller.containers.find((c) => c.name === 'ferry')?.args).toContain('--failover=off');
  });

  test('powerflex: the node configuration names the system and holds no login; the controller\'s has the password file', () => {
    const objs = render('-f', EXAMPLES.powerflex);
    const nodeText = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'ferry-node-config')?.data?.['ferry.yaml'] ?? '';
    const nodeConfig = parseConfig(nodeText, 'ferry-node-config');
    expect(nodeConfig.backends).toEqual([expect.objectContaining({ type: 'powerflex', systemId: '0123456789abcdef' })]);
    for (const key of ['username', 'password', 'passwordFile', 'caFile']) expect(nodeText).not.toContain(`${key}:`);
    const node = workload(objs, 'node');
    expect(node.volumes.find((v) => v.name === 'config')?.configMap?.name).toBe('ferry-node-config');
    const controller = workload(objs, 'controller');
    const controllerSources = controller.volumes.find((v) => v.name === 'config')?.projected?.sources ?? [];
    expect(controllerSources).toContainEqual({ secret: { name: 'powerflex-gateway', items: [{ key: 'password', path: 'credentials/pool' }] } });
  });

  test('a powerflex backend without systemId is refused (the nodes could not learn it)', () => {
    const file = path.join(tmp, 'no-system-id.yaml');
    writeFileSync(file, 'backends:\n  - {name: p, type: powerflex, endpoint: "https://g", username: u, storagePool: p1, credentials: {password: x}}\n');
    const r = spawnSync(helm, ['template', 'ferry', CHART, '-f', file], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('systemId');
  });
});

describe('exposure of the pods', () => {
  test('block only: the controller\'s ferry container runs as non-root; the node pod is off the host network', () => {
    const objs = render('-f', EXAMPLES.powerflex);
    const ferry = workload(objs, 'controller').containers.find((c) => c.name === 'ferry');
    expect(ferry?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(ferry?.securityContext?.['privileged']).toBeUndefined();
    expect(workload(objs, 'node').hostNetwork).toBe(false);
  });

  test('NFS: mounts need root in the controller and the host network on the nodes', () => {
    const objs = render('-f', EXAMPLES.nfs);
    expect(workload(objs, 'controller').containers.find((c) => c.name === 'ferry')?.securityContext).toEqual({ privileged: true });
    // The failover controller never mounts: non-root whatever the backends.
    expect(workload(objs, 'failover').containers[0]?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(workload(objs, 'node').hostNetwork).toBe(true);
    expect(workload(render('-f', EXAMPLES.nfs, '--set', 'node.hostNetwork=false'), 'node').hostNetwork).toBe(false);
  });

  test('metrics listen on the pod\'s IP unless the values name an address; never 0.0.0.0 by default', () => {
    const metricsArgs = (objs: readonly K8sObject[]): string[] =>
      (['controller', 'failover', 'node'] as const).flatMap((k) => (workload(objs, k).containers.find((c) => c.name === 'ferry')?.args ?? []).filter((a) => a.startsWith('--metrics-address=')));
    expect(metricsArgs(render('-f', EXAMPLES.nfs))).toEqual(['--metrics-address=[$(POD_IP)]:9808', '--metrics-address=[$(POD_IP)]:9810', '--metrics-address=[$(POD_IP)]:9809']);
    expect(metricsArgs(render('--set', 'metrics.address=127.0.0.1'))).toEqual(['--metrics-address=127.0.0.1:9808', '--metrics-address=127.0.0.1:9810', '--metrics-address=127.0.0.1:9809']);
    expect(metricsArgs(render('--set', 'metrics.enabled=false'))).toEqual([]);
  });
});
