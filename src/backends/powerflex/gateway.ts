import { readFile } from 'node:fs/promises';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import { redactString } from '../../util/redact.js';
import { Deadline, type StopReason } from './deadline.js';
import { apiUrl, describeRequest, normaliseEndpoint } from './endpoint.js';
import {
  GatewayError,
  classifyGatewayAnswer,
  isRetryableStatus,
  isRetryableTransportCode,
  isTlsVerificationCode,
  parseErrorBody,
} from './errors.js';
import { DEFAULT_RETRY_POLICY, backoffDelayMs, type RetryPolicy } from './retry.js';
import { TokenCache, type Token } from './token-cache.js';
import { HttpTransport, TransportFailure, type HttpAnswer, type HttpExchange } from './transport.js';

/**
 * The authenticated, retrying request layer under the typed client: login and token reuse, the API version header,
 * single-flight re-login on 401, per-call deadlines, bounded retries of idempotent requests, and turning every
 * failure into a GatewayError. Nothing it logs or throws contains the password or a token.
 */
export interface GatewayCredentials {
  username: string;
  /** Called at every login, so a rotated password file is picked up without a restart. */
  password: () => Promise<string>;
}

export interface GatewayOptions {
  /** Gateway URL, with or without the trailing /api. */
  endpoint: string;
  credentials: GatewayCredentials;
  /** Skip certificate verification. */
  insecure?: boolean;
  /** A PEM file of the CA(s) to trust instead of the system roots; read at first use. */
  caFile?: string;
  /** The budget of one call: attempts, back-off pauses and a (re-)login together. */
  timeoutMs: number;
  /** Budget to open one connection; defaults to a third of timeoutMs, between 1 and 10 s. */
  connectTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Jitter source, replaceable in tests. */
  random?: () => number;
  logger: Logger;
}

export interface CallOptions {
  /** Cancels the call (a gRPC deadline or cancellation). */
  signal?: AbortSignal;
}

export interface GatewayRequest {
  method: 'GET' | 'POST';
  /** Below /api, starting with "/": "/types/Volume/instances". */
  path: string;
  /** Sent as JSON. Numbers and booleans belong in it as strings, as the gateway expects. */
  body?: unknown;
  /**
   * Safe to send again after a connection failure (the first copy may have been applied). GETs are; a POST only when
   * marked so explicitly (queries, absolute setters). Never a create.
   */
  idempotent?: boolean;
}

export class GatewayConnection {
  readonly apiRoot: URL;
  private readonly log: Logger;
  private readonly retry: RetryPolicy;
  private readonly connectTimeoutMs: number;
  private readonly tokens = new TokenCache(() => this.login());
  private transport: Promise<HttpTransport> | undefined;
  private version: string | undefined;
  /** The password and token in use: scrubbed from any gateway text that reaches a message. */
  private password: string | undefined;
  private tokenValue: string | undefined;
  private closed = false;

  constructor(private readonly options: GatewayOptions) {
    this.apiRoot = normaliseEndpoint(options.endpoint);
    this.log = options.logger;
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.connectTimeoutMs = options.connectTimeoutMs ?? Math.min(10_000, Math.max(1_000, Math.round(options.timeoutMs / 3)));
  }

  /** The API version the gateway reported at the first login (undefined before it, or when it has no /api/version). */
  get apiVersion(): string | undefined {
    return this.version;
  }

  /** Logs in unless a token is cached. */
  async connect(options: CallOptions = {}): Promise<void> {
    const deadline = new Deadline(this.options.timeoutMs, options.signal);
    try {
      await deadline.race(this.tokens.get(), (reason) => this.stopError(reason, 'GET /api/login'));
    } finally {
      deadline.dispose();
    }
  }

  /** Sends one request as the logged-in user; resolves to the parsed JSON answer (undefined for an empty body). */
  async request(request: GatewayRequest, options: CallOptions = {}): Promise<unknown> {
    const url = apiUrl(this.apiRoot, request.path);
    const operation = describeRequest(request.method, url);
    const deadline = new Deadline(this.options.timeoutMs, options.signal);
    const onStop = (reason: StopReason): Error => this.stopError(reason, operation);
    try {
      const transport = await deadline.race(this.getTransport(), onStop);
      let token = await deadline.race(this.tokens.get(), onStop);
      let answer = await this.exchange(transport, request, url, this.tokenAuth(token), deadline, operation);
      if (answer.status === 401) {
        // One re-login, shared with every call refused with the same token, then one more try of this request.
        this.log.debug({ operation }, 'gateway token refused; logging in again');
        token = await deadline.race(this.tokens.renew(token), onStop);
        answer = await this.exchange(transport, request, url, this.tokenAuth(token), deadline, operation);
      }
      if (answer.status < 200 || answer.status > 299) throw this.answerError(answer, operation);
      return this.parseBody(answer, operation);
    } finally {
      deadline.dispose();
    }
  }

