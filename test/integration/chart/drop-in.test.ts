import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfig, parseConfig } from '../../../src/config/load.js';
import { call, csiClients } from '../../helpers/csi-client.js';
import { REPO_ROOT, startDriver } from '../../helpers/driver-process.js';
import { cleanupAllPools, startPool, type PoolProcess } from '../../helpers/pool.js';

/**
 * Issue 15, point 5, in the chart: csi-powerflex's array Secret (named in `csiPowerflex`, mounted in the controllers
 * only) and a StorageClass with csi-powerflex's own parameter keys, rendered by `helm template`; the controller's
 * rendered ferry.yaml, with the Secret's file in csi-powerflex's format beside it, starts the real driver against a
 * real `ferry pool`, and the rendered StorageClass's parameters provision a volume unchanged.
 */
const CHART = path.join(REPO_ROOT, 'charts', 'ferry');
const SYSTEM_ID = '5e6f00a1b2c3d4e5';

interface K8sObject {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  parameters?: Record<string, string>;
  provisioner?: string;
  spec?: { template?: { spec: { volumes: { name: string; projected?: { sources: Record<string, unknown>[] } }[] } } };
}

let helm: string;
let tmp: string;
let pool: PoolProcess;

beforeAll(async () => {
  const dir = execFileSync(path.join(REPO_ROOT, 'scripts', 'install-helm.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 900_000 }).trim();
  helm = path.join(dir, 'helm');
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ferry-chart-dropin-'));
  pool = await startPool({ systemId: SYSTEM_ID });
}, 900_000);

afterAll(async () => {
  await cleanupAllPools();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function render(values: string): { status: number | null; objects: K8sObject[]; stderr: string } {
  const file = path.join(tmp, 'values.yaml');
  writeFileSync(file, values);
  const r = spawnSync(helm, ['template', 'ferry', CHART, '--namespace', 'kube-system', '-f', file], { encoding: 'utf8', timeout: 120_000 });
  const objects = r.status === 0 ? parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null) : [];
  return { status: r.status, objects, stderr: r.stderr };
}

const dropInValues = (endpoint: string): string =>
  [
    'csiPowerflex:',
    '  secret: vxflexos-config',
    '  storagePool: pool1',
    '  arrays:',
    `    - systemID: ${SYSTEM_ID.toUpperCase()}`,
    `      endpoint: ${endpoint}`,
    'storageClasses:',
    '  - name: vxflexos',
    '    parameters:',
    '      storagepool: pool1',
    `      systemID: ${SYSTEM_ID}`,
    '      csi.storage.k8s.io/fstype: xfs',
    '      mkfsFormatOption: "-m crc=1"',
    '    volumeBindingMode: WaitForFirstConsumer',
    '',
  ].join('\n');

describe("drop-in from csi-powerflex's Secret and StorageClass", () => {
  test('rendered, the controller reads the Secret, provisions with the StorageClass unchanged; the nodes get the same backend without it', async () => {
    const r = render(dropInValues(pool.url));
    expect(r.stderr).toBe('');
    const config = r.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'ferry-config')?.data?.['ferry.yaml'] ?? '';
    const nodeConfig = r.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'ferry-node-config')?.data?.['ferry.yaml'] ?? '';
    expect(parseConfig(config, 'ferry-config').csiPowerflexArrays).toEqual({ file: '/etc/ferry/csi-powerflex/config', storagePool: 'pool1' });
    // The Secret goes to the controllers (CSI and failover), never to the nodes.
    for (const o of r.objects.filter((x) => x.kind === 'Deployment' || x.kind === 'DaemonSet')) {
      const mounted = JSON.stringify(o.spec?.template?.spec.volumes ?? []).includes('"name":"vxflexos-config","items":[{"key":"config","path":"csi-powerflex/config"}]');
      expect([o.metadata.name, mounted]).toEqual([o.metadata.name, o.kind === 'Deployment']);
    }
    expect(nodeConfig).not.toContain('vxflexos-config');

    // csi-powerflex's Secret, as its samples/secret/secret.yaml writes it, where the pod would see it.
    const secretFile = path.join(tmp, 'config');
    writeFileSync(
      secretFile,
      `- username: "${pool.username}"\n  password: "${pool.password}"\n  systemID: "${SYSTEM_ID.toUpperCase()}"\n  allSystemNames: "pflex-1"\n  endpoint: "${pool.url}"\n  skipCertificateValidation: true\n  isDefault: true\n  mdm: "10.0.0.1"\n`,
    );
    const configFile = path.join(tmp, 'ferry.yaml');
    writeFileSync(configFile, config.replace('/etc/ferry/csi-powerflex/config', secretFile));
    const controllerBackends = (await loadConfig(configFile)).backends.map((b) => [b.name, b.type, b.type === 'powerflex' ? b.systemId : '']);
    const nodeBackends = parseConfig(nodeConfig, 'ferry-node-config').backends.map((b) => [b.name, b.type, b.type === 'powerflex' ? b.systemId : '']);
    expect(controllerBackends).toEqual([[SYSTEM_ID, 'powerflex', SYSTEM_ID]]);
    expect(nodeBackends).toEqual(controllerBackends);

    const driver = await startDriver(['--mode', 'controller', '--config', configFile, '--log-level', 'info']);
    const clients = csiClients(driver.socket);
    try {
      expect(driver.output()).not.toContain(pool.password);
      expect((await call(clients.identity, 'Probe', {})).ready?.value).toBe(true);
      const sc = r.objects.find((o) => o.kind === 'StorageClass');
      expect(sc?.provisioner).toBe('ferry.csi.io');
      const created = await call(clients.controller, 'CreateVolume', {
        name: 'pvc-dropin',
        capacity_range: { required_bytes: String(8n * 1024n ** 3n) },
        volume_capabilities: [{ mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } }],
        parameters: sc?.parameters ?? {},
      });
      expect(created.volume?.volume_context).toMatchObject({ backend: SYSTEM_ID, fsType: 'xfs', mkfsOptions: '-m crc=1' });
      await call(clients.controller, 'DeleteVolume', { volume_id: created.volume?.volume_id ?? '' });
    } finally {
      clients.close();
      expect(await driver.stop()).toBe(0);
    }
  }, 120_000);

  test.each([
    ['no arrays for the nodes', 'csiPowerflex:\n  secret: vxflexos-config\n  storagePool: pool1\n', 'csiPowerflex.arrays must list'],
    ['no storage pool', 'csiPowerflex:\n  secret: vxflexos-config\n  arrays: [{systemID: 5e6f00a1b2c3d4e5, endpoint: "https://gw"}]\n', 'csiPowerflex.storagePool is required'],
    ['a system name where the nodes need an id', 'csiPowerflex:\n  secret: s\n  storagePool: p\n  arrays: [{systemID: pflex-1, endpoint: "https://gw"}]\n', 'systemID'],
  ])('%s is refused at template time', (_what, values, message) => {
    const r = render(values);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(message);
  });
});
