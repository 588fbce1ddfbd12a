import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A minimal in-process gateway for unit tests of the request layer: login, version, and whatever routes a test adds.
 * Not a PowerFlex model (that is `ferry pool`); it only records what the client sent and answers what it is told.
 */
export interface FakeRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  accept: string | undefined;
  body: string;
}

export type Route = (request: FakeRequest, response: http.ServerResponse) => void;

export class FakeGateway {
  readonly requests: FakeRequest[] = [];
  readonly routes = new Map<string, Route>();
  logins = 0;
  /** TCP connections accepted (keep-alive reuse keeps this low). */
  connections = 0;
  validTokens = new Set<string>();
  password = 'pa55word';
  /** Milliseconds the login answer is held back (to pile up waiters). */
  loginDelayMs = 0;
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
    this.server.on('connection', (s) => {
      this.connections += 1;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
  }

  expireAll(): void {
    this.validTokens.clear();
  }

  count(method: string, path: string): number {
    return this.requests.filter((r) => r.method === method && r.path === path).length;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const request: FakeRequest = { method: req.method ?? '', path, authorization: req.headers.authorization, accept: req.headers.accept, body };
    this.requests.push(request);
    const secret = decodeBasic(request.authorization);
    if (path === '/api/login') {
      this.logins += 1;
      if (secret !== this.password) return json(res, 401, { message: 'Unauthorized', httpStatusCode: 401, errorCode: 0 });
      const token = `tok-${this.logins}`;
      this.validTokens.add(token);
      setTimeout(() => json(res, 200, token), this.loginDelayMs);
      return;
    }
    if (secret === undefined || !this.validTokens.has(secret)) {
      return json(res, 401, { message: 'Unauthorized', httpStatusCode: 401, errorCode: 0 });
    }
    if (path === '/api/version') return json(res, 200, '3.6');
    const route = this.routes.get(`${request.method} ${path}`);
    if (route === undefined) return json(res, 500, { message: 'no such route', httpStatusCode: 500, errorCode: 3 });
    route(request, res);
  }
}

export function json(res: http.ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function decodeBasic(header: string | undefined): string | undefined {
  if (header === undefined || !header.startsWith('Basic ')) return undefined;
  const text = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : text.slice(colon + 1);
}
