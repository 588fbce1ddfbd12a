import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ErrorBody, StoragePool, StoragePoolStatistics, System, Volume } from '../../../src/pool/wire.js';
import { cleanupAllPools, startPool, type PoolProcess } from '../../helpers/pool.js';

/** The gateway API over real HTTP: sessions, discovery, volume lifecycle, error codes and accounting. */
const GiB_IN_KB = 1024 * 1024;

let pool: PoolProcess;
let poolId: string;
let systemId: string;

beforeAll(async () => {
  pool = await startPool({ capacity: '200Gi', hosts: [{ name: 'node1', guid: 'aaaa-0001' }], env: { FERRY_POOL_SYSTEM_NAME: 'ferry-system' } });
  systemId = (await pool.api<System[]>('GET', '/api/types/System/instances')).body[0]?.id ?? '';
  poolId = (await pool.api<StoragePool[]>('GET', '/api/types/StoragePool/instances')).body[0]?.id ?? '';
}, 60_000);

afterAll(cleanupAllPools, 60_000);

async function createVolume(body: Record<string, unknown>): Promise<{ status: number; body: { id: string } & ErrorBody }> {
  return pool.api('POST', '/api/types/Volume/instances', { storagePoolId: poolId, ...body });
}

describe('sessions', () => {
  it('answers the version as a quoted string without credentials', async () => {
    const answer = await pool.request('GET', '/api/version', { auth: 'none' });
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('"3.6"');
  });

  it('logs in with Basic user:password and answers a bare JSON string token', async () => {
    const answer = await pool.request('GET', '/api/login', { auth: 'admin' });
    expect(answer.status).toBe(200);
    expect(answer.text).toMatch(/^"[A-Za-z0-9+/=]+"$/);
  });

  it('refuses a wrong password with the gateway 401 body', async () => {
    const answer = await pool.request('GET', '/api/login', { auth: { user: 'admin', password: 'wrong' } });
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ message: 'Unauthorized', httpStatusCode: 401, errorCode: 0 });
  });

  it('accepts the token as the Basic password with any user name, and as a Bearer token', async () => {
    const token = await pool.login();
    const withEmptyUser = await pool.request('GET', '/api/types/System/instances', { auth: { user: '', password: token } });
    expect(withEmptyUser.status).toBe(200);
    const bearer = await pool.request('GET', '/api/types/System/instances', { auth: { bearer: token } });
    expect(bearer.status).toBe(200);
  });

  it('refuses API calls with the password instead of a token, and after logout', async () => {
    expect((await pool.request('GET', '/api/types/System/instances', { auth: 'admin' })).status).toBe(401);
    const token = await pool.login();
    expect((await pool.request('GET', '/api/logout', { auth: { token } })).status).toBe(200);
    expect((await pool.request('GET', '/api/types/System/instances', { auth: { token } })).status).toBe(401);
  });

  it('answers an unknown path with 404', async () => {
    const answer = await pool.api<ErrorBody>('GET', '/api/types/Nothing/instances');
    expect(answer.status).toBe(404);
    expect(answer.body.httpStatusCode).toBe(404);
  });
});