  /** Ends the token on the gateway (best effort) and closes every connection. Later calls fail as unavailable. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const token = this.tokens.take();
    const transport = await this.transport?.catch(() => undefined);
    if (transport === undefined) return;
    if (token !== undefined) {
      const deadline = new Deadline(Math.min(this.options.timeoutMs, 5_000));
      const url = apiUrl(this.apiRoot, '/logout');
      try {
        await transport.send({ method: 'GET', url, headers: this.headers(this.tokenAuth(token), false) }, deadline);
      } catch (err) {
        this.log.debug({ err: errorMessage(err) }, 'gateway logout failed (ignored)');
      } finally {
        deadline.dispose();
      }
    }
    transport.close();
  }

  /** The single-flight login (TokenCache calls it): its own deadline, so one cancelled caller cannot fail it for all. */
  private async login(): Promise<string> {
    const url = apiUrl(this.apiRoot, '/login');
    const operation = describeRequest('GET', url);
    const deadline = new Deadline(this.options.timeoutMs);
    try {
      const transport = await this.getTransport();
      const password = await this.options.credentials.password();
      this.password = password;
      const basic = basicAuth(this.options.credentials.username, password);
      const answer = await this.exchange(transport, { method: 'GET', path: '/login' }, url, basic, deadline, operation);
      if (answer.status === 401 || answer.status === 403) {
        throw new GatewayError('unauthorized', `${operation}: the gateway refused the credentials of user "${this.options.credentials.username}" (HTTP ${answer.status})`, {
          httpStatus: answer.status,
          operation,
        });
      }
      if (answer.status < 200 || answer.status > 299) throw this.answerError(answer, operation);
      const token = parseJsonString(answer.body);
      if (token === undefined || token === '') {
        throw new GatewayError('unavailable', `${operation}: the answer is not a token (HTTP ${answer.status})`, { httpStatus: answer.status, operation });
      }
      this.tokenValue = token;
      if (this.version === undefined) {
        this.version = await this.fetchVersion(transport, this.tokenAuth({ value: token, generation: 0 }), deadline);
      }
      this.log.info({ endpoint: this.apiRoot.origin, user: this.options.credentials.username, apiVersion: this.version }, 'logged in to the PowerFlex gateway');
      return token;
    } finally {
      deadline.dispose();
    }
  }

  /** `/api/version` once per client; a gateway without it (404) is used without the version header. */
  private async fetchVersion(transport: HttpTransport, authorization: string, deadline: Deadline): Promise<string | undefined> {
    const url = apiUrl(this.apiRoot, '/version');
    const operation = describeRequest('GET', url);
    const answer = await this.exchange(transport, { method: 'GET', path: '/version' }, url, authorization, deadline, operation);
    if (answer.status === 404) return undefined;
    if (answer.status < 200 || answer.status > 299) throw this.answerError(answer, operation);
    const version = parseJsonString(answer.body)?.trim();
    if (version === undefined || !/^[0-9][0-9A-Za-z._-]*$/.test(version)) {
      throw new GatewayError('unavailable', `${operation}: the answer is not a version string`, { httpStatus: answer.status, operation });
    }
    return version;
  }

  /** One request with retries: connection failures (and 502/503/504 without a code) of idempotent requests only. */
  private async exchange(
    transport: HttpTransport,
    request: GatewayRequest,
    url: URL,
    authorization: string,
    deadline: Deadline,
    operation: string,
  ): Promise<HttpAnswer> {
    const idempotent = request.idempotent ?? request.method === 'GET';
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    const exchange: HttpExchange = { method: request.method, url, headers: this.headers(authorization, body !== undefined), body };
    let lastFailure: GatewayError | undefined;
    for (let attempt = 1; ; attempt += 1) {
      const started = Date.now();
      let failure: GatewayError;
      try {
        const answer = await transport.send(exchange, deadline);
        this.log.debug({ operation, status: answer.status, ms: Date.now() - started, attempt }, 'gateway request');
        if (!idempotent || !isRetryableStatus(answer.status, parseErrorBody(answer.body, answer.contentType).errorCode)) return answer;
        failure = this.answerError(answer, operation);
      } catch (err) {
        if (!(err instanceof TransportFailure)) throw err;
        if (err.stopped !== undefined) throw this.stopError(err.stopped, operation, lastFailure);
        failure = this.transportError(err, operation);
        this.log.debug({ operation, code: err.code, ms: Date.now() - started, attempt }, 'gateway request failed');
        if (!idempotent || !isRetryableTransportCode(err.code)) throw failure;
      }
      lastFailure = failure;
      const delayMs = backoffDelayMs(this.retry, attempt, this.options.random);
      if (attempt >= this.retry.maxAttempts || delayMs >= deadline.remainingMs()) throw failure;
      this.log.debug({ operation, attempt, delayMs, reason: failure.message }, 'retrying gateway request');
      await deadline.sleep(delayMs, (reason) => this.stopError(reason, operation, failure));
    }
  }

