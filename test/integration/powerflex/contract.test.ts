import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { PowerFlexClient } from '../../../src/backends/powerflex/client.js';
import { GatewayError } from '../../../src/backends/powerflex/errors.js';
import type { ResolvedPool } from '../../../src/backends/powerflex/systems.js';
import type { Sdc, System } from '../../../src/backends/powerflex/types.js';
import { GiB, KiB } from '../../../src/util/size.js';
import { Janitor, clientFor, nameGenerator, openTarget, type ContractTarget } from './target.js';

/**
 * The gateway contract: what Ferry's client expects of any PowerFlex gateway. Runs against `ferry pool` in `npm test`
 * and, unchanged, against a real gateway when FERRY_TEST_GATEWAY_URL is set (see target.ts).
 */
// Real gateways answer in hundreds of milliseconds per call; a case makes a dozen.
jest.setTimeout(120_000);

const GiB_IN_KiB = GiB / KiB;

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** Waits for a condition that a real gateway reports with a delay (statistics are refreshed periodically). */
async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() - started > timeoutMs) return value;
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('PowerFlex gateway contract', () => {
  let target: ContractTarget;
  let client: PowerFlexClient;
  let janitor: Janitor;
  let system: System;
  let pool: ResolvedPool;
  let sdc: Sdc;
  const nextName = nameGenerator();

  const create = async (sizeGiB: bigint, provisioning: 'ThinProvisioned' | 'ThickProvisioned' = 'ThinProvisioned', name = nextName()): Promise<string> => {
    const id = await client.volumes.createVolume({ name, sizeKiB: sizeGiB * GiB_IN_KiB, storagePoolId: pool.storagePool.id, provisioning });
    return janitor.track(id);
  };

  beforeAll(async () => {
    target = await openTarget();
    client = clientFor(target);
    janitor = new Janitor(client);
    const systems = await client.systems.listSystems();
    const first = systems[0];
    if (first === undefined) throw new Error('the gateway lists no system');
    system = first;
    pool = await client.systems.resolveStoragePool({
      storagePool: target.storagePool,
      systemId: system.id,
      ...(target.protectionDomain === undefined ? {} : { protectionDomain: target.protectionDomain }),
    });
    const found = await client.sdcs.findSdcByGuid(target.sdcGuid, system.id);
    if (found === undefined) throw new Error(`no SDC with GUID ${target.sdcGuid}`);
    sdc = found;
  }, 120_000);

  afterEach(async () => {
    await janitor.clean();
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await target?.close();
  }, 120_000);

  it('logs in and learns the API version', async () => {
    await client.connect();
    expect(client.apiVersion).toMatch(/^\d+(\.\d+)*$/);
    expect(system.id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('resolves the storage pool by name and by id, and finds the SDC by GUID in any case', async () => {
    const byId = await client.systems.resolveStoragePool({ storagePool: pool.storagePool.id, systemId: system.id });
    expect(byId.storagePool.id).toBe(pool.storagePool.id);
    expect(byId.protectionDomain.id).toBe(pool.protectionDomain.id);
    const byName = await client.systems.resolveStoragePool({ storagePool: pool.storagePool.name, protectionDomain: pool.protectionDomain.name, systemId: system.id });
    expect(byName.storagePool.id).toBe(pool.storagePool.id);
    expect((await failure(client.systems.resolveStoragePool({ storagePool: 'no-such-pool-ferry', systemId: system.id }))).kind).toBe('not-found');
    expect((await client.sdcs.findSdcByGuid(target.sdcGuid.toLowerCase(), system.id))?.id).toBe(sdc.id);
    expect(await client.sdcs.findSdcByGuid('00000000-0000-0000-0000-00000000FFFF', system.id)).toBeUndefined();
    expect((await client.sdcs.getSdc(sdc.id)).sdcGuid.toUpperCase()).toBe(target.sdcGuid.toUpperCase());
  });

  it('reports the largest volume size', async () => {
    const limits = await client.systems.querySystemLimits();
    expect(limits.maxVolumeSizeBytes).toBeDefined();
    expect(limits.maxVolumeSizeBytes ?? 0n).toBeGreaterThanOrEqual(8n * GiB);
  });

  it('creates thin and thick volumes, rounding sizes up to 8 GiB', async () => {
    const thin = await create(10n, 'ThinProvisioned');
    const thick = await create(1n, 'ThickProvisioned');
    const thinVolume = await client.volumes.getVolume(thin);
    expect(thinVolume.sizeKiB).toBe(16n * GiB_IN_KiB);
    expect(thinVolume.volumeType).toBe('ThinProvisioned');
    expect(thinVolume.storagePoolId).toBe(pool.storagePool.id);
    expect(thinVolume.ancestorVolumeId).toBeUndefined();
    expect(thinVolume.mappings).toEqual([]);
    const thickVolume = await client.volumes.getVolume(thick);
    expect(thickVolume.sizeKiB).toBe(8n * GiB_IN_KiB);
    expect(thickVolume.volumeType).toBe('ThickProvisioned');
  });

  it('finds a volume by name, and answers undefined for an unknown name', async () => {
    const name = nextName();
    const id = await create(8n, 'ThinProvisioned', name);
    expect(await client.volumes.queryVolumeIdByName(name)).toBe(id);
    expect(await client.volumes.queryVolumeIdByName(`${name}-x`)).toBeUndefined();
    expect((await client.volumes.getVolume(id)).name).toBe(name);
  });

  it('answers not-found for an unknown or malformed volume id', async () => {
    const unknown = await failure(client.volumes.getVolume('0fedcba987654321'));
    expect(unknown.kind).toBe('not-found');
    expect((await failure(client.volumes.getVolume('not-an-id'))).kind).toBe('not-found');
  });

  it('lists volumes, all and by pool', async () => {
    const id = await create(8n);
    expect((await client.volumes.listVolumes()).map((v) => v.id)).toContain(id);
    expect((await client.volumes.listVolumes(pool.storagePool.id)).map((v) => v.id)).toContain(id);
  });

  it('renames a volume', async () => {
    const id = await create(8n);
    const newName = nextName();
    await client.volumes.renameVolume(id, newName);
    expect((await client.volumes.getVolume(id)).name).toBe(newName);
    expect(await client.volumes.queryVolumeIdByName(newName)).toBe(id);
  });

  it('grows a volume and refuses to shrink it', async () => {
    const id = await create(8n);
    await client.volumes.setVolumeSize(id, 16n);
    expect((await client.volumes.getVolume(id)).sizeKiB).toBe(16n * GiB_IN_KiB);
    const shrink = await failure(client.volumes.setVolumeSize(id, 8n));
    expect(shrink.kind).toBe('failed-precondition');
    expect(shrink.errorCode).toBe(133);
  });

  it('removes a volume', async () => {
    const id = await create(8n);
    await client.volumes.removeVolume(id);
    expect((await failure(client.volumes.getVolume(id))).kind).toBe('not-found');
    expect((await failure(client.volumes.removeVolume(id))).kind).toBe('not-found');
  });

  it('refuses a name over 31 characters as invalid-argument (226)', async () => {
    const err = await failure(create(8n, 'ThinProvisioned', `${nextName()}-${'x'.repeat(32)}`));
    expect(err.kind).toBe('invalid-argument');
    expect(err.errorCode).toBe(226);
  });

  it('refuses a duplicate name as name-in-use (99)', async () => {
    const name = nextName();
    await create(8n, 'ThinProvisioned', name);
    const err = await failure(create(8n, 'ThinProvisioned', name));
    expect(err.kind).toBe('name-in-use');
    expect(err.errorCode).toBe(99);
  });

  it('maps and unmaps, answering 81, 84, 104 and 297 with their kinds', async () => {
    const id = await create(8n);
    await client.mappings.mapVolume(id, { sdcId: sdc.id, allowMultipleMappings: false, accessMode: 'ReadWrite' });
    const mapped = await client.volumes.getVolume(id);
    expect(mapped.mappings.map((m) => m.sdcId)).toEqual([sdc.id]);

    const again = await failure(client.mappings.mapVolume(id, { sdcId: sdc.id, allowMultipleMappings: false }));
    expect(again.kind).toBe('already-mapped');
    expect(again.errorCode).toBe(81);

    const busy = await failure(client.volumes.removeVolume(id));
    expect(busy.kind).toBe('failed-precondition');
    expect(busy.errorCode).toBe(104);

    await client.mappings.setMappedSdcLimits(id, { sdcId: sdc.id, iopsLimit: 1000n, bandwidthLimitKbps: 10240n });
    const limited = (await client.volumes.getVolume(id)).mappings[0];
    expect(limited?.limitIops).toBe(1000);

    const other = await secondSdc();
    if (other !== undefined) {
      const elsewhere = await failure(client.mappings.mapVolume(id, { sdcId: other.id, allowMultipleMappings: false }));
      expect(elsewhere.kind).toBe('mapped-elsewhere');
      expect([297, 306]).toContain(elsewhere.errorCode);
    }

    await client.mappings.unmapVolume(id, { sdcId: sdc.id });
    expect((await client.volumes.getVolume(id)).mappings).toEqual([]);
    const notMapped = await failure(client.mappings.unmapVolume(id, { sdcId: sdc.id }));
    expect(notMapped.kind).toBe('not-mapped');
    expect(notMapped.errorCode).toBe(84);
  });

  it('maps to several SDCs when allowed, and unmaps them all at once', async () => {
    const other = await secondSdc();
    if (other === undefined) return; // one SDC only: nothing to show
    const id = await create(8n);
    await client.mappings.mapVolume(id, { sdcId: sdc.id, allowMultipleMappings: true, accessMode: 'ReadOnly' });
    await client.mappings.mapVolume(id, { sdcId: other.id, allowMultipleMappings: true, accessMode: 'ReadOnly' });
    expect((await client.volumes.getVolume(id)).mappings.map((m) => m.sdcId).sort()).toEqual([sdc.id, other.id].sort());
    await client.mappings.unmapVolume(id, { allSdcs: true });
    expect((await client.volumes.getVolume(id)).mappings).toEqual([]);
  });

  it('snapshots volumes as a group and removes the group', async () => {
    const a = await create(8n);
    const b = await create(8n);
    const result = await client.snapshots.snapshotVolumes(system.id, [
      { volumeId: a, snapshotName: nextName() },
      { volumeId: b, snapshotName: nextName() },
    ]);
    result.volumeIds.forEach((id) => janitor.track(id));
    expect(result.volumeIds).toHaveLength(2);
    expect(result.snapshotGroupId).toMatch(/^[0-9a-f]+$/);
    const [snapA, snapB] = await Promise.all(result.volumeIds.map((id) => client.volumes.getVolume(id)));
    expect(snapA?.volumeType).toBe('Snapshot');
    expect(snapA?.ancestorVolumeId).toBe(a);
    expect(snapB?.ancestorVolumeId).toBe(b);
    expect(snapA?.vtreeId).toBe((await client.volumes.getVolume(a)).vtreeId);
    expect(snapA?.sizeKiB).toBe(8n * GiB_IN_KiB);
    expect(snapA?.accessModeLimit).toBe('ReadOnly');
    expect(snapA?.consistencyGroupId).toBe(result.snapshotGroupId);

    await client.snapshots.removeConsistencyGroupSnapshots(system.id, result.snapshotGroupId);
    for (const id of result.volumeIds) expect((await failure(client.volumes.getVolume(id))).kind).toBe('not-found');
    expect((await client.volumes.getVolume(a)).id).toBe(a);
  });

  it('clones with a ReadWrite snapshot and reverts a volume in place', async () => {
    const source = await create(8n);
    const { volumeIds } = await client.snapshots.snapshotVolumes(system.id, [{ volumeId: source, snapshotName: nextName() }], 'ReadWrite');
    const snapshot = janitor.track(volumeIds[0] ?? '');
    expect((await client.volumes.getVolume(snapshot)).accessModeLimit).toBe('ReadWrite');
    await client.volumes.overwriteVolumeContent(source, snapshot);
    expect((await client.volumes.getVolume(source)).sizeKiB).toBe(8n * GiB_IN_KiB);
  });

  it('reserves a thick volume in the pool statistics', async () => {
    const before = await client.systems.getStoragePoolStatistics(pool.storagePool.id);
    expect(before.maxCapacityKiB).toBeGreaterThan(0n);
    await create(8n, 'ThickProvisioned');
    const after = await eventually(
      () => client.systems.getStoragePoolStatistics(pool.storagePool.id),
      (s) => before.capacityAvailableForVolumeAllocationKiB - s.capacityAvailableForVolumeAllocationKiB >= 8n * GiB_IN_KiB,
    );
    expect(before.capacityAvailableForVolumeAllocationKiB - after.capacityAvailableForVolumeAllocationKiB).toBeGreaterThanOrEqual(8n * GiB_IN_KiB);
    expect(after.thickCapacityInUseKiB).toBeGreaterThan(before.thickCapacityInUseKiB);
  });

  it('reports volume statistics', async () => {
    const id = await create(8n);
    const stats = await client.volumes.getVolumeStatistics(id);
    expect(typeof stats.userDataReadBwc.numOccured).toBe('number');
    expect(typeof stats.userDataWriteBwc.numOccured).toBe('number');
    expect(stats.numOfMappedSdcs).toBe(0);
  });

  /** A second SDC for the mapped-elsewhere cases: the configured one, or any other the system lists. */
  async function secondSdc(): Promise<Sdc | undefined> {
    if (target.secondSdcGuid !== undefined) return client.sdcs.findSdcByGuid(target.secondSdcGuid, system.id);
    return (await client.sdcs.listSdcs(system.id)).find((s) => s.id !== sdc.id);
  }
});
