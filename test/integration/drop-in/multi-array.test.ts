import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { call, csiClients } from '../../helpers/csi-client.js';
import { startDriver } from '../../helpers/driver-process.js';
import { cleanupAllPools, startPool, type PoolProcess } from '../../helpers/pool.js';
import { grpcError } from '../../helpers/block-cluster.js';

/**
 * Issue 15, point 5: csi-powerflex's Secret with two arrays (two real `ferry pool`s), the second the default. Its
 * StorageClasses pick the array by `systemID`, and so do Ferry's backends made from them: no `backend` key needed.
 */
const A = '0a0a0a0a0a0a0a0a';
const B = '0b0b0b0b0b0b0b0b';
const GiB = 1024n ** 3n;
const capability = { mount: { fs_type: 'ext4', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };

let pools: PoolProcess[];
let work: string;

beforeAll(async () => {
  pools = [await startPool({ systemId: A }), await startPool({ systemId: B })];
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-arrays-'));
});

afterAll(async () => {
  await cleanupAllPools();
  await rm(work, { recursive: true, force: true });
});

test("a StorageClass's systemID picks the array; none picks the default; one that is no array's is refused", async () => {
  const [a, b] = pools;
  if (!a || !b) throw new Error('pools');
  const entry = (p: PoolProcess, id: string, isDefault: boolean): string =>
    `- username: "${p.username}"\n  password: "${p.password}"\n  systemID: "${id}"\n  endpoint: "${p.url}"\n  skipCertificateValidation: true\n  isDefault: ${isDefault}\n`;
  const secret = path.join(work, 'config');
  await writeFile(secret, entry(a, A, false) + entry(b, B.toUpperCase(), true));
  const config = path.join(work, 'ferry.yaml');
  await writeFile(config, `csiPowerflexArrays:\n  file: ${secret}\n  storagePool: pool1\n`);
  const driver = await startDriver(['--mode', 'controller', '--config', config, '--log-level', 'info']);
  const clients = csiClients(driver.socket);
  try {
    const create = (name: string, parameters: Record<string, string>) =>
      call(clients.controller, 'CreateVolume', { name, capacity_range: { required_bytes: String(8n * GiB) }, volume_capabilities: [capability], parameters });
    const onA = await create('pvc-on-a', { storagepool: 'pool1', systemID: A.toUpperCase() });
    expect(onA.volume?.volume_id).toMatch(new RegExp(`^${A}:${A}-[0-9a-f]{16}$`));
    const byDefault = await create('pvc-default', { storagepool: 'pool1' });
    expect(byDefault.volume?.volume_id).toMatch(new RegExp(`^${B}:${B}-[0-9a-f]{16}$`));
    const onB = await create('pvc-on-b', { storagepool: 'pool1', systemID: B });
    expect(onB.volume?.volume_id).toMatch(new RegExp(`^${B}:`));
    // The volumes really are on the pools the ids name.
    expect((await a.api<{ name: string }[]>('GET', '/api/types/Volume/instances')).body).toHaveLength(1);
    expect((await b.api<{ name: string }[]>('GET', '/api/types/Volume/instances')).body).toHaveLength(2);
    expect((await grpcError(create('pvc-nowhere', { storagepool: 'pool1', systemID: 'ffffffffffffffff' }))).code).toBe(status.INVALID_ARGUMENT);
    // An explicit backend that is not the named system's is refused, not silently moved.
    expect((await grpcError(create('pvc-mixed', { backend: B, systemID: A }))).code).toBe(status.INVALID_ARGUMENT);
    for (const v of [onA, byDefault, onB]) await call(clients.controller, 'DeleteVolume', { volume_id: v.volume?.volume_id ?? '' });
  } finally {
    clients.close();
    expect(await driver.stop()).toBe(0);
  }
});
