import { beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseMutableParameters } from '../../../src/parameters/qos.js';
import { REPO_ROOT } from '../../helpers/driver-process.js';

/**
 * charts/ferry as rendered, for issue 15 points 2 and 4: storage capacity tracking (the provisioner's --enable-capacity,
 * its owner walk and environment, the CSIDriver's storageCapacity, behind storageCapacity.enabled) and
 * VolumeAttributesClass support (the resizer left with the feature on, the roles that read the classes, and the
 * classes the chart renders, whose parameters Ferry's own check accepts as mutable). `helm template` only.
 */
const CHART = path.join(REPO_ROOT, 'charts', 'ferry');
const POWERFLEX = path.join(CHART, 'examples', 'powerflex.yaml');

interface EnvVar {
  name: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: { storageCapacity?: boolean; template?: { spec: { containers: Container[] } } };
  rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  driverName?: string;
  parameters?: Record<string, string>;
}

let helm: string;

beforeAll(() => {
  const dir = execFileSync(path.join(REPO_ROOT, 'scripts', 'install-helm.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 900_000 }).trim();
  helm = path.join(dir, 'helm');
}, 900_000);

function render(...args: string[]): K8sObject[] {
  const r = spawnSync(helm, ['template', 'ferry', CHART, '--namespace', 'kube-system', '-f', POWERFLEX, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`helm template ${args.join(' ')}: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function sidecar(objs: readonly K8sObject[], name: string): Container {
  const controller = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'ferry-controller');
  const container = controller?.spec?.template?.spec.containers.find((c) => c.name === name);
  if (!container) throw new Error(`no ${name} container in ferry-controller`);
  return container;
}

function rulesOf(objs: readonly K8sObject[], kind: string, name: string): string[] {
  const role = objs.find((o) => o.kind === kind && o.metadata.name === name);
  return (role?.rules ?? []).flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${g === '' ? '' : `${g}/`}${res}`))));
}

describe('storage capacity tracking', () => {
  test('on by default: the provisioner publishes CSIStorageCapacity objects owned by the controller Deployment', () => {
    const objs = render();
    const provisioner = sidecar(objs, 'csi-provisioner');
    expect(provisioner.args).toEqual(expect.arrayContaining(['--enable-capacity', '--capacity-ownerref-level=2', '--capacity-poll-interval=1m', '--feature-gates=Topology=true']));
    expect(provisioner.env).toEqual([
      { name: 'NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ]);
    expect(objs.find((o) => o.kind === 'CSIDriver')?.spec?.storageCapacity).toBe(true);
    const role = objs.find((o) => o.kind === 'Role' && o.metadata.name === 'ferry-provisioner-capacity');
    expect(role?.metadata.namespace).toBe('kube-system');
    expect(rulesOf(objs, 'Role', 'ferry-provisioner-capacity').sort()).toEqual(
      [...['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'].map((v) => `${v} storage.k8s.io/csistoragecapacities`), 'get pods', 'get apps/replicasets'].sort(),
    );
    const binding = objs.find((o) => o.kind === 'RoleBinding' && o.metadata.name === 'ferry-provisioner-capacity') as
      | (K8sObject & { subjects: { name: string; namespace: string }[]; roleRef: { kind: string; name: string } })
      | undefined;
    expect(binding?.subjects).toEqual([{ kind: 'ServiceAccount', name: 'ferry-controller', namespace: 'kube-system' }]);
    expect(binding?.roleRef).toMatchObject({ kind: 'Role', name: 'ferry-provisioner-capacity' });
  });

  test('storageCapacity.pollInterval reaches the provisioner; a malformed one is refused by the schema', () => {
    expect(sidecar(render('--set', 'storageCapacity.pollInterval=30s'), 'csi-provisioner').args).toContain('--capacity-poll-interval=30s');
    const r = spawnSync(helm, ['template', 'ferry', CHART, '-f', POWERFLEX, '--set', 'storageCapacity.pollInterval=soon'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('pollInterval');
  });

  test('off: no capacity flags, environment or Role, and the CSIDriver does not claim it', () => {
    const objs = render('--set', 'storageCapacity.enabled=false');
    const provisioner = sidecar(objs, 'csi-provisioner');
    expect((provisioner.args ?? []).filter((a) => a.includes('capacity'))).toEqual([]);
    expect(provisioner.env).toBeUndefined();
    expect(objs.find((o) => o.kind === 'CSIDriver')?.spec?.storageCapacity).toBe(false);
    expect(objs.filter((o) => o.metadata.name === 'ferry-provisioner-capacity')).toEqual([]);
  });
});

describe('VolumeAttributesClass (ControllerModifyVolume)', () => {
  test('the resizer keeps the feature on (GA, on by default since csi-resizer v2.0) and may read the classes; so may the provisioner', () => {
    const objs = render();
    const resizer = sidecar(objs, 'csi-resizer');
    const major = /:v(\d+)\./.exec(resizer.image)?.[1];
    expect(Number(major)).toBeGreaterThanOrEqual(2);
    expect((resizer.args ?? []).filter((a) => a.includes('VolumeAttributesClass=false'))).toEqual([]);
    expect(rulesOf(objs, 'ClusterRole', 'ferry-resizer')).toEqual(expect.arrayContaining(['get storage.k8s.io/volumeattributesclasses', 'list storage.k8s.io/volumeattributesclasses', 'watch storage.k8s.io/volumeattributesclasses']));
    expect(rulesOf(objs, 'ClusterRole', 'ferry-provisioner')).toContain('get storage.k8s.io/volumeattributesclasses');
  });

  test('the example\'s classes render as storage.k8s.io/v1 for this driver, with parameters Ferry accepts as mutable', () => {
    const classes = render().filter((o) => o.kind === 'VolumeAttributesClass');
    expect(classes.map((c) => [c.apiVersion, c.metadata.name, c.driverName])).toEqual([
      ['storage.k8s.io/v1', 'ferry-silver', 'ferry.csi.io'],
      ['storage.k8s.io/v1', 'ferry-gold', 'ferry.csi.io'],
    ]);
    for (const c of classes) expect(() => parseMutableParameters(c.parameters ?? {})).not.toThrow();
    expect(parseMutableParameters(classes[1]?.parameters ?? {})).toEqual({ bandwidthKbps: 204800n, iops: 10000n });
  });

  test('the schema refuses a class with a key that is not mutable', () => {
    const r = spawnSync(helm, ['template', 'ferry', CHART, '--set', 'volumeAttributesClasses[0].name=x', '--set', 'volumeAttributesClasses[0].parameters.storagePool=p'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('storagePool');
  });
});
