import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import { adminRoutes } from './api/admin.js';
import { Reply, type ApiDeps, type Handler } from './api/context.js';
import { sessionRoutes } from './api/session.js';
import { snapshotRoutes } from './api/snapshots.js';
import { sdcRoutes } from './api/sdc.js';
import { systemRoutes } from './api/system.js';
import { volumeRoutes } from './api/volumes.js';
import { parseAuthorization, secretsEqual } from './auth.js';
import { PoolError, unauthorized } from './errors.js';
import { readJsonBody, sendJson } from './http.js';
import { Router, type Access } from './router.js';
import type { Certificate } from './tls.js';

const CLOSE_GRACE_MS = 5000;

export interface PoolServer {
  /** http(s)://host:port, with the port actually bound (useful with --listen host:0). */
  url: string;
  port: number;
  close(): Promise<void>;
}

export function buildRouter(deps: ApiDeps): Router<Handler> {
  const router = new Router<Handler>();
  sessionRoutes(router, deps);
  systemRoutes(router, deps);
  sdcRoutes(router, deps);
  volumeRoutes(router, deps);
  snapshotRoutes(router, deps);
  adminRoutes(router, deps);
  return router;
}

/**
 * The HTTP(S) front: route, count, inject faults, authenticate, run the handler, answer in the gateway's JSON.
 * Faults apply to /api only and before authentication, so even a login can be made to fail or hang.
 */
export async function startServer(deps: ApiDeps, certificate: Certificate | undefined): Promise<PoolServer> {
  const router = buildRouter(deps);
  const { stats, faults, tokens, options, logger } = deps;

  /** Checks the credentials a route asks for; answers the session token for token routes. */
  const authenticate = (access: Access, header: string | undefined): string | undefined => {
    if (access === 'public') return undefined;
    const credentials = parseAuthorization(header);
    if (access === 'login' || access === 'admin') {
      const ok =
        credentials?.scheme === 'basic' &&
        secretsEqual(credentials.user, options.username) &&
        secretsEqual(credentials.secret, options.password);
      if (!ok) {
        if (access === 'login') stats.loginFailures += 1;
        throw unauthorized();
      }
      return undefined;
    }
    // The user name beside a token is ignored: clients send an empty one, or the real one.
    if (!credentials || !tokens.use(credentials.secret)) {
      stats.unauthorized += 1;
      throw unauthorized();
    }
    return credentials.secret;
  };

  // Ends injected latency at once when the pool stops: a fault must not hold shutdown hostage.
  const closing = new AbortController();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const path = new URL(req.url ?? '/', 'http://pool').pathname.replace(/\/+$/, '') || '/';
    const match = router.match(method, path);
    const template = match.kind === 'found' ? match.route.template : match.kind === 'method-not-allowed' ? match.template : undefined;
    stats.request(`${method} ${template ?? '(no such path)'}`);
    const answer = (status: number, body: unknown, errorCode?: number, context?: string): void => {
      stats.response(status, errorCode);
      sendJson(res, status, body);
      logger.debug({ method, path, status, errorCode, context, ms: Date.now() - started }, 'request');
    };

    if (path === '/api' || path.startsWith('/api/')) {
      const effect = faults.apply(method, path, template);
      if (effect) {
        if (effect.latencyMs > 0) {
          stats.fault('latency');
          const slept = await sleep(effect.latencyMs, true, { signal: closing.signal }).catch(() => false);
          if (!slept) {
            req.socket.destroy();
            return;
          }
        }
        if (effect.drop) {
          stats.fault('drop');
          logger.debug({ method, path }, 'fault: dropping the connection');
          req.socket.destroy();
          return;
        }
        if (effect.error) {
          stats.fault('error');
          answer(effect.error.httpStatusCode, effect.error, effect.error.errorCode);
          return;
        }
      }
    }

    try {
      if (match.kind === 'not-found') throw new PoolError(404, 0, `No such path: ${path}`);
      if (match.kind === 'method-not-allowed') throw new PoolError(405, 0, `${method} is not allowed on ${path}`);
      const token = authenticate(match.route.access, req.headers.authorization);
      const body = await readJsonBody(req);
      const result = await match.route.handler({ params: match.params, body, token });
      if (result instanceof Reply) answer(result.status, result.body);
      else answer(200, result);
    } catch (err) {
      if (err instanceof PoolError) {
        answer(err.httpStatusCode, err.body(), err.errorCode, err.context);
        return;
      }
      logger.error({ method, path, err }, 'request failed');
      answer(500, { message: `Internal error: ${errorMessage(err)}`, httpStatusCode: 500, errorCode: 0 }, 0);
    }
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err }, 'cannot answer a request');
      res.destroy();
    });
  };
  const server: Server = certificate ? createHttpsServer({ cert: certificate.cert, key: certificate.key }, listener) : createHttpServer(listener);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `${certificate ? 'https' : 'http'}://${host}:${port}`;
  return {
    url,
    port,
    // Requests in flight may finish (a mapping half done would only be undone by the next start's reconcile);
    // connections still open after the grace period (a latency fault, a slow client) are cut.
    close: async () => {
      closing.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(timer);
    },
  };
}
