import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { pino } from 'pino';
import type { PowerFlexClient } from '../../../src/backends/powerflex/client.js';
import { GatewayError } from '../../../src/backends/powerflex/errors.js';
import { GiB, KiB } from '../../../src/util/size.js';
import { startPool, type PoolProcess } from '../../helpers/pool.js';
import { Janitor, SDC_GUID_1, clientFor, nameGenerator, type ContractTarget } from './target.js';

/**
 * How the client survives a misbehaving gateway: expired tokens, a gateway that is down or hangs, TLS trust, dropped
 * connections. These need the pool's admin endpoints (/pool/faults, /pool/stats), so they always run against a
 * local `ferry pool`, also when FERRY_TEST_GATEWAY_URL points the contract suite at a real gateway.
 */
jest.setTimeout(60_000);

interface PoolStats {
  logins: number;
  unauthorized: number;
  requests: Record<string, number>;
}

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

async function timed<T>(promise: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await promise;
  return { value, ms: Date.now() - started };
}

describe('gateway client resilience (local pool only)', () => {
  let pool: PoolProcess;
  let target: ContractTarget;
  const clients: PowerFlexClient[] = [];
  const nextName = nameGenerator('frs');

  const stats = async (): Promise<PoolStats> => {
    const answer = await pool.request<PoolStats>('GET', '/pool/stats');
    if (answer.status !== 200) throw new Error(`/pool/stats: ${answer.status} ${answer.text}`);
    return answer.body;
  };
  const fault = async (body: Record<string, unknown>): Promise<void> => {
    const answer = await pool.request('POST', '/pool/faults', { body });
    if (answer.status !== 201) throw new Error(`/pool/faults: ${answer.status} ${answer.text}`);
  };
  const client = (overrides: Parameters<typeof clientFor>[1] = {}): PowerFlexClient => {
    const made = clientFor(target, overrides);
    clients.push(made);
    return made;
  };

  beforeAll(async () => {
    pool = await startPool({ tls: true, hosts: [{ name: 'node1', guid: SDC_GUID_1 }], logLevel: 'info' });
    target = {
      kind: 'pool',
      endpoint: pool.url,
      username: pool.username,
      password: pool.password,
      insecure: false,
      caFile: pool.caFile,
      storagePool: 'pool1',
      protectionDomain: 'pd1',
      sdcGuid: SDC_GUID_1,
      secondSdcGuid: undefined,
      pool,
      close: () => pool.cleanup(),
    };
  }, 60_000);

  afterEach(async () => {
    await pool.request('DELETE', '/pool/faults');
    await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  });

  afterAll(async () => {
    await pool?.cleanup();
  }, 60_000);

  it('(a) re-logs in exactly once when 50 concurrent calls meet an expired token', async () => {
    const c = client();
    await c.connect();
    // A slow login widens the window in which refused calls pile up behind it.
    await fault({ method: 'GET', path: '/api/login', latencyMs: 300, times: 1 });
    await fault({ expireTokens: true });
    const before = await stats();
    const results = await Promise.all(Array.from({ length: 50 }, () => c.systems.listSystems()));
    const after = await stats();
    expect(results.every((systems) => systems.length === 1)).toBe(true);
    expect(after.logins - before.logins).toBe(1);
    expect(after.unauthorized - before.unauthorized).toBe(50);
    // One retry of each refused call, nothing more.
    const key = 'GET /api/types/System/instances';
    expect((after.requests[key] ?? 0) - (before.requests[key] ?? 0)).toBe(100);
  });

  it('(b) gives up within its timeout, as unavailable, when the gateway hangs', async () => {
    const c = client({ timeoutMs: 2_000 });
    await c.connect();
    // Longer than the timeout, short enough not to hold up the pool's graceful stop in the last case.
    await fault({ method: 'GET', path: '/api/types/System/instances', latencyMs: 3_500 });
    const { value: err, ms } = await timed(failure(c.systems.listSystems()));
    expect(err.kind).toBe('unavailable');
    expect(err.message).toContain('2000 ms');
    expect(ms).toBeGreaterThanOrEqual(1_900);
    expect(ms).toBeLessThan(2_500);
  });

  it('(c) verifies TLS by default, trusts the pool certificate as caFile, and skips verification when insecure', async () => {
    const pinned = client();
    const untrusted = clientFor({ ...target, caFile: undefined });
    clients.push(untrusted);
    const refused = await failure(untrusted.systems.listSystems());
    expect(refused.kind).toBe('unavailable');
    expect(refused.message).toContain('TLS verification');
    expect(refused.transportCode).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);

    expect(await pinned.systems.listSystems()).toHaveLength(1);
    const insecure = clientFor({ ...target, caFile: undefined, insecure: true });
    clients.push(insecure);
    expect(await insecure.systems.listSystems()).toHaveLength(1);

    const missing = clientFor({ ...target, caFile: '/nonexistent/ferry-ca.pem' });
    clients.push(missing);
    expect((await failure(missing.systems.listSystems())).kind).toBe('invalid-argument');
  });

  it('(d) retries a GET whose connection was dropped, and never a create', async () => {
    const c = client();
    await c.connect();
    const getKey = 'GET /api/types/System/instances';
    await fault({ method: 'GET', path: '/api/types/System/instances', drop: true, times: 1 });
    let before = await stats();
    expect(await c.systems.listSystems()).toHaveLength(1);
    let after = await stats();
    expect((after.requests[getKey] ?? 0) - (before.requests[getKey] ?? 0)).toBe(2);

    const { storagePool } = await c.systems.resolveStoragePool({ storagePool: 'pool1', protectionDomain: 'pd1' });
    const createKey = 'POST /api/types/Volume/instances';
    const name = nextName();
    await fault({ method: 'POST', path: '/api/types/Volume/instances', drop: true, times: 1 });
    before = await stats();
    const err = await failure(c.volumes.createVolume({ name, sizeKiB: 8n * (GiB / KiB), storagePoolId: storagePool.id }));
    after = await stats();
    expect(err.kind).toBe('unavailable');
    expect((after.requests[createKey] ?? 0) - (before.requests[createKey] ?? 0)).toBe(1);
    // Whatever the gateway did with the dropped create, leave nothing behind.
    const leftover = await c.volumes.queryVolumeIdByName(name);
    if (leftover !== undefined) {
      const janitor = new Janitor(c);
      janitor.track(leftover);
      await janitor.clean();
    }
  });

  it('(d) does not retry a business error, and keeps its errorCode', async () => {
    const c = client();
    await c.connect();
    const key = 'GET /api/types/System/instances';
    await fault({ method: 'GET', path: '/api/types/System/instances', error: { httpStatusCode: 500, errorCode: 99 }, times: 1 });
    const before = await stats();
    const err = await failure(c.systems.listSystems());
    const after = await stats();
    expect(err.kind).toBe('name-in-use');
    expect(err.errorCode).toBe(99);
    expect(err.httpStatus).toBe(500);
    expect((after.requests[key] ?? 0) - (before.requests[key] ?? 0)).toBe(1);
  });

  it('never writes the password or a token into a log line or an error', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done): void {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = pino({ level: 'trace' }, sink);
    const c = client({ logger });
    await c.connect();
    const token = await pool.login(); // another session: its value must not appear either
    await fault({ expireTokens: true });
    await c.systems.listSystems();
    const wrong = clientFor({ ...target, password: `${pool.password}-wrong` }, { logger });
    clients.push(wrong);
    const refused = await failure(wrong.systems.listSystems());
    expect(refused.kind).toBe('unauthorized');
    const everything = [...lines, refused.message, refused.stack ?? ''].join('\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(everything).not.toContain(pool.password);
    expect(everything).not.toContain(token);
    expect(everything).not.toContain(Buffer.from(`admin:${pool.password}`).toString('base64'));
  });

  // Last: it stops and restarts the pool.
  it('(b) gives up within its timeout, as unavailable, when the gateway is down; recovers after it restarts', async () => {
    const c = client({ timeoutMs: 2_000 });
    await c.connect();
    await pool.stop();
    const { value: err, ms } = await timed(failure(c.systems.listSystems()));
    expect(err.kind).toBe('unavailable');
    expect(err.transportCode).toBe('ECONNREFUSED');
    expect(ms).toBeLessThan(2_000);

    const fresh = client({ timeoutMs: 2_000 });
    const { value: loginErr, ms: loginMs } = await timed(failure(fresh.connect()));
    expect(loginErr.kind).toBe('unavailable');
    expect(loginMs).toBeLessThan(2_000);

    await pool.restart();
    // The pool's sessions did not survive the restart: one 401, one re-login, and the call succeeds.
    expect(await c.systems.listSystems()).toHaveLength(1);
  });
});
