import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Deadline, StopReason } from './deadline.js';

/**
 * One HTTP exchange with the gateway over node:http(s): a keep-alive Agent per client reuses connections and
 * carries the TLS settings (CA, insecure), and every exchange is bounded by the caller's Deadline plus a shorter
 * connect timeout, so a gateway that does not answer SYNs is retried (when allowed) before the whole budget is gone.
 * Retries, authentication and error kinds live one layer up (gateway.ts).
 */
export interface TransportOptions {
  /** Verify the gateway's certificate against `ca` (or the system roots) unless `insecure`. */
  insecure: boolean;
  /** PEM text of the CA(s) to trust instead of the system roots. */
  ca?: string;
  /** Milliseconds to establish a new connection (TCP plus TLS handshake). */
  connectTimeoutMs: number;
  /** Upper bound on parallel connections: a gateway is a shared service, a provisioner runs 100 workers. */
  maxSockets?: number;
  /** Idle keep-alive sockets are closed after this long, before a typical server closes them under us. */
  idleSocketMs?: number;
}

export interface HttpExchange {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpAnswer {
  status: number;
  statusText: string;
  contentType: string | undefined;
  body: string;
}

/** Bodies above this are refused: the largest real answer (every volume of a big system) stays far below. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** A failed exchange: no (complete) HTTP answer. `code` is Node's (ECONNREFUSED, ...) or one of Ferry's own. */
export class TransportFailure extends Error {
  override readonly name = 'TransportFailure';

  constructor(
    readonly code: string,
    message: string,
    /** Set when the exchange ended because the call's Deadline stopped. */
    readonly stopped?: StopReason,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class HttpTransport {
  private readonly agent: http.Agent;
  private readonly secure: boolean;

  constructor(
    apiRoot: URL,
    private readonly options: TransportOptions,
  ) {
    this.secure = apiRoot.protocol === 'https:';
    const common = {
      keepAlive: true,
      maxSockets: options.maxSockets ?? 32,
      timeout: options.idleSocketMs ?? 4_000,
    };
    this.agent = this.secure
      ? new https.Agent({ ...common, rejectUnauthorized: !options.insecure, ...(options.ca === undefined ? {} : { ca: options.ca }) })
      : new http.Agent(common);
  }

  /** Closes pooled sockets; later exchanges would open new ones, so callers stop using the transport first. */
  close(): void {
    this.agent.destroy();
  }

  send(exchange: HttpExchange, deadline: Deadline): Promise<HttpAnswer> {
    return new Promise<HttpAnswer>((resolve, reject) => {
      if (deadline.reason !== undefined) {
        reject(new TransportFailure('FERRY_STOPPED', 'stopped before sending', deadline.reason));
        return;
      }
      const headers: Record<string, string> = { ...exchange.headers };
      if (exchange.body !== undefined) headers['content-length'] = String(Buffer.byteLength(exchange.body));
      const request = (this.secure ? https : http).request(exchange.url, { method: exchange.method, headers, agent: this.agent });

      let settled = false;
      let connectTimer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        settled = true;
        clearTimeout(connectTimer);
        deadline.signal.removeEventListener('abort', onStop);
      };
      const fail = (failure: TransportFailure): void => {
        if (settled) return;
        cleanup();
        request.destroy();
        reject(failure);
      };
      const onStop = (): void => fail(new TransportFailure('FERRY_STOPPED', 'stopped', deadline.reason));
      deadline.signal.addEventListener('abort', onStop, { once: true });

      request.on('socket', (socket: Socket) => {
        // A reused keep-alive socket is already connected; only a new one gets the connect timeout.
        if (!socket.connecting) return;
        const ms = Math.min(this.options.connectTimeoutMs, Math.max(1, deadline.remainingMs()));
        connectTimer = setTimeout(
          () => fail(new TransportFailure('FERRY_CONNECT_TIMEOUT', `no connection within ${ms} ms`)),
          ms,
        );
        socket.once(this.secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      request.on('error', (err: Error) => fail(toFailure(err)));
      request.on('response', (response: http.IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) fail(new TransportFailure('FERRY_BODY_TOO_LARGE', `answer larger than ${MAX_BODY_BYTES} bytes`));
          else chunks.push(chunk);
        });
        response.on('error', (err: Error) => fail(toFailure(err)));
        response.on('close', () => {
          if (!response.complete) fail(new TransportFailure('FERRY_RESPONSE_INTERRUPTED', 'the connection closed in the middle of the answer'));
        });
        response.on('end', () => {
          if (settled) return;
          cleanup();
          resolve({
            status: response.statusCode ?? 0,
            statusText: response.statusMessage ?? '',
            contentType: response.headers['content-type'],
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
      });
      request.end(exchange.body);
    });
  }
}

/** Node's error, reduced to a code and a message (dual-stack connects throw an AggregateError of both attempts). */
function toFailure(err: Error): TransportFailure {
  const inner = err instanceof AggregateError ? (err.errors.find((e): e is Error => e instanceof Error) ?? err) : err;
  const code = errnoCode(err) ?? errnoCode(inner) ?? 'EUNKNOWN';
  const message = inner.message === '' ? code : inner.message;
  return new TransportFailure(code, message, undefined, { cause: err });
}

function errnoCode(err: Error): string | undefined {
  const code: unknown = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