describe('discovery', () => {
  it('lists the system, protection domain, pool and SDC with self links that work', async () => {
    const systems = await pool.api<System[]>('GET', '/api/types/System/instances');
    expect(systems.body).toHaveLength(1);
    const system = systems.body[0];
    expect(system?.id).toMatch(/^[0-9a-f]{16}$/);
    for (const link of system?.links ?? []) {
      expect((await pool.api('GET', link.href)).status).toBe(200);
    }
    const pds = await pool.api<{ id: string; name: string }[]>('GET', `/api/instances/System::${systemId}/relationships/ProtectionDomain`);
    expect(pds.body.map((p) => p.name)).toEqual(['pd1']);
    const pdId = await pool.api('POST', '/api/types/ProtectionDomain/instances/action/queryIdByKey', { name: 'pd1' });
    expect(pdId.body).toBe(pds.body[0]?.id);
    const missingPd = await pool.api<ErrorBody>('POST', '/api/types/ProtectionDomain/instances/action/queryIdByKey', { name: 'nope' });
    expect(missingPd.body).toEqual({ message: 'Could not find Protection Domain', httpStatusCode: 500, errorCode: 142 });
    const pools = await pool.api<StoragePool[]>('GET', `/api/instances/ProtectionDomain::${pdId.body as string}/relationships/StoragePool`);
    expect(pools.body.map((p) => [p.id, p.name])).toEqual([[poolId, 'pool1']]);
    const sdcs = await pool.api<{ sdcGuid: string; mdmConnectionState: string; systemId: string }[]>(
      'GET',
      `/api/instances/System::${systemId}/relationships/Sdc`,
    );
    expect(sdcs.body).toEqual([expect.objectContaining({ sdcGuid: 'AAAA-0001', mdmConnectionState: 'Connected', systemId })]);
  });

  it('names the system with --system-name (FERRY_POOL_SYSTEM_NAME)', async () => {
    const systems = await pool.api<System[]>('GET', '/api/types/System/instances');
    expect(systems.body.map((s) => [s.id, s.name])).toEqual([[systemId, 'ferry-system']]);
    expect((await pool.api<System>('GET', `/api/instances/System::${systemId}`)).body.name).toBe('ferry-system');
  });

  it('answers the older lookups by name: Domain and Pool getByName::, once or twice %-encoded', async () => {
    const pdId = (await pool.api<string>('POST', '/api/types/ProtectionDomain/instances/action/queryIdByKey', { name: 'pd1' })).body;
    const domain = await pool.api('GET', '/api/types/Domain/instances/getByName::pd1');
    expect([domain.status, domain.text]).toEqual([200, JSON.stringify(pdId)]);
    expect((await pool.api('GET', `/api/types/Pool/instances/getByName::${pdId},pool1`)).body).toBe(poolId);
    // OpenStack's driver quotes twice: "pool1" has nothing to encode, a comma has (%2C, then %252C).
    expect((await pool.api('GET', `/api/types/Pool/instances/getByName::${pdId}%252Cpool1`)).body).toBe(poolId);
    expect((await pool.api<ErrorBody>('GET', '/api/types/Domain/instances/getByName::nope')).body).toEqual({
      message: 'Could not find Protection Domain',
      httpStatusCode: 500,
      errorCode: 142,
    });
    expect((await pool.api<ErrorBody>('GET', `/api/types/Pool/instances/getByName::${pdId},nope`)).body).toEqual({
      message: 'Not found',
      httpStatusCode: 500,
      errorCode: 3,
    });
    expect((await pool.api<ErrorBody>('GET', '/api/types/Pool/instances/getByName::0123456789abcdef,pool1')).body.errorCode).toBe(3);
  });

  it('answers the System querySelectedStatistics flat, with the object counts', async () => {
    const answer = await pool.api<Record<string, number>>('POST', '/api/types/System/instances/action/querySelectedStatistics', {
      ids: [],
      properties: ['capacityLimitInKb', 'numOfSdc', 'numOfStoragePools', 'numOfProtectionDomains'],
    });
    expect(answer.body).toEqual({ capacityLimitInKb: 200 * GiB_IN_KB, numOfSdc: 1, numOfStoragePools: 1, numOfProtectionDomains: 1 });
    const unknown = await pool.api<ErrorBody>('POST', '/api/types/System/instances/action/querySelectedStatistics', { properties: ['nothing'] });
    expect([unknown.status, unknown.body.errorCode]).toEqual([400, 0]);
  });

  it('answers Sdc queryBySelectedIds with the SDC objects, and 80 for an unknown id', async () => {
    const sdcs = (await pool.api<{ id: string; sdcGuid: string }[]>('GET', '/api/types/Sdc/instances')).body;
    const selected = await pool.api<{ id: string; sdcGuid: string }[]>('POST', '/api/types/Sdc/instances/action/queryBySelectedIds', {
      ids: sdcs.map((s) => s.id),
    });
    expect(selected.body.map((s) => [s.id, s.sdcGuid])).toEqual(sdcs.map((s) => [s.id, 'AAAA-0001']));
    const unknown = await pool.api<ErrorBody>('POST', '/api/types/Sdc/instances/action/queryBySelectedIds', { ids: ['0123456789abcdef'] });
    expect(unknown.body).toEqual({ message: 'Could not find the SDC', httpStatusCode: 500, errorCode: 80 });
  });

  it('reports the largest volume through querySystemLimits', async () => {
    const answer = await pool.api<{ systemLimitEntryList: { type: string; maxVal: string }[] }>(
      'POST',
      '/api/instances/System/action/querySystemLimits',
      {},
    );
    expect(answer.body.systemLimitEntryList).toContainEqual(expect.objectContaining({ type: 'volumeSizeGb', maxVal: expect.stringMatching(/^\d+$/) }));
  });
});

