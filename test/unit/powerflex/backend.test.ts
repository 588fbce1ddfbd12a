import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { PowerFlexBackend, createPowerFlexBackend } from '../../../src/backends/powerflex/backend.js';
import { powerFlexBackendSchema } from '../../../src/backends/powerflex/config.js';
import { nodeSchema } from '../../../src/config/node.js';
import { DomainError } from '../../../src/errors.js';
import { FakeGateway, json } from './fake-gateway.js';

const silent = pino({ level: 'silent' });
const nodeDefaults = nodeSchema.parse({});
const SYSTEM_A = 'aaaaaaaaaaaaaaaa';
const SYSTEM_B = 'bbbbbbbbbbbbbbbb';
const PD_1 = '1111111111111111';
const PD_2 = '2222222222222222';
const POOL_1 = 'cccccccccccccccc';
const POOL_2 = 'dddddddddddddddd';

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('PowerFlexBackend', () => {
  let fake: FakeGateway;
  let url: string;
  let dir: string;
  const backends: PowerFlexBackend[] = [];

  const backend = (overrides: Record<string, unknown> = {}): PowerFlexBackend => {
    const config = powerFlexBackendSchema.parse({
      name: 'pf',
      type: 'powerflex',
      endpoint: url,
      username: 'admin',
      password: fake.password,
      storagePool: 'gold',
      requestTimeoutSeconds: 5,
      ...overrides,
    });
    const made = new PowerFlexBackend(config, nodeDefaults, silent);
    backends.push(made);
    return made;
  };

  beforeEach(async () => {
    fake = new FakeGateway();
    url = await fake.start();
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-pf-unit-'));
    const system = (id: string): Record<string, unknown> => ({ id, name: null, systemVersionName: 'x', restrictedSdcMode: 'None', links: [] });
    fake.routes.set('GET /api/types/System/instances', (_req, res) => json(res, 200, [system(SYSTEM_A)]));
    fake.routes.set(`GET /api/instances/System::${SYSTEM_A}`, (_req, res) => json(res, 200, system(SYSTEM_A)));
    fake.routes.set(`GET /api/instances/System::${SYSTEM_A}/relationships/ProtectionDomain`, (_req, res) =>
      json(res, 200, [
        { id: PD_1, name: 'pd1', systemId: SYSTEM_A, links: [] },
        { id: PD_2, name: 'pd2', systemId: SYSTEM_A, links: [] },
      ]),
    );
    // Two pools called "gold", one per protection domain.
    const pools = [
      { id: POOL_1, name: 'gold', protectionDomainId: PD_1, links: [] },
      { id: POOL_2, name: 'gold', protectionDomainId: PD_2, links: [] },
    ];
    fake.routes.set('GET /api/types/StoragePool/instances', (_req, res) => json(res, 200, pools));
    fake.routes.set(`GET /api/instances/ProtectionDomain::${PD_1}/relationships/StoragePool`, (_req, res) => json(res, 200, [pools[0]]));
    fake.routes.set(`GET /api/instances/ProtectionDomain::${PD_2}/relationships/StoragePool`, (_req, res) => json(res, 200, [pools[1]]));
  });

  afterEach(async () => {
    await Promise.allSettled(backends.splice(0).map((b) => b.close()));
    await fake.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves the system and a pool name within the configured protection domain', async () => {
    const b = backend({ protectionDomain: 'pd2' });
    await b.checkHealth(new AbortController().signal);
    expect(b.target?.system.id).toBe(SYSTEM_A);
    expect(b.target?.storagePool.id).toBe(POOL_2);
    expect(b.target?.protectionDomain.id).toBe(PD_2);
  });

  it('lets a pool id win over names', async () => {
    const target = await backend({ storagePool: POOL_1 }).resolveTarget();
    expect(target.storagePool.id).toBe(POOL_1);
  });

  it('refuses an ambiguous pool name, naming both protection domains', async () => {
    const err = await rejection(backend().checkHealth(new AbortController().signal));
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain('"pd1"');
    expect(err.message).toContain('"pd2"');
  });

  it('answers not-found for an unknown pool or protection domain', async () => {
    expect((await rejection(backend({ storagePool: 'silver', protectionDomain: 'pd1' }).resolveTarget())).kind).toBe('not-found');
    expect((await rejection(backend({ protectionDomain: 'pd9' }).resolveTarget())).kind).toBe('not-found');
  });

  it('needs systemId when the gateway manages several systems', async () => {
    const system = (id: string): Record<string, unknown> => ({ id, name: null, links: [] });
    fake.routes.set('GET /api/types/System/instances', (_req, res) => json(res, 200, [system(SYSTEM_A), system(SYSTEM_B)]));
    const err = await rejection(backend({ protectionDomain: 'pd1' }).resolveTarget());
    expect(err.kind).toBe('failed-precondition');
    expect(err.message).toContain('set systemId');
    expect(err.message).toContain(SYSTEM_B);
    const chosen = await backend({ protectionDomain: 'pd1', systemId: SYSTEM_A }).resolveTarget();
    expect(chosen.system.id).toBe(SYSTEM_A);
  });

  it('reports an unknown systemId as not-found', async () => {
    fake.routes.set(`GET /api/instances/System::${SYSTEM_B}`, (_req, res) => json(res, 500, { message: 'nope', httpStatusCode: 500, errorCode: 3 }));
    const err = await rejection(backend({ systemId: SYSTEM_B }).resolveTarget());
    expect(err.kind).toBe('not-found');
    expect(err.message).toContain(SYSTEM_B);
  });

  it('reads passwordFile at login, without its trailing newline', async () => {
    const file = path.join(dir, 'password');
    await writeFile(file, `${fake.password}\n`);
    const b = backend({ password: undefined, passwordFile: file, protectionDomain: 'pd1' });
    await b.checkHealth(new AbortController().signal);
    expect(b.target?.storagePool.id).toBe(POOL_1);
  });

  it('fails start-up on an unreadable passwordFile or caFile, without touching the gateway', async () => {
    const config = (extra: Record<string, unknown>) =>
      powerFlexBackendSchema.parse({ name: 'pf', type: 'powerflex', endpoint: url, username: 'admin', storagePool: 'gold', ...extra });
    const missing = path.join(dir, 'missing');
    expect((await rejection(createPowerFlexBackend(config({ passwordFile: missing }), nodeDefaults, silent))).kind).toBe('invalid-argument');
    const tls = url.replace(/^http:/, 'https:');
    expect((await rejection(createPowerFlexBackend(config({ password: 'x', caFile: missing, endpoint: tls }), nodeDefaults, silent))).kind).toBe('invalid-argument');
    expect(fake.requests).toHaveLength(0);
    const ok = await createPowerFlexBackend(config({ password: 'x' }), nodeDefaults, silent);
    backends.push(ok);
    expect(ok.name).toBe('pf');
  });

  it('as a node plugin with systemId: topology from its config, healthy, never a gateway request, no credentials needed', async () => {
    const config = powerFlexBackendSchema.parse({ name: 'pf', type: 'powerflex', endpoint: url, systemId: SYSTEM_B, storagePool: 'gold' });
    const node = nodeSchema.parse({ deviceDir: dir });
    const b = await createPowerFlexBackend(config, node, silent, { nodeOnly: true });
    backends.push(b);
    const ctx = { signal: new AbortController().signal, log: silent };
    expect(await b.nodeTopology(ctx)).toEqual({ [`ferry.csi.io/powerflex-${SYSTEM_B}`]: 'true' });
    await b.checkHealth(ctx.signal);
    expect(b.nodeSource(`${SYSTEM_B}-0000000000000001`)).toMatchObject({ kind: 'block', devicePath: `${dir}/emc-vol-${SYSTEM_B}-0000000000000001` });
    expect(fake.requests).toHaveLength(0);
  });

  it('logs out on close()', async () => {
    const b = backend({ protectionDomain: 'pd1' });
    await b.checkHealth(new AbortController().signal);
    await b.close();
    expect(fake.count('GET', '/api/logout')).toBe(1);
  });
});
