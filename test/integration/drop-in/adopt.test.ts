import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { parse } from 'yaml';
import { exec } from '../../../src/util/exec.js';
import { call, csiClients, type CsiClients } from '../../helpers/csi-client.js';
import { runCli, startDriver, type DriverProcess } from '../../helpers/driver-process.js';
import { cleanupAllPools, startPool, type PoolProcess } from '../../helpers/pool.js';
import { startControlPlane } from '../../helpers/kube-control-plane.js';
import { grpcError, sha256File, unmountAllUnder, writeRandomFile } from '../../helpers/block-cluster.js';

/**
 * Issue 15, point 5, through the real CLI, driver and pool: a volume made the way csi-powerflex makes one (named by
 * its provisioner's `--volume-name-prefix=k8s --volume-name-uuid-length=10`, handle `<systemID>-<volumeID>`),
 * formatted and written on a host, then `ferry adopt` → a static PV whose handle Ferry's ControllerPublish and
 * NodeStage serve, and the data written before reads back. The driver runs from csi-powerflex's own array Secret
 * (csiPowerflexArrays), and its StorageClass keys (storagepool, systemID, mkfsFormatOption) provision unchanged.
 */
const SYSTEM_ID = '7a3f00c2d1e4b5a6';
const NODE_GUID = '3C1F0E2A-9B8D-4C7E-A6F5-0D1E2F3A4B5C';
const GiB = 1024n ** 3n;

interface PvManifest {
  metadata: { name: string; annotations: Record<string, string> };
  spec: {
    capacity: { storage: string };
    accessModes: string[];
    volumeMode: string;
    storageClassName: string;
    persistentVolumeReclaimPolicy: string;
    claimRef: { namespace: string; name: string; uid: string };
    csi: { driver: string; volumeHandle: string; fsType: string; volumeAttributes: Record<string, string> };
    nodeAffinity: { required: { nodeSelectorTerms: { matchExpressions: { key: string; operator: string; values: string[] }[] }[] } };
  };
}

let pool: PoolProcess;
let work: string;
let driver: DriverProcess | undefined;
let clients: CsiClients | undefined;

beforeAll(async () => {
  pool = await startPool({ systemId: SYSTEM_ID, hosts: [{ name: 'node01', guid: NODE_GUID }] });
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-adopt-'));
});

afterAll(async () => {
  clients?.close();
  if (driver) await driver.stop();
  if (work) {
    await unmountAllUnder(work);
    await rm(work, { recursive: true, force: true });
  }
  await cleanupAllPools();
});

/** A volume as csi-powerflex creates, maps, formats and fills one (through the gateway API and the host's device). */
async function csiPowerflexVolume(name: string): Promise<{ volumeId: string; sum: string }> {
  const pools = await pool.api<{ id: string; name: string }[]>('GET', '/api/types/StoragePool/instances');
  const storagePoolId = pools.body.find((p) => p.name === 'pool1')?.id ?? '';
  const created = await pool.api<{ id: string }>('POST', '/api/types/Volume/instances', { name, volumeSizeInKb: String(8n * GiB / 1024n), storagePoolId, volumeType: 'ThinProvisioned' });
  expect(created.status).toBe(200);
  const volumeId = created.body.id;
  const sdcs = await pool.api<{ id: string; sdcGuid: string }[]>('GET', `/api/instances/System::${SYSTEM_ID}/relationships/Sdc`);
  const sdcId = sdcs.body.find((s) => s.sdcGuid.toUpperCase() === NODE_GUID)?.id ?? '';
  expect((await pool.api('POST', `/api/instances/Volume::${volumeId}/action/addMappedSdc`, { sdcId, allowMultipleMappings: 'FALSE' })).status).toBe(200);
  const device = path.join(pool.dataDir, 'hosts', NODE_GUID, 'by-id', `emc-vol-${SYSTEM_ID}-${volumeId}`);
  const mnt = path.join(work, 'old-driver-mount');
  await exec('mkdir', ['-p', mnt]);
  await exec('mkfs.ext4', ['-q', '-E', 'lazy_itable_init=1,lazy_journal_init=1', device], { timeoutMs: 120_000 });
  await exec('mount', [device, mnt]);
  let sum: string;
  try {
    sum = await writeRandomFile(path.join(mnt, 'data.bin'), 8 * 1024 * 1024);
    await writeFile(path.join(mnt, 'written-by.txt'), 'csi-powerflex\n');
  } finally {
    await exec('umount', [mnt]);
  }
  expect((await pool.api('POST', `/api/instances/Volume::${volumeId}/action/removeMappedSdc`, { sdcId })).status).toBe(200);
  return { volumeId, sum };
}

