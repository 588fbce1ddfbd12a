import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { PowerFlexClient } from '../../../src/backends/powerflex/client.js';
import { GatewayError } from '../../../src/backends/powerflex/errors.js';

/**
 * A gateway that accepts TCP but never completes the TLS handshake (a wedged load balancer): each attempt is cut at
 * the connect timeout and, the login being idempotent, tried again until the call's budget is spent.
 */
describe('connect timeout', () => {
  let server: net.Server;
  let port: number;
  const sockets = new Set<net.Socket>();
  let connections = 0;

  beforeEach(async () => {
    server = net.createServer((socket) => {
      connections += 1;
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('retries connections that never finish, and fails within the budget', async () => {
    const client = new PowerFlexClient({
      endpoint: `https://127.0.0.1:${port}`,
      credentials: { username: 'admin', password: () => Promise.resolve('pw') },
      timeoutMs: 3_000,
      connectTimeoutMs: 500,
      retry: { baseDelayMs: 50, maxDelayMs: 100 },
      logger: pino({ level: 'silent' }),
    });
    const started = Date.now();
    let caught: unknown;
    try {
      await client.systems.listSystems();
    } catch (err) {
      caught = err;
    }
    const elapsed = Date.now() - started;
    await client.close();
    expect(caught).toBeInstanceOf(GatewayError);
    const err = caught as GatewayError;
    expect(err.kind).toBe('unavailable');
    expect(err.transportCode).toBe('FERRY_CONNECT_TIMEOUT');
    expect(connections).toBeGreaterThanOrEqual(3);
    expect(elapsed).toBeLessThan(3_000);
  });
});
