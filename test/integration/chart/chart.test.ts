import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { NFS_PARAMETER_KEYS } from '../../../src/backends/nfs/parameters.js';
import { POWERFLEX_PARAMETER_KEYS } from '../../../src/backends/powerflex/parameters.js';
import { parseConfig } from '../../../src/config/load.js';
import { splitParameters } from '../../../src/csi/parameters.js';
import { REPO_ROOT } from '../../helpers/driver-process.js';
import { startKubeStub, type KubeStub } from './kube-stub.js';

/**
 * charts/ferry: lint, render (defaults and one example per backend), kubectl's client-side dry run of every object,
 * the values schema, the driver config the chart renders (parsed by Ferry's own loader) and deploy/ kept in step.
 */
const CHART = path.join(REPO_ROOT, 'charts', 'ferry');
const HERE = path.join(REPO_ROOT, 'test', 'integration', 'chart');
const EXAMPLES = { powerflex: path.join(CHART, 'examples', 'powerflex.yaml'), nfs: path.join(CHART, 'examples', 'nfs.yaml') };
/** The kubectl module whose test data is the Kubernetes OpenAPI document the dry run validates against. */
const KUBECTL_MODULE = 'k8s.io/kubectl@v0.37.0';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
  parameters?: Record<string, string>;
  provisioner?: string;
  spec?: unknown;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

let helm: string;
let kubectl: string;
let stub: KubeStub;
let tmp: string;

function run(program: string, args: readonly string[], input?: string, env?: NodeJS.ProcessEnv): Run {
  const r = spawnSync(program, args, { cwd: REPO_ROOT, input, encoding: 'utf8', timeout: 120_000, env: env ?? process.env, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function template(...args: string[]): string {
  const r = run(helm, ['template', 'ferry', CHART, '--namespace', 'kube-system', ...args]);
  if (r.status !== 0) throw new Error(`helm template ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function objects(manifest: string): K8sObject[] {
  return parseAllDocuments(manifest)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** kubectl against the in-process API stub: asynchronous, so the stub can answer while kubectl waits. */
function dryRun(manifest: string): Promise<Run> {
  const env = { ...process.env, KUBECONFIG: path.join(tmp, 'kubeconfig'), HOME: tmp };
  return new Promise((resolve, reject) => {
    const child = spawn(kubectl, ['apply', '--dry-run=client', '--validate=strict', '--request-timeout=20s', '-f', '-'], { cwd: REPO_ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(manifest);
  });
}

/** The rendered driver configuration, parsed by the loader `ferry driver --config` uses. */
function driverConfig(objs: readonly K8sObject[]): ReturnType<typeof parseConfig> {
  const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'ferry-config');
  const text = cm?.data?.['ferry.yaml'];
  if (text === undefined) throw new Error('no ferry-config ConfigMap with ferry.yaml');
  return parseConfig(text, 'ferry-config/ferry.yaml');
}

beforeAll(async () => {
  const dir = execFileSync(path.join(REPO_ROOT, 'scripts', 'install-helm.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 900_000 }).trim();
  helm = path.join(dir, 'helm');
  kubectl = existsSync(path.join(dir, 'kubectl')) ? path.join(dir, 'kubectl') : 'kubectl';
  const download = execFileSync('go', ['mod', 'download', '-json', KUBECTL_MODULE], {
    cwd: os.tmpdir(),
    encoding: 'utf8',
    env: { ...process.env, GOWORK: 'off', GOFLAGS: '-mod=mod' },
    timeout: 300_000,
  });
  const swagger = path.join((JSON.parse(download) as { Dir: string }).Dir, 'testdata', 'openapi', 'swagger.json');
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ferry-chart-'));
  // kubectl only takes /openapi/v2 as protobuf: convert the JSON document with gnostic, as the API server does.
  const converter = path.join(tmp, 'openapi-pb');
  const goEnv = { ...process.env, GOWORK: 'off', GOFLAGS: '-mod=mod', CGO_ENABLED: '0' };
  execFileSync('go', ['build', '-o', converter, '.'], { cwd: path.join(HERE, 'openapi-pb'), env: goEnv, stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
  execFileSync(converter, [swagger, path.join(tmp, 'openapi.pb')], { stdio: ['ignore', 'inherit', 'inherit'] });
  stub = await startKubeStub(path.join(tmp, 'openapi.pb'));
  writeFileSync(
    path.join(tmp, 'kubeconfig'),
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: stub, cluster: {server: "${stub.url}"}}]`,
      'users: [{name: stub, user: {}}]',
      'contexts: [{name: stub, context: {cluster: stub, user: stub, namespace: kube-system}}]',
      'current-context: stub',
      '',
    ].join('\n'),
  );
}, 1_200_000);

afterAll(async () => {
  await stub?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});


/**
 * Starts the driver with `args`, waits until it logs "serving CSI" (a bad config exits 2 at once), then stops it with
 * SIGTERM: what a pod's start and stop do. Waiting for the line rather than a fixed time keeps this true on a loaded
 * machine, where a start can take several seconds.
 */
async function serveThenStop(args: string[], timeoutMs = 60_000): Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; served: boolean }> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'cli.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let served = false;
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (status, signal) => resolve({ status, signal })));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (!served && stdout.includes('"serving CSI"')) {
      served = true;
      child.kill('SIGTERM');
    }
  });
  child.stderr.resume();
  const end = await exited;
  clearTimeout(timer);
  return { ...end, stdout, served };
}