/** csi-powerflex's PV for that volume, as `kubectl get pv -o yaml` shows it (a List). */
function oldPvList(name: string, volumeId: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': 'csi-vxflexos.dellemc.com' } },
        spec: {
          accessModes: ['ReadWriteOnce'],
          capacity: { storage: '8Gi' },
          claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: 'shop', name: 'orders-db', uid: '0d5c3f3e-1111-4222-8333-944445555666', resourceVersion: '4242' },
          csi: {
            driver: 'csi-vxflexos.dellemc.com',
            fsType: 'ext4',
            volumeHandle: `${SYSTEM_ID}-${volumeId}`,
            volumeAttributes: { CreationTime: '1700000000', Name: name, StoragePoolName: 'pool1', StorageSystem: SYSTEM_ID, 'storage.kubernetes.io/csiProvisionerIdentity': '1700000000-csi-vxflexos.dellemc.com' },
          },
          persistentVolumeReclaimPolicy: 'Retain',
          storageClassName: 'vxflexos',
          volumeMode: 'Filesystem',
        },
      },
      // Another driver's PV in the same list: left alone.
      { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pvc-other' }, spec: { csi: { driver: 'other.csi.io', volumeHandle: 'x' } } },
    ],
  });
}

/** Ferry's configuration: its own keys only name csi-powerflex's Secret, as the chart mounts it. */
async function configFiles(): Promise<string> {
  const secret = path.join(work, 'vxflexos-config');
  await writeFile(
    secret,
    [
      `- username: "${pool.username}"`,
      `  password: "${pool.password}"`,
      `  systemID: "${SYSTEM_ID.toUpperCase()}"`,
      `  endpoint: "${pool.url}"`,
      '  skipCertificateValidation: true',
      '  isDefault: true',
      '  mdm: "10.0.0.1,10.0.0.2"',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const config = path.join(work, 'ferry.yaml');
  await writeFile(
    config,
    [
      'csiPowerflexArrays:',
      `  file: ${secret}`,
      '  storagePool: pool1',
      'node:',
      `  sdcGuid: ${NODE_GUID}`,
      `  deviceDir: ${path.join(pool.dataDir, 'hosts', NODE_GUID, 'by-id')}`,
      `  stateDir: ${path.join(work, 'node-state')}`,
      '  deviceWaitSeconds: 10',
      // The test's staging and publish paths lie in its own work directory, not under /var/lib/kubelet.
      '  kubeletRoots:',
      `    - ${work}`,
      '',
    ].join('\n'),
  );
  return config;
}

async function manifestsIn(dir: string): Promise<PvManifest[]> {
  const files = (await readdir(dir)).sort();
  return Promise.all(files.map(async (f) => parse(await readFile(path.join(dir, f), 'utf8')) as PvManifest));
}

describe('ferry adopt and drop-in configuration', () => {
  it("adopts a csi-powerflex volume; Ferry's publish and stage serve its handle and the data reads back", async () => {
    const name = 'k8s-4f9a2c7e1b';
    const { volumeId, sum } = await csiPowerflexVolume(name);
    const config = await configFiles();
    const pvs = path.join(work, 'old-pvs.json');
    await writeFile(pvs, oldPvList(name, volumeId));

    const out = path.join(work, 'adopted');
    const first = await runCli(['adopt', '--config', config, '--pvs', pvs, '--out', out, '--storage-class', 'ferry-block'], {}, 60_000);
    expect(first).toMatchObject({ code: 0 });
    expect(first.output).not.toContain(pool.password);
    const [pv, ...others] = await manifestsIn(out);
    expect(others).toEqual([]);
    if (!pv) throw new Error('no manifest');
    const handle = `${SYSTEM_ID}:${SYSTEM_ID}-${volumeId}`;
    expect(pv.metadata.name).toBe(name);
    expect(pv.metadata.annotations['ferry.csi.io/adopted-from']).toBe(`csi-vxflexos.dellemc.com ${SYSTEM_ID}-${volumeId} (gateway name ${name})`);
    expect(pv.spec).toMatchObject({
      capacity: { storage: '8Gi' },
      accessModes: ['ReadWriteOnce'],
      volumeMode: 'Filesystem',
      storageClassName: 'ferry-block',
      persistentVolumeReclaimPolicy: 'Retain',
      claimRef: { namespace: 'shop', name: 'orders-db', uid: '0d5c3f3e-1111-4222-8333-944445555666' },
      csi: { driver: 'ferry.csi.io', volumeHandle: handle, fsType: 'ext4', volumeAttributes: { backend: SYSTEM_ID, fsType: 'ext4' } },
    });
    expect(pv.spec.nodeAffinity.required.nodeSelectorTerms[0]?.matchExpressions).toEqual([{ key: `ferry.csi.io/powerflex-${SYSTEM_ID}`, operator: 'In', values: ['true'] }]);

    // Idempotent: the volume already carries Ferry's name; the same manifest again.
    const again = path.join(work, 'adopted-again');
    expect(await runCli(['adopt', '--config', config, '--pvs', pvs, '--out', again, '--storage-class', 'ferry-block'], {}, 60_000)).toMatchObject({ code: 0 });
    const [pv2] = await manifestsIn(again);
    expect(pv2?.spec).toEqual(pv.spec);

    // The driver, configured from csi-powerflex's Secret alone, serves the handle.
    driver = await startDriver(['--mode', 'all', '--config', config, '--log-level', 'info']);
    expect(driver.output()).not.toContain(pool.password);
    clients = csiClients(driver.socket);
    const capability = { mount: { fs_type: 'ext4', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };
    const got = await call(clients.controller, 'ControllerGetVolume', { volume_id: handle });
    expect(got.volume?.capacity_bytes).toBe(String(8n * GiB));
    const published = await call(clients.controller, 'ControllerPublishVolume', { volume_id: handle, node_id: NODE_GUID, volume_capability: capability, volume_context: pv.spec.csi.volumeAttributes });
    const staging = path.join(work, 'staging');
    const target = path.join(work, 'target');
    await call(clients.node, 'NodeStageVolume', { volume_id: handle, staging_target_path: staging, volume_capability: capability, publish_context: published.publish_context, volume_context: pv.spec.csi.volumeAttributes });
    await call(clients.node, 'NodePublishVolume', { volume_id: handle, staging_target_path: staging, target_path: target, volume_capability: capability, publish_context: published.publish_context, volume_context: pv.spec.csi.volumeAttributes });
    try {
      expect(await sha256File(path.join(target, 'data.bin'))).toBe(sum);
      expect(await readFile(path.join(target, 'written-by.txt'), 'utf8')).toBe('csi-powerflex\n');
    } finally {
      await call(clients.node, 'NodeUnpublishVolume', { volume_id: handle, target_path: target });
      await call(clients.node, 'NodeUnstageVolume', { volume_id: handle, staging_target_path: staging });
      await call(clients.controller, 'ControllerUnpublishVolume', { volume_id: handle, node_id: NODE_GUID });
    }

    // csi-powerflex's StorageClass parameters, unchanged, provision through the same driver.
    const scParameters = { storagepool: 'pool1', systemID: SYSTEM_ID.toUpperCase(), 'csi.storage.k8s.io/fstype': 'ext4', mkfsFormatOption: '-m 1' };
    const made = await call(clients.controller, 'CreateVolume', {
      name: 'pvc-after-the-switch',
      capacity_range: { required_bytes: String(8n * GiB) },
      volume_capabilities: [capability],
      parameters: scParameters,
    });
    expect(made.volume?.volume_id).toMatch(new RegExp(`^${SYSTEM_ID}:${SYSTEM_ID}-[0-9a-f]{16}$`));
    expect(made.volume?.volume_context).toMatchObject({ backend: SYSTEM_ID, fsType: 'ext4', mkfsOptions: '-m 1' });
    const otherSystem = await grpcError(
      call(clients.controller, 'CreateVolume', { name: 'pvc-wrong-system', capacity_range: { required_bytes: String(8n * GiB) }, volume_capabilities: [capability], parameters: { ...scParameters, systemID: 'ffffffffffffffff' } }),
    );
    expect(otherSystem.code).toBe(status.INVALID_ARGUMENT);
    await call(clients.controller, 'DeleteVolume', { volume_id: made.volume?.volume_id ?? '' });

    // The adopted volume is Ferry's now: it deletes like any other.
    await call(clients.controller, 'DeleteVolume', { volume_id: handle });
    expect((await grpcError(call(clients.controller, 'ControllerGetVolume', { volume_id: handle }))).code).toBe(status.NOT_FOUND);
  }, 180_000);

  it('--apply creates the PV in a real API server (kubectl), with the manifests on standard output', async () => {
    const name = 'k8s-8d1e5b3a07';
    const { volumeId } = await csiPowerflexVolume(name);
    const pvs = path.join(work, 'old-pvs-apply.json');
    await writeFile(pvs, oldPvList(name, volumeId));
    const apiServer = await startControlPlane();
    try {
      const r = await runCli(['adopt', '--config', await configFiles(), '--pvs', pvs, '--apply', '--kubeconfig', apiServer.kubeconfig], {}, 60_000);
      expect(r).toMatchObject({ code: 0 });
      expect(r.output).toContain(`volumeHandle: ${SYSTEM_ID}:${SYSTEM_ID}-${volumeId}`);
      const { stdout } = await exec('kubectl', ['--kubeconfig', apiServer.kubeconfig, 'get', 'pv', name, '-o', 'json'], { timeoutMs: 30_000 });
      const created = JSON.parse(stdout) as PvManifest;
      expect(created.spec.csi).toMatchObject({ driver: 'ferry.csi.io', volumeHandle: `${SYSTEM_ID}:${SYSTEM_ID}-${volumeId}`, fsType: 'ext4' });
      expect(created.spec.claimRef).toMatchObject({ namespace: 'shop', name: 'orders-db' });
      expect(created.spec.storageClassName).toBe('vxflexos');
    } finally {
      await apiServer.stop();
    }
  }, 180_000);

  it('refuses input it cannot adopt, and says why', async () => {
    const config = path.join(work, 'ferry.yaml');
    const bad = path.join(work, 'bad-pvs.yaml');
    await writeFile(bad, 'apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: k8s-0000000000}\nspec: {csi: {driver: csi-vxflexos.dellemc.com, volumeHandle: not-a-handle}}\n');
    const r1 = await runCli(['adopt', '--config', config, '--pvs', bad, '--out', path.join(work, 'none')], {}, 60_000);
    expect(r1.code).not.toBe(0);
    expect(r1.output).toContain('volume handle "not-a-handle" is not <systemID>-<volumeID>');
    await writeFile(bad, `apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: k8s-0000000001}\nspec: {csi: {driver: csi-vxflexos.dellemc.com, volumeHandle: ffffffffffffffff-0123456789abcdef}}\n`);
    const r2 = await runCli(['adopt', '--config', config, '--pvs', bad, '--out', path.join(work, 'none')], {}, 60_000);
    expect(r2.output).toContain('no configured backend serves system ffffffffffffffff');
    await writeFile(bad, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
    const r3 = await runCli(['adopt', '--config', config, '--pvs', bad], {}, 60_000);
    expect(r3.output).toContain('not a PersistentVolume');
    await expect(readdir(path.join(work, 'none'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