  private getTransport(): Promise<HttpTransport> {
    if (this.closed) {
      return Promise.reject(new GatewayError('unavailable', `gateway client for ${this.apiRoot.origin} is closed`));
    }
    this.transport ??= this.buildTransport().catch((err: unknown) => {
      // A CA file that could not be read now may be readable at the next call (a Secret mounted late).
      this.transport = undefined;
      throw err;
    });
    return this.transport;
  }

  private async buildTransport(): Promise<HttpTransport> {
    let ca: string | undefined;
    if (this.options.caFile !== undefined) {
      try {
        ca = await readFile(this.options.caFile, 'utf8');
      } catch (err) {
        throw new GatewayError('invalid-argument', `cannot read caFile ${this.options.caFile}: ${errorMessage(err)}`, { cause: err });
      }
    }
    return new HttpTransport(this.apiRoot, {
      insecure: this.options.insecure ?? false,
      connectTimeoutMs: this.connectTimeoutMs,
      ...(ca === undefined ? {} : { ca }),
    });
  }

  private headers(authorization: string, hasBody: boolean): Record<string, string> {
    const headers: Record<string, string> = {
      accept: this.version === undefined ? 'application/json' : `application/json;version=${this.version}`,
      authorization,
      'user-agent': 'ferry-csi',
    };
    if (hasBody) headers['content-type'] = 'application/json';
    return headers;
  }

  /** After login the gateway wants Basic with the token as password; it ignores the user part. */
  private tokenAuth(token: Token): string {
    return basicAuth(this.options.credentials.username, token.value);
  }

  private scrub(text: string): string {
    return redactString(text, [this.password ?? '', this.tokenValue ?? '']);
  }

  private answerError(answer: HttpAnswer, operation: string): GatewayError {
    const parsed = parseErrorBody(answer.body, answer.contentType);
    const kind = classifyGatewayAnswer(answer.status, parsed.errorCode);
    const text = this.scrub(parsed.message ?? (answer.statusText || 'no message'));
    const codes = parsed.errorCode === undefined ? `HTTP ${answer.status}` : `HTTP ${answer.status}, errorCode ${parsed.errorCode}`;
    return new GatewayError(kind, `${operation}: ${text} (${codes})`, { httpStatus: answer.status, errorCode: parsed.errorCode, operation });
  }

  private transportError(failure: TransportFailure, operation: string): GatewayError {
    const origin = this.apiRoot.origin;
    const detail = this.scrub(failure.message);
    const message = isTlsVerificationCode(failure.code)
      ? `${operation}: TLS verification of ${origin} failed (${failure.code}: ${detail}); trust its CA with caFile, or set insecure: true`
      : `${operation}: ${origin} unreachable: ${detail}`;
    return new GatewayError('unavailable', message, { operation, transportCode: failure.code, cause: failure });
  }

  private stopError(reason: StopReason, operation: string, last?: GatewayError): GatewayError {
    const after = last === undefined ? '' : ` (last error: ${last.message})`;
    if (reason.kind === 'timeout') {
      return new GatewayError('unavailable', `${operation}: no answer from ${this.apiRoot.origin} within ${reason.timeoutMs} ms${after}`, {
        operation,
        transportCode: 'FERRY_TIMEOUT',
      });
    }
    if (reason.deadline) return new GatewayError('deadline-exceeded', `${operation}: the caller's deadline passed${after}`, { operation });
    return new GatewayError('aborted', `${operation}: cancelled by the caller`, { operation });
  }

  private parseBody(answer: HttpAnswer, operation: string): unknown {
    if (answer.body.trim() === '') return undefined;
    try {
      return JSON.parse(answer.body) as unknown;
    } catch {
      throw new GatewayError('unavailable', `${operation}: the answer is not JSON (HTTP ${answer.status}, ${answer.contentType ?? 'no content type'})`, {
        httpStatus: answer.status,
        operation,
      });
    }
  }
}

function basicAuth(user: string, secret: string): string {
  return `Basic ${Buffer.from(`${user}:${secret}`, 'utf8').toString('base64')}`;
}

/** The login and version answers are bare JSON strings; a few proxies strip the quotes. */
function parseJsonString(body: string): string | undefined {
  const text = body.trim();
  if (text.startsWith('"')) {
    try {
      const value: unknown = JSON.parse(text);
      return typeof value === 'string' ? value : undefined;
    } catch {
      return undefined;
    }
  }
  return /^[A-Za-z0-9+/=._-]+$/.test(text) ? text : undefined;
}
