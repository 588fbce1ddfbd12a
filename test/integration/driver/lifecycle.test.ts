import { status } from '@grpc/grpc-js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { call, codeOf, csiClients } from '../../helpers/csi-client.js';
import { startDriver } from '../../helpers/driver-process.js';
import { cleanupAllPools, powerFlexBackendYaml, startPool, type PoolProcess } from '../../helpers/pool.js';

/**
 * The driver's life cycle against a real `ferry pool` backend: Probe follows the backend's health and never
 * outlives its deadline, and SIGTERM lets a call in flight finish before the socket goes.
 */
let pool: PoolProcess;
let configFile: string;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ferry-lifecycle-'));

beforeAll(async () => {
  pool = await startPool();
  configFile = path.join(tmp, 'ferry.yaml');
  writeFileSync(
    configFile,
    [...powerFlexBackendYaml(pool, ['requestTimeoutSeconds: 5']), ''].join('\n'),
  );
});

afterAll(async () => {
  await cleanupAllPools();
  rmSync(tmp, { recursive: true, force: true });
});

afterEach(async () => {
  if (pool.pid !== undefined) await pool.request('DELETE', '/pool/faults', { auth: 'admin' }).catch(() => undefined);
});

async function addLatency(latencyMs: number): Promise<void> {
  const res = await pool.request('POST', '/pool/faults', { auth: 'admin', body: { path: '/api/*', latencyMs } });
  expect(res.status).toBeLessThan(300);
}

describe('a call that runs into its deadline', () => {
  it('is answered by the driver itself, DEADLINE_EXCEEDED, before the caller gives up', async () => {
    await addLatency(10_000);
    const driver = await startDriver(['--mode', 'controller', '--config', configFile]);
    const c = csiClients(driver.socket);
    try {
      const started = Date.now();
      const err = await call(c.controller, 'CreateVolume', { name: 'pvc-deadline', capacity_range: { required_bytes: String(8 * 1024 ** 3) }, volume_capabilities: [{ mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] }, 2_000).then(
        () => undefined,
        (e: unknown) => e as { code?: number; details?: string },
      );
      expect(err?.code).toBe(status.DEADLINE_EXCEEDED);
      // The driver's own answer (the gateway call stopped short of the deadline), not the client's timer.
      expect(err?.details ?? '').not.toMatch(/^Deadline exceeded after/);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      c.close();
      await driver.stop();
    }
  });
});

describe('Probe', () => {
  it('is ready when the backend answers', async () => {
    const driver = await startDriver(['--mode', 'controller', '--config', configFile]);
    const c = csiClients(driver.socket);
    try {
      expect((await call(c.identity, 'Probe', {})).ready?.value).toBe(true);
      // Never log the gateway password, whatever the level.
      expect(driver.output()).not.toContain(pool.password);
    } finally {
      c.close();
      await driver.stop();
    }
  });

  it('answers not ready before the caller deadline when the backend stalls', async () => {
    await addLatency(10_000);
    const driver = await startDriver(['--mode', 'controller', '--config', configFile]);
    const c = csiClients(driver.socket);
    try {
      const started = Date.now();
      const probe = await call(c.identity, 'Probe', {}, 2_000);
      expect(probe.ready?.value).toBe(false);
      expect(Date.now() - started).toBeLessThan(2_000);
      await driver.waitForOutput('not ready');
    } finally {
      c.close();
      await driver.stop();
    }
  });
});

describe('SIGTERM', () => {
  it('lets the call in flight complete, refuses new ones, removes the socket and exits 0', async () => {
    // Each gateway request of the health check now takes 400 ms: the Probe is in flight for well over a second.
    await addLatency(400);
    const driver = await startDriver(['--mode', 'controller', '--config', configFile, '--shutdown-grace-seconds', '20']);
    const c = csiClients(driver.socket);
    try {
      const inFlight = call(c.identity, 'Probe', {}, 20_000);
      await new Promise((r) => setTimeout(r, 300));
      driver.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      const late = csiClients(driver.socket);
      expect(await codeOf(call(late.identity, 'GetPluginInfo', {}, 2_000))).toBe(status.UNAVAILABLE);
      late.close();
      const probe = await inFlight;
      expect(probe.ready?.value).toBe(true);
      expect(await driver.exited).toBe(0);
      expect(existsSync(driver.socket)).toBe(false);
      expect(driver.output()).toContain('"stopped"');
    } finally {
      c.close();
      await driver.stop();
    }
  });

  it('cuts calls still running after the grace period and still exits 0', async () => {
    await addLatency(5_000);
    const driver = await startDriver(['--mode', 'controller', '--config', configFile, '--shutdown-grace-seconds', '1']);
    const c = csiClients(driver.socket);
    try {
      const inFlight = codeOf(call(c.identity, 'Probe', {}, 30_000));
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      driver.child.kill('SIGTERM');
      expect(await driver.exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await inFlight).toBe(status.CANCELLED);
      expect(existsSync(driver.socket)).toBe(false);
    } finally {
      c.close();
      await driver.stop();
    }
  });
});

describe('a backend that is down', () => {
  it('makes Probe answer not ready, promptly', async () => {
    await pool.stop();
    const driver = await startDriver(['--mode', 'controller', '--config', configFile]);
    const c = csiClients(driver.socket);
    try {
      const started = Date.now();
      expect((await call(c.identity, 'Probe', {}, 10_000)).ready?.value).toBe(false);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      c.close();
      await driver.stop();
    }
  });
});