describe('helm lint', () => {
  test.each([['defaults'], ['powerflex'], ['nfs']])('%s: clean', (name) => {
    const values = name === 'defaults' ? [] : ['-f', EXAMPLES[name as keyof typeof EXAMPLES]];
    const r = run(helm, ['lint', '--strict', CHART, ...values]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('0 chart(s) failed');
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });
});

describe('helm template + kubectl apply --dry-run=client', () => {
  test('the offline API stub makes kubectl reject an unknown field (so the dry runs below validate for real)', async () => {
    const bad = 'apiVersion: storage.k8s.io/v1\nkind: CSIDriver\nmetadata: {name: x}\nspec: {attachRequired: true, podInfoOnMoun: true}\n';
    const r = await dryRun(bad);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/podInfoOnMoun/);
  });

  test.each([['defaults'], ['powerflex'], ['nfs']])('%s: every object is accepted', async (name) => {
    const manifest = name === 'defaults' ? template() : template('-f', EXAMPLES[name as keyof typeof EXAMPLES]);
    const objs = objects(manifest);
    const kinds = new Set(objs.map((o) => o.kind));
    for (const kind of ['CSIDriver', 'Deployment', 'DaemonSet', 'ConfigMap', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']) {
      expect(kinds).toContain(kind);
    }
    const r = await dryRun(manifest);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const applied = r.stdout.trim().split('\n');
    expect(applied).toHaveLength(objs.length);
    for (const line of applied) expect(line).toMatch(/ created \(dry run\)$/);
    expect(stub.writes).toEqual([]);
  });

  test('the helm test hooks (PVC + pod on the first StorageClass) are accepted too', () => {
    const hooks = objects(template('-f', EXAMPLES.powerflex)).filter((o) => o.metadata.annotations?.['helm.sh/hook'] === 'test');
    expect(hooks.map((o) => o.kind).sort()).toEqual(['PersistentVolumeClaim', 'Pod']);
    const pvc = hooks.find((o) => o.kind === 'PersistentVolumeClaim');
    expect((pvc?.spec as { storageClassName?: string }).storageClassName).toBe('ferry-block');
  });
});

describe('the driver configuration the chart renders', () => {
  test('defaults: no backends, the node section empty; it parses', () => {
    const config = driverConfig(objects(template()));
    expect(config.backends).toEqual([]);
  });

  test('powerflex: parses, the password file is the mounted Secret key, the CA file the mounted ConfigMap key', () => {
    const objs = objects(template('-f', EXAMPLES.powerflex));
    const config = driverConfig(objs);
    expect(config.backends).toHaveLength(1);
    const backend = config.backends[0];
    expect(backend?.type).toBe('powerflex');
    if (backend?.type !== 'powerflex') return;
    expect(backend.passwordFile).toBe('/etc/ferry/credentials/pool');
    expect(backend.password).toBeUndefined();
    expect(backend.caFile).toBe('/etc/ferry/ca/pool.crt');
    expect(backend.insecure).toBe(false);
    const pods = objs.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet');
    // The controller, the failover controller and the node plugins.
    expect(pods).toHaveLength(3);
    for (const pod of pods) {
      const text = JSON.stringify(pod);
      // The controllers alone get the password and the CA: the node plugins never call the gateway.
      const controller = pod.kind === 'Deployment';
      expect(text.includes('"name":"powerflex-gateway","items":[{"key":"password","path":"credentials/pool"}]')).toBe(controller);
      expect(text.includes('{"configMap":{"name":"powerflex-gateway-ca","items":[{"key":"ca.crt","path":"ca/pool.crt"}]}}')).toBe(controller);
      expect(text).toContain('"--config=/etc/ferry/ferry.yaml"');
    }
  });

  test('a password given as a value goes into a Secret the chart makes, never into the ConfigMap', () => {
    const values = path.join(tmp, 'password-values.yaml');
    writeFileSync(
      values,
      'backends:\n  - {name: pool, type: powerflex, endpoint: "https://gw.example.com", username: admin, systemId: 0123456789abcdef, storagePool: p1, credentials: {password: s3cret}}\n',
    );
    const objs = objects(template('-f', values));
    expect(driverConfig(objs).backends[0]).toMatchObject({ passwordFile: '/etc/ferry/credentials/pool' });
    const secret = objs.find((o) => o.kind === 'Secret');
    expect(secret?.metadata.name).toBe('ferry-credentials');
    expect(Buffer.from(secret?.data?.['pool'] ?? '', 'base64').toString()).toBe('s3cret');
    expect(JSON.stringify(objs.filter((o) => o.kind !== 'Secret'))).not.toContain('s3cret');
  });

  test('nfs: parses, with the quoted octal mode intact', () => {
    const config = driverConfig(objects(template('-f', EXAMPLES.nfs)));
    expect(config.backends[0]).toMatchObject({ type: 'nfs', name: 'nfs', server: 'nfs.example.com', share: '/exports/k8s', mountPermissions: 0o777, onDelete: 'archive' });
  });

  test.each([['powerflex'], ['nfs']])('%s: every StorageClass parameter is one the driver accepts', (name) => {
    const objs = objects(template('-f', EXAMPLES[name as keyof typeof EXAMPLES]));
    const config = driverConfig(objs);
    const keysOf = (backendName: string | undefined): readonly string[] => {
      const backend = config.backends.find((b) => b.name === backendName) ?? config.backends[0];
      return backend?.type === 'nfs' ? NFS_PARAMETER_KEYS : POWERFLEX_PARAMETER_KEYS;
    };
    const classes = objs.filter((o) => o.kind === 'StorageClass');
    expect(classes.length).toBeGreaterThan(0);
    for (const sc of classes) {
      expect(sc.provisioner).toBe('ferry.csi.io');
      expect(() => splitParameters(sc.parameters ?? {}, keysOf)).not.toThrow();
    }
  });

  test('the driver starts on the rendered defaults', async () => {
    const text = objects(template()).find((o) => o.kind === 'ConfigMap')?.data?.['ferry.yaml'];
    expect(text).toBeDefined();
    const file = path.join(tmp, 'ferry.yaml');
    writeFileSync(file, text ?? '');
    const socket = path.join(tmp, 'csi.sock');
    const r = await serveThenStop(['driver', '--mode', 'controller', '--config', file, '--endpoint', `unix://${socket}`]);
    // It served, then shut down cleanly on SIGTERM.
    expect(r.served).toBe(true);
    expect(r.signal ?? r.status).toBe(0);
    expect(r.stdout).toContain('ferry.csi.io');
  });
});

describe('the driver flags the chart renders', () => {
  /** The ferry container's args of a workload, with the pod's paths and $(NODE_NAME) replaced by the test's. */
  function renderedArgs(name: 'ferry-controller' | 'ferry-failover' | 'ferry-node', configFile: string, socket: string): string[] {
    const workload = objects(template()).find((o) => (o.kind === 'Deployment' || o.kind === 'DaemonSet') && o.metadata.name === name);
    const spec = workload?.spec as { template: { spec: { containers: { name: string; args: string[] }[] } } } | undefined;
    const args = spec?.template.spec.containers.find((c) => c.name === 'ferry')?.args ?? [];
    expect(args[0]).toBe('driver');
    return args.map((a) =>
      a.startsWith('--endpoint=')
        ? `--endpoint=unix://${socket}`
        : a.startsWith('--config=')
          ? `--config=${configFile}`
          : a.replace('$(NODE_NAME)', 'node1').replace('$(POD_IP)', '127.0.0.1').replace(/:(9808|9809|9810)$/, ':0'),
    );
  }

  test.each(['ferry-controller', 'ferry-failover', 'ferry-node'] as const)('the %s ferry args (failover, heartbeat, namespace) start the driver', async (name) => {
    const configFile = path.join(tmp, `${name}.yaml`);
    const configMap = name === 'ferry-node' ? 'ferry-node-config' : 'ferry-config';
    writeFileSync(configFile, objects(template()).find((o) => o.kind === 'ConfigMap' && o.metadata.name === configMap)?.data?.['ferry.yaml'] ?? '');
    // An API server that is not there: the driver must still serve CSI (heartbeats and failover retry in the background).
    const kubeconfig = path.join(tmp, 'unreachable.kubeconfig');
    writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n');
    const args = renderedArgs(name, configFile, path.join(tmp, `${name}.sock`));
    const expected = { 'ferry-controller': ['--failover=off', '--namespace=kube-system'], 'ferry-failover': ['--failover=on', '--namespace=kube-system'], 'ferry-node': ['--node-name=node1', '--heartbeat-duration-seconds=8'] };
    expect(args).toEqual(expect.arrayContaining(expected[name]));
    const r = await serveThenStop([...args, '--kubeconfig', kubeconfig]);
    expect(r.served).toBe(true);
    expect(r.signal ?? r.status).toBe(0);
  });
});

describe('values.schema.json', () => {
  test.each([
    ['a misspelt top-level key', 'controler:\n  replicas: 1\n', 'controler'],
    ['a misspelt controller key', 'controller:\n  replica: 1\n', 'replica'],
    ['a misspelt sidecar key', 'sidecars:\n  provisioner:\n    imge: {}\n', 'imge'],
    ['a misspelt backend key', 'backends:\n  - {name: nfs, type: nfs, server: a.example, share: /x, mountOption: [hard]}\n', 'mountOption'],
    ['a powerflex backend without credentials', 'backends:\n  - {name: p, type: powerflex, endpoint: "https://g", username: u, storagePool: p1}\n', 'credentials'],
    ['a misspelt StorageClass parameter', 'storageClasses:\n  - {name: s, parameters: {backend: nfs, storagePol: p}}\n', 'storagePol'],
    [
      'a CA from both a Secret and a ConfigMap',
      'backends:\n  - {name: p, type: powerflex, endpoint: "https://g", username: u, storagePool: p1, credentials: {password: x}, ca: {secret: s, configMap: c, key: ca.crt}}\n',
      'ca',
    ],
    [
      'both ca and caFile',
      'backends:\n  - {name: p, type: powerflex, endpoint: "https://g", username: u, storagePool: p1, credentials: {password: x}, ca: {secret: s, key: k}, caFile: /x}\n',
      'caFile',
    ],
    ['an unknown failover mode', 'controller:\n  failover:\n    mode: maybe\n', 'failover/mode'],
    ['a misspelt nodeConfig key', 'nodeConfig:\n  stateDirectory: /x\n', 'stateDirectory'],
  ])('%s is rejected by lint and template', (_what, values, word) => {
    const file = path.join(tmp, 'bad-values.yaml');
    writeFileSync(file, values);
    for (const command of [['lint', CHART, '-f', file], ['template', 'ferry', CHART, '-f', file]]) {
      const r = run(helm, command);
      expect(r.status).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/schema/i);
      expect(r.stdout + r.stderr).toContain(word);
    }
  });
});

describe('deploy/', () => {
  test('deploy/ferry.yaml is the chart rendered with its defaults, byte for byte (run scripts/render-manifests.sh)', () => {
    const fresh = execFileSync(path.join(REPO_ROOT, 'scripts', 'render-manifests.sh'), ['--stdout'], { encoding: 'utf8', timeout: 900_000 });
    expect(fresh).toBe(readFileSync(path.join(REPO_ROOT, 'deploy', 'ferry.yaml'), 'utf8'));
  });
});
