import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { PowerFlexClient } from '../../../src/backends/powerflex/client.js';
import { GatewayError } from '../../../src/backends/powerflex/errors.js';
import { FakeGateway, json } from './fake-gateway.js';

const silent = pino({ level: 'silent' });
const VOLUME_ID = '0123456789abcdef';

async function caught(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('GatewayConnection against an in-process fake', () => {
  let fake: FakeGateway;
  let client: PowerFlexClient;
  let url: string;

  function makeClient(overrides: { timeoutMs?: number; password?: string } = {}): PowerFlexClient {
    return new PowerFlexClient({
      endpoint: `${url}/api/`,
      credentials: { username: 'admin', password: () => Promise.resolve(overrides.password ?? fake.password) },
      timeoutMs: overrides.timeoutMs ?? 5_000,
      retry: { baseDelayMs: 10, maxDelayMs: 40 },
      logger: silent,
    });
  }

  beforeEach(async () => {
    fake = new FakeGateway();
    url = await fake.start();
    fake.routes.set(`GET /api/instances/Volume::${VOLUME_ID}`, (_req, res) => json(res, 200, { id: VOLUME_ID, name: 'v1', sizeInKb: 8388608 }));
    client = makeClient();
  });

  afterEach(async () => {
    await client.close();
    await fake.stop();
  });

  it('logs in with Basic user:password, learns the version, then sends the token and the version header', async () => {
    await client.volumes.getVolume(VOLUME_ID);
    await client.volumes.getVolume(VOLUME_ID);
    expect(fake.logins).toBe(1);
    expect(client.apiVersion).toBe('3.6');
    const login = fake.requests.find((r) => r.path === '/api/login');
    expect(login?.authorization).toBe(`Basic ${Buffer.from('admin:pa55word').toString('base64')}`);
    const gets = fake.requests.filter((r) => r.path === `/api/instances/Volume::${VOLUME_ID}`);
    expect(gets).toHaveLength(2);
    for (const get of gets) {
      expect(get.authorization).toBe(`Basic ${Buffer.from('admin:tok-1').toString('base64')}`);
      expect(get.accept).toBe('application/json;version=3.6');
    }
  });

  it('reuses one connection for sequential calls', async () => {
    for (let i = 0; i < 5; i += 1) await client.volumes.getVolume(VOLUME_ID);
    expect(fake.connections).toBe(1);
  });

  it('converts sizes to bigint KiB', async () => {
    const volume = await client.volumes.getVolume(VOLUME_ID);
    expect(volume.sizeKiB).toBe(8388608n);
  });

  it('re-logs in once for 50 calls refused with one expired token', async () => {
    await client.connect();
    fake.expireAll();
    fake.loginDelayMs = 100;
    await Promise.all(Array.from({ length: 50 }, () => client.volumes.getVolume(VOLUME_ID)));
    expect(fake.logins).toBe(2);
  });

  it('answers unauthorized when the renewed token is refused as well', async () => {
    fake.routes.set('GET /api/types/System/instances', (_req, res) => json(res, 401, { message: 'Unauthorized', httpStatusCode: 401, errorCode: 0 }));
    const err = await caught(client.systems.listSystems());
    expect(err.kind).toBe('unauthorized');
    expect(err.httpStatus).toBe(401);
    expect(fake.logins).toBe(2);
  });

  it('answers unauthorized for a wrong password without ever showing it', async () => {
    await client.close();
    client = makeClient({ password: 'wrong-Secret-42' });
    const err = await caught(client.systems.listSystems());
    expect(err.kind).toBe('unauthorized');
    expect(err.message).toContain('admin');
    expect(JSON.stringify({ message: err.message, stack: err.stack })).not.toContain('wrong-Secret-42');
  });

  it('scrubs the password and token from gateway messages', async () => {
    fake.routes.set('GET /api/types/System/instances', (req, res) =>
      json(res, 500, { message: `boom pa55word ${req.authorization ?? ''} tok-1`, httpStatusCode: 500, errorCode: 6 }),
    );
    const err = await caught(client.systems.listSystems());
    expect(err.kind).toBe('unavailable');
    expect(err.errorCode).toBe(6);
    expect(err.message).not.toContain('pa55word');
    expect(err.message).not.toContain('tok-1');
  });

  it('classifies by errorCode and keeps code and status on the error', async () => {
    fake.routes.set(`GET /api/instances/Volume::${VOLUME_ID}`, (_req, res) =>
      json(res, 500, { message: 'Could not find the volume', httpStatusCode: 500, errorCode: 79 }),
    );
    const err = await caught(client.volumes.getVolume(VOLUME_ID));
    expect(err.kind).toBe('not-found');
    expect(err.errorCode).toBe(79);
    expect(err.httpStatus).toBe(500);
    expect(err.operation).toBe(`GET /api/instances/Volume::${VOLUME_ID}`);
  });

  it('answers not-found for a malformed id without asking the gateway', async () => {
    const before = fake.requests.length;
    const err = await caught(client.volumes.getVolume('pvc-not-hex'));
    expect(err.kind).toBe('not-found');
    expect(fake.requests.length).toBe(before);
  });

  it('returns undefined from queryIdByKey when the name is unknown', async () => {
    fake.routes.set('POST /api/types/Volume/instances/action/queryIdByKey', (req, res) => {
      const { name } = JSON.parse(req.body) as { name: string };
      if (name === 'known') json(res, 200, VOLUME_ID);
      else json(res, 500, { message: 'not found', httpStatusCode: 500, errorCode: 79 });
    });
    expect(await client.volumes.queryVolumeIdByName('known')).toBe(VOLUME_ID);
    expect(await client.volumes.queryVolumeIdByName('unknown')).toBeUndefined();
  });

  it('treats an HTML error page as unavailable, using the status text', async () => {
    fake.routes.set('GET /api/types/System/instances', (_req, res) => {
      res.writeHead(502, 'Bad Gateway', { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
    const err = await caught(client.systems.listSystems());
    expect(err.kind).toBe('unavailable');
    expect(err.httpStatus).toBe(502);
    expect(err.message).toContain('Bad Gateway');
  });

  it('retries a GET whose connection was dropped, and never a create', async () => {
    let drops = 1;
    fake.routes.set('GET /api/types/System/instances', (_req, res) => {
      if (drops > 0) {
        drops -= 1;
        // The request was read; drop the connection without an answer.
        res.socket?.destroy();
        return;
      }
      json(res, 200, [{ id: VOLUME_ID, name: 's', links: [] }]);
    });
    expect(await client.systems.listSystems()).toHaveLength(1);
    expect(fake.count('GET', '/api/types/System/instances')).toBe(2);

    fake.routes.set('POST /api/types/Volume/instances', (_req, res) => res.socket?.destroy());
    const err = await caught(client.volumes.createVolume({ name: 'v', sizeKiB: 8n * 1024n * 1024n, storagePoolId: VOLUME_ID }));
    expect(err.kind).toBe('unavailable');
    expect(fake.count('POST', '/api/types/Volume/instances')).toBe(1);
  });

  it('retries a GET answered 503 without an errorCode (a proxy while the gateway restarts)', async () => {
    let busy = 2;
    fake.routes.set('GET /api/types/System/instances', (_req, res) => {
      if (busy-- > 0) {
        res.writeHead(503, 'Service Unavailable', { 'content-type': 'text/html' });
        res.end('<html>busy</html>');
        return;
      }
      json(res, 200, []);
    });
    expect(await client.systems.listSystems()).toEqual([]);
    expect(fake.count('GET', '/api/types/System/instances')).toBe(3);
  });

  it('sends create bodies with sizes as strings', async () => {
    fake.routes.set('POST /api/types/Volume/instances', (_req, res) => json(res, 200, { id: VOLUME_ID }));
    const id = await client.volumes.createVolume({ name: 'v', sizeKiB: 10n * 1024n * 1024n, storagePoolId: VOLUME_ID, provisioning: 'ThickProvisioned' });
    expect(id).toBe(VOLUME_ID);
    const sent = fake.requests.find((r) => r.path === '/api/types/Volume/instances');
    expect(JSON.parse(sent?.body ?? '')).toEqual({ name: 'v', volumeSizeInKb: '10485760', storagePoolId: VOLUME_ID, volumeType: 'ThickProvisioned' });
  });

  it('accepts an action answered with an empty body or with {}, as real gateways vary', async () => {
    const SDC_ID = 'fedcba9876543210';
    const action = (name: string): string => `POST /api/instances/Volume::${VOLUME_ID}/action/${name}`;
    fake.routes.set(action('addMappedSdc'), (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 0 });
      res.end();
    });
    fake.routes.set(action('removeMappedSdc'), (_req, res) => json(res, 200, {}));
    fake.routes.set(action('setVolumeSize'), (_req, res) => json(res, 200, {}));
    fake.routes.set(action('removeVolume'), (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 0 });
      res.end();
    });
    await expect(client.mappings.mapVolume(VOLUME_ID, { sdcId: SDC_ID, allowMultipleMappings: false })).resolves.toBeUndefined();
    await expect(client.mappings.unmapVolume(VOLUME_ID, { sdcId: SDC_ID })).resolves.toBeUndefined();
    await expect(client.volumes.setVolumeSize(VOLUME_ID, 16n)).resolves.toBeUndefined();
    await expect(client.volumes.removeVolume(VOLUME_ID)).resolves.toBeUndefined();
    expect(fake.requests.filter((r) => r.path.includes('/action/')).map((r) => r.path.split('/').pop())).toEqual([
      'addMappedSdc',
      'removeMappedSdc',
      'setVolumeSize',
      'removeVolume',
    ]);
  });

  it('gives up within the timeout when the gateway never answers', async () => {
    await client.close();
    client = makeClient({ timeoutMs: 500 });
    await client.connect();
    fake.routes.set('GET /api/types/System/instances', () => undefined);
    const started = Date.now();
    const err = await caught(client.systems.listSystems());
    const elapsed = Date.now() - started;
    expect(err.kind).toBe('unavailable');
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('answers aborted when the caller cancels, deadline-exceeded when its deadline passes', async () => {
    fake.routes.set('GET /api/types/System/instances', () => undefined);
    await client.connect();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    expect((await caught(client.systems.listSystems({ signal: controller.signal }))).kind).toBe('aborted');
    expect((await caught(client.systems.listSystems({ signal: AbortSignal.timeout(50) }))).kind).toBe('deadline-exceeded');
  });

  it('logs out on close() and fails later calls', async () => {
    await client.connect();
    await client.close();
    expect(fake.count('GET', '/api/logout')).toBe(1);
    expect((await caught(client.systems.listSystems())).kind).toBe('unavailable');
  });
});
