import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ErrorBody, Sdc, StoragePool, Volume } from '../../../src/pool/wire.js';
import { cleanupAllPools, startPool, type PoolProcess } from '../../helpers/pool.js';

/** Token expiry, injected faults, host administration, counters, TLS and environment variables. */
let pool: PoolProcess;

beforeAll(async () => {
  pool = await startPool({ tokenIdleTimeout: '1500ms', hosts: [{ name: 'node1', guid: 'HOST-0001' }] });
}, 60_000);

afterAll(cleanupAllPools, 60_000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('sessions', () => {
  it('expires a token after the idle timeout; use keeps it alive', async () => {
    const token = await pool.login();
    for (let i = 0; i < 3; i += 1) {
      await sleep(700);
      expect((await pool.request('GET', '/api/types/System/instances', { auth: { token } })).status).toBe(200);
    }
    await sleep(1700);
    const expired = await pool.request('GET', '/api/types/System/instances', { auth: { token } });
    expect(expired.status).toBe(401);
    expect(expired.body).toEqual({ message: 'Unauthorized', httpStatusCode: 401, errorCode: 0 });
  });
});

describe('/pool/faults', () => {
  it('needs the administrator password, not a token', async () => {
    const token = await pool.login();
    expect((await pool.request('GET', '/pool/faults', { auth: { token } })).status).toBe(401);
    expect((await pool.request('GET', '/pool/faults', { auth: 'admin' })).status).toBe(200);
  });

  it('adds latency', async () => {
    // Far apart on purpose (a loaded CI machine adds time to any request), yet under this pool's 1.5 s token idle
    // timeout, so the token outlives the delayed request.
    await pool.request('POST', '/pool/faults', { body: { path: '/api/types/System/instances', latencyMs: 1_000 } });
    const started = Date.now();
    expect((await pool.api('GET', '/api/types/System/instances')).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    await pool.request('DELETE', '/pool/faults');
    const again = Date.now();
    await pool.api('GET', '/api/types/System/instances');
    expect(Date.now() - again).toBeLessThan(700);
  });

  it('answers a chosen error for a method and route template, a given number of times', async () => {
    const pools = await pool.api<StoragePool[]>('GET', '/api/types/StoragePool/instances');
    const created = await pool.api<{ id: string }>('POST', '/api/types/Volume/instances', {
      name: 'faulty',
      volumeSizeInGb: '8',
      storagePoolId: pools.body[0]?.id,
    });
    const added = await pool.request<{ fault: { id: string } }>('POST', '/pool/faults', {
      body: { method: 'GET', path: '/api/instances/Volume::{id}', error: { httpStatusCode: 500, errorCode: 65, message: 'injected' }, times: 2 },
    });
    expect(added.status).toBe(201);
    const path = `/api/instances/Volume::${created.body.id}`;
    for (let i = 0; i < 2; i += 1) {
      const failed = await pool.api<ErrorBody>('GET', path);
      expect(failed.status).toBe(500);
      expect(failed.body).toEqual({ message: 'injected', httpStatusCode: 500, errorCode: 65 });
    }
    expect((await pool.api<Volume>('GET', path)).body.name).toBe('faulty');
    expect((await pool.request<unknown[]>('GET', '/pool/faults')).body).toEqual([]);
  });

  it('drops connections', async () => {
    await pool.request('POST', '/pool/faults', { body: { path: '/api/types/Sdc/*', drop: true } });
    await expect(pool.api('GET', '/api/types/Sdc/instances')).rejects.toThrow(/socket hang up|ECONNRESET/);
    // Other paths are untouched, and /pool is never faulted.
    expect((await pool.api('GET', '/api/types/System/instances')).status).toBe(200);
    expect((await pool.request<{ cleared: number }>('DELETE', '/pool/faults')).body).toEqual({ cleared: 1 });
    expect((await pool.api('GET', '/api/types/Sdc/instances')).status).toBe(200);
  });

  it('expires every token now', async () => {
    const token = await pool.login();
    const answer = await pool.request<{ expiredTokens: number }>('POST', '/pool/faults', { body: { expireTokens: true } });
    expect(answer.body.expiredTokens).toBeGreaterThanOrEqual(1);
    expect((await pool.request('GET', '/api/types/System/instances', { auth: { token } })).status).toBe(401);
  });

  it('refuses a fault it does not understand', async () => {
    expect((await pool.request('POST', '/pool/faults', { body: { latency: 5 } })).status).toBe(400);
    expect((await pool.request('POST', '/pool/faults', { body: { path: '/api/x' } })).status).toBe(400);
  });
});

describe('/pool/hosts', () => {
  it('adds a host, changes its connection state as the SDC reports it, and removes it', async () => {
    const added = await pool.request<{ id: string; guid: string; byIdDir: string }>('POST', '/pool/hosts', {
      body: { name: 'node9', guid: 'host-0009', ip: '10.0.0.9' },
    });
    expect(added.status).toBe(200);
    expect(added.body.guid).toBe('HOST-0009');
    expect(added.body.byIdDir).toBe(`${pool.dataDir}/hosts/HOST-0009/by-id`);
    const sdcOf = async (): Promise<Sdc | undefined> =>
      (await pool.api<Sdc[]>('GET', '/api/types/Sdc/instances')).body.find((s) => s.sdcGuid === 'HOST-0009');
    expect(await sdcOf()).toMatchObject({ id: added.body.id, name: 'node9', sdcIp: '10.0.0.9', mdmConnectionState: 'Connected', sdcApproved: true });

    const down = await pool.request('POST', '/pool/hosts/HOST-0009/state', { body: { mdmConnectionState: 'Disconnected' } });
    expect(down.status).toBe(200);
    expect((await sdcOf())?.mdmConnectionState).toBe('Disconnected');
    await pool.request('POST', '/pool/hosts/host-0009/state', { body: { mdmConnectionState: 'Connected' } });
    expect((await sdcOf())?.mdmConnectionState).toBe('Connected');
    expect((await pool.request('POST', '/pool/hosts/HOST-0009/state', { body: { mdmConnectionState: 'Gone' } })).status).toBe(400);

    // A host with a mapped volume cannot go.
    const pools = await pool.api<StoragePool[]>('GET', '/api/types/StoragePool/instances');
    const created = await pool.api<{ id: string }>('POST', '/api/types/Volume/instances', { name: 'on-node9', volumeSizeInGb: '8', storagePoolId: pools.body[0]?.id });
    await pool.api('POST', `/api/instances/Volume::${created.body.id}/action/addMappedSdc`, { sdcId: added.body.id });
    expect((await pool.request('DELETE', '/pool/hosts/HOST-0009')).status).toBe(409);
    await pool.api('POST', `/api/instances/Volume::${created.body.id}/action/removeMappedSdc`, { sdcId: added.body.id });
    expect((await pool.request('DELETE', '/pool/hosts/HOST-0009')).status).toBe(200);
    expect(await sdcOf()).toBeUndefined();
    expect((await pool.request('DELETE', '/pool/hosts/HOST-0009')).status).toBe(404);
  });
});

describe('/pool/stats', () => {
  it('counts logins and requests by route template', async () => {
    const before = (await pool.request<{ logins: number }>('GET', '/pool/stats')).body;
    const token = await pool.login();
    await pool.request('GET', '/api/instances/Volume::0123456789abcdef', { auth: { token } });
    const after = (await pool.request<{ logins: number; requests: Record<string, number>; errorsByCode: Record<string, number>; volumes: number }>(
      'GET',
      '/pool/stats',
    )).body;
    expect(after.logins).toBe(before.logins + 1);
    expect(after.requests['GET /api/instances/Volume::{id}']).toBeGreaterThanOrEqual(1);
    expect(after.errorsByCode['79']).toBeGreaterThanOrEqual(1);
    expect(after.volumes).toBeGreaterThanOrEqual(1);
  });
});

describe('TLS and the environment', () => {
  it('serves HTTPS with a self-signed certificate kept across restarts', async () => {
    const secure = await startPool({ tls: true });
    try {
      expect(secure.url).toMatch(/^https:\/\//);
      expect((await secure.api('GET', '/api/types/System/instances')).status).toBe(200);
      const first = new X509Certificate(await readFile(secure.caFile ?? '')).fingerprint256;
      await secure.restart();
      expect(new X509Certificate(await readFile(secure.caFile ?? '')).fingerprint256).toBe(first);
      expect((await secure.api('GET', '/api/types/System/instances')).status).toBe(200);
    } finally {
      await secure.cleanup();
    }
  }, 60_000);

  it('reads every flag from FERRY_POOL_<FLAG> too', async () => {
    const fromEnv = await startPool({
      env: { FERRY_POOL_STORAGE_POOL: 'envpool', FERRY_POOL_PROTECTION_DOMAIN: 'envpd', FERRY_POOL_HOST: 'a=ENV-1,b=ENV-2' },
    });
    try {
      const pools = await fromEnv.api<StoragePool[]>('GET', '/api/types/StoragePool/instances');
      expect(pools.body.map((p) => p.name)).toEqual(['envpool']);
      const sdcs = await fromEnv.api<Sdc[]>('GET', '/api/types/Sdc/instances');
      expect(sdcs.body.map((s) => s.sdcGuid).sort()).toEqual(['ENV-1', 'ENV-2']);
    } finally {
      await fromEnv.cleanup();
    }
  }, 60_000);
});
