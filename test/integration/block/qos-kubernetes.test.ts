import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, StorageV1Api } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../../src/kube/client-node-kube-api.js';
import type { Volume as WireVolume } from '../../../src/pool/wire.js';
import { call, csiClients, type CsiClients } from '../../helpers/csi-client.js';
import { startDriver, type DriverProcess } from '../../helpers/driver-process.js';
import { startControlPlane, type ControlPlane } from '../../helpers/kube-control-plane.js';
import { cleanupAllPools, powerFlexBackendYaml, startPool, type PoolProcess } from '../../helpers/pool.js';

/**
 * Issue 15, point 2: the limits a later mapping gets when Kubernetes records the volume's class. The csi-resizer sets a
 * PV's spec.volumeAttributesClassName once ControllerModifyVolume succeeded, but the attacher never passes the class to
 * ControllerPublish, and its leader may run in another controller replica than the resizer's (or in a restarted one,
 * which remembers nothing). So `ferry driver --mode controller` reads the PV's class at ControllerPublish. A real
 * kube-apiserver (v1.36, VolumeAttributesClass GA) and a real `ferry pool`; the test plays the provisioner's and the
 * resizer's parts by writing the PV and the classes.
 */
const DRIVER = 'ferry.csi.io';
const NODE = '0A0B0C0D-3333-4A1B-8C1D-000000000003';
const GiB = 1n << 30n;
const BLOCK = { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };

let cp: ControlPlane;
let pool: PoolProcess;
let driver: DriverProcess;
let c: CsiClients;
let core: CoreV1Api;
let storage: StorageV1Api;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ferry-qos-kube-'));

beforeAll(async () => {
  cp = await startControlPlane();
  pool = await startPool({ hosts: [{ name: 'node1', guid: NODE }] });
  const config = path.join(tmp, 'controller.yaml');
  writeFileSync(config, [...powerFlexBackendYaml(pool), ''].join('\n'));
  driver = await startDriver(['--mode', 'controller', '--config', config, '--kubeconfig', cp.kubeconfig, '--namespace', 'default', '--failover', 'off']);
  c = csiClients(driver.socket);
  const kc = loadKubeConfig(cp.kubeconfig);
  core = kc.makeApiClient(CoreV1Api);
  storage = kc.makeApiClient(StorageV1Api);
  for (const [name, parameters] of [
    ['gold', { bandwidthLimitInKbps: '20480', iopsLimit: '300' }],
    ['iops-only', { iopsLimit: '100' }],
  ] as const) {
    await storage.createVolumeAttributesClass({ body: { metadata: { name }, driverName: DRIVER, parameters } });
  }
  await storage.createVolumeAttributesClass({ body: { metadata: { name: 'not-ours' }, driverName: 'other.csi.io', parameters: { iopsLimit: '999' } } });
}, 300_000);

afterAll(async () => {
  c?.close();
  await driver?.stop();
  await cleanupAllPools();
  await cp?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function limits(volumeId: string): Promise<{ limitBwInMbps: number; limitIops: number }[]> {
  const gatewayId = volumeId.slice(volumeId.lastIndexOf('-') + 1);
  const res = await pool.api<WireVolume>('GET', `/api/instances/Volume::${gatewayId}`);
  return (res.body.mappedSdcInfo ?? []).map((m) => ({ limitBwInMbps: m.limitBwInMbps, limitIops: m.limitIops }));
}

async function setClass(pvName: string, className: string): Promise<void> {
  const pv = await core.readPersistentVolume({ name: pvName });
  if (pv.spec) pv.spec.volumeAttributesClassName = className;
  await core.replacePersistentVolume({ name: pvName, body: pv });
}

async function publishAndRead(volumeId: string, context: Record<string, string>): Promise<{ limitBwInMbps: number; limitIops: number }[]> {
  await call(c.controller, 'ControllerPublishVolume', { volume_id: volumeId, node_id: NODE, volume_capability: BLOCK, volume_context: context });
  const found = await limits(volumeId);
  await call(c.controller, 'ControllerUnpublishVolume', { volume_id: volumeId, node_id: NODE });
  return found;
}

describe('ControllerPublish reads the volume class Kubernetes records', () => {
  it("maps with the PV's VolumeAttributesClass over the volume context; a class that is gone or another driver's does not count", async () => {
    const made = await call(c.controller, 'CreateVolume', {
      name: 'pvc-qos-kube',
      capacity_range: { required_bytes: String(8n * GiB) },
      volume_capabilities: [BLOCK],
      parameters: { bandwidthLimitInKbps: '10240' },
    });
    const volumeId = made.volume?.volume_id ?? '';
    const context = made.volume?.volume_context ?? {};
    expect(context).toMatchObject({ bandwidthLimitInKbps: '10240' });

    // No PV yet (a CO other than Kubernetes, or a static volume): the context's limits.
    expect(await publishAndRead(volumeId, context)).toEqual([{ limitBwInMbps: 10, limitIops: 0 }]);

    // The PV the provisioner would have made, moved to class gold by the resizer after a modify elsewhere.
    await core.createPersistentVolume({
      body: {
        metadata: { name: 'pv-qos-kube' },
        spec: {
          capacity: { storage: '8Gi' },
          accessModes: ['ReadWriteOnce'],
          volumeMode: 'Block',
          csi: { driver: DRIVER, volumeHandle: volumeId, volumeAttributes: context },
          persistentVolumeReclaimPolicy: 'Retain',
          volumeAttributesClassName: 'gold',
        },
      },
    });
    expect(await publishAndRead(volumeId, context)).toEqual([{ limitBwInMbps: 20, limitIops: 300 }]);

    // A class naming one key: that key from the class, the other from the context.
    await setClass('pv-qos-kube', 'iops-only');
    expect(await publishAndRead(volumeId, context)).toEqual([{ limitBwInMbps: 10, limitIops: 100 }]);

    // Another driver's class, or one that was deleted: the context's limits again.
    await setClass('pv-qos-kube', 'not-ours');
    expect(await publishAndRead(volumeId, context)).toEqual([{ limitBwInMbps: 10, limitIops: 0 }]);
    await setClass('pv-qos-kube', 'deleted-class');
    expect(await publishAndRead(volumeId, context)).toEqual([{ limitBwInMbps: 10, limitIops: 0 }]);

    await core.deletePersistentVolume({ name: 'pv-qos-kube' });
    await call(c.controller, 'DeleteVolume', { volume_id: volumeId });
  }, 120_000);
});