describe('volumes', () => {
  it('rounds 10 GiB up to 16 GiB', async () => {
    const created = await createVolume({ name: 'ten-gib', volumeSizeInKb: String(10 * GiB_IN_KB) });
    expect(created.status).toBe(200);
    expect(created.body.id).toMatch(/^[0-9a-f]{16}$/);
    const volume = await pool.api<Volume>('GET', `/api/instances/Volume::${created.body.id}`);
    expect(volume.body).toMatchObject({
      id: created.body.id,
      name: 'ten-gib',
      sizeInKb: 16 * GiB_IN_KB,
      storagePoolId: poolId,
      volumeType: 'ThinProvisioned',
      ancestorVolumeId: null,
      mappedSdcInfo: null,
    });
    expect(volume.body.links).toContainEqual({ rel: 'self', href: `/api/instances/Volume::${created.body.id}` });
  });

  it('accepts volumeSizeInGb and numbers as well as strings', async () => {
    const created = await createVolume({ name: 'by-gb', volumeSizeInGb: 1 });
    const volume = await pool.api<Volume>('GET', `/api/instances/Volume::${created.body.id}`);
    expect(volume.body.sizeInKb).toBe(8 * GiB_IN_KB);
  });

  it('refuses a 32-character name with 226, and a name in use with 99', async () => {
    const long = await createVolume({ name: 'a'.repeat(32), volumeSizeInKb: '8388608' });
    expect([long.status, long.body.errorCode, long.body.message]).toEqual([500, 226, 'The given name exceeds the allowed length of 31 characters.']);
    expect((await createVolume({ name: 'a'.repeat(31), volumeSizeInKb: '8388608' })).status).toBe(200);
    await createVolume({ name: 'taken', volumeSizeInKb: '8388608' });
    const duplicate = await createVolume({ name: 'taken', volumeSizeInKb: '8388608' });
    expect([duplicate.status, duplicate.body.errorCode, duplicate.body.message]).toEqual([500, 99, 'Volume name already in use. Please use a different name.']);
  });

  it('refuses a missing storagePoolId with 400 errorCode 0', async () => {
    const answer = await pool.api<ErrorBody>('POST', '/api/types/Volume/instances', { name: 'x', volumeSizeInKb: '8388608' });
    expect([answer.status, answer.body.errorCode]).toEqual([400, 0]);
  });

  it('answers 79 for an unknown or a malformed id, and 3 "Not found" for an unknown name', async () => {
    const unknown = await pool.api<ErrorBody>('GET', '/api/instances/Volume::0123456789abcdef');
    // The gateway's text exactly: Dell's CSI driver compares it to "Could not find the volume".
    expect(unknown.body).toEqual({ message: 'Could not find the volume', httpStatusCode: 500, errorCode: 79 });
    const malformed = await pool.api<ErrorBody>('GET', '/api/instances/Volume::not-hex');
    expect([malformed.status, malformed.body.errorCode]).toEqual([500, 79]);
    expect(malformed.body.message).toMatch(/must be a hexadecimal number/);
    const byName = await pool.api<ErrorBody>('POST', '/api/types/Volume/instances/action/queryIdByKey', { name: 'no-such-volume' });
    expect(byName.body).toEqual({ message: 'Not found', httpStatusCode: 500, errorCode: 3 });
  });

  it('finds a volume by name, renames it, grows it and refuses to shrink it', async () => {
    const { body } = await createVolume({ name: 'grow-me', volumeSizeInKb: '8388608' });
    expect((await pool.api('POST', '/api/types/Volume/instances/action/queryIdByKey', { name: 'grow-me' })).body).toBe(body.id);
    const renamed = await pool.api('POST', `/api/instances/Volume::${body.id}/action/setVolumeName`, { newName: 'grown' });
    expect([renamed.status, renamed.text]).toEqual([200, '{}']);
    expect((await pool.api('POST', '/api/types/Volume/instances/action/queryIdByKey', { name: 'grown' })).body).toBe(body.id);
    const grown = await pool.api('POST', `/api/instances/Volume::${body.id}/action/setVolumeSize`, { sizeInGB: '16' });
    expect([grown.status, grown.text]).toEqual([200, '{}']);
    expect((await pool.api<Volume>('GET', `/api/instances/Volume::${body.id}`)).body.sizeInKb).toBe(16 * GiB_IN_KB);
    const shrink = await pool.api<ErrorBody>('POST', `/api/instances/Volume::${body.id}/action/setVolumeSize`, { sizeInGB: '8' });
    expect(shrink.body).toEqual({ message: 'Volume capacity can only be increased', httpStatusCode: 500, errorCode: 133 });
  });

  it('validates removeMode and removes a volume', async () => {
    const { body } = await createVolume({ name: 'remove-me', volumeSizeInKb: '8388608' });
    const bad = await pool.api<ErrorBody>('POST', `/api/instances/Volume::${body.id}/action/removeVolume`, { removeMode: 'EVERYTHING' });
    expect([bad.status, bad.body.errorCode]).toEqual([400, 0]);
    const removed = await pool.api('POST', `/api/instances/Volume::${body.id}/action/removeVolume`, { removeMode: 'ONLY_ME' });
    expect([removed.status, removed.text]).toEqual([200, '{}']);
    expect((await pool.api<ErrorBody>('GET', `/api/instances/Volume::${body.id}`)).body.errorCode).toBe(79);
  });

  it('accounts thin and thick volumes honestly and refuses what does not fit', async () => {
    const statsPath = `/api/instances/StoragePool::${poolId}/relationships/Statistics`;
    const before = (await pool.api<StoragePoolStatistics>('GET', statsPath)).body;
    const thick = await createVolume({ name: 'thick', volumeSizeInKb: '8388608', volumeType: 'ThickProvisioned' });
    expect(thick.status).toBe(200);
    const after = (await pool.api<StoragePoolStatistics>('GET', statsPath)).body;
    expect(after.thickCapacityInUseInKb - before.thickCapacityInUseInKb).toBe(8 * GiB_IN_KB);
    expect(after.capacityInUseInKb - before.capacityInUseInKb).toBe(8 * GiB_IN_KB);
    expect(before.capacityAvailableForVolumeAllocationInKb - after.capacityAvailableForVolumeAllocationInKb).toBe(8 * GiB_IN_KB);
    expect(after.maxCapacityInKb).toBe(200 * GiB_IN_KB);
    // Thin volumes reserve their size for allocation but occupy only what was written.
    expect(after.thinCapacityAllocatedInKb).toBeGreaterThan(0);
    expect(after.thinCapacityInUseInKb).toBeLessThan(after.thinCapacityAllocatedInKb);

    const tooBig = await createVolume({ name: 'too-big', volumeSizeInGb: String(after.capacityAvailableForVolumeAllocationInKb / GiB_IN_KB + 8) });
    expect([tooBig.status, tooBig.body.errorCode]).toEqual([500, 1001]);

    const selected = await pool.api<Record<string, Record<string, number>>>(
      'POST',
      '/api/types/StoragePool/instances/action/querySelectedStatistics',
      { ids: [poolId], properties: ['capacityInUseInKb', 'thickCapacityInUseInKb'] },
    );
    expect(selected.body).toEqual({ [poolId]: { capacityInUseInKb: after.capacityInUseInKb, thickCapacityInUseInKb: after.thickCapacityInUseInKb } });
  });

  it('answers Volume getByName:: and a snapshotVolumes that names no system (older clients)', async () => {
    const { body } = await createVolume({ name: 'old-client', volumeSizeInKb: '8388608' });
    const byName = await pool.api('GET', '/api/types/Volume/instances/getByName::old-client');
    expect([byName.status, byName.text]).toEqual([200, JSON.stringify(body.id)]);
    // A base64 name as OpenStack makes them ("/" and "=" in it), quoted twice in the path.
    await createVolume({ name: 'a/b+c=', volumeSizeInKb: '8388608' });
    const twice = encodeURIComponent(encodeURIComponent('a/b+c='));
    expect((await pool.api('GET', `/api/types/Volume/instances/getByName::${twice}`)).body).toEqual(expect.stringMatching(/^[0-9a-f]{16}$/));
    expect((await pool.api<ErrorBody>('GET', '/api/types/Volume/instances/getByName::nothing-here')).body).toEqual({
      message: 'Not found',
      httpStatusCode: 500,
      errorCode: 3,
    });
    const snap = await pool.api<{ volumeIdList: string[]; snapshotGroupId: string }>('POST', '/api/instances/System/action/snapshotVolumes', {
      snapshotDefs: [{ volumeId: body.id, snapshotName: 'old-client-snap' }],
    });
    expect(snap.status).toBe(200);
    expect(snap.body.volumeIdList).toHaveLength(1);
    const snapshot = await pool.api<Volume>('GET', `/api/instances/Volume::${snap.body.volumeIdList[0] ?? ''}`);
    expect(snapshot.body).toMatchObject({ name: 'old-client-snap', volumeType: 'Snapshot', ancestorVolumeId: body.id });
  });

  it('lists volumes of the pool, snapshots included', async () => {
    const all = await pool.api<Volume[]>('GET', '/api/types/Volume/instances');
    const ofPool = await pool.api<Volume[]>('GET', `/api/instances/StoragePool::${poolId}/relationships/Volume`);
    expect(ofPool.body.map((v) => v.id).sort()).toEqual(all.body.map((v) => v.id).sort());
    expect(all.body.length).toBeGreaterThan(3);
  });
});
