import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { detachLoop, devicesUnder, listLoopDevices, type LoopDevice } from '../../src/pool/loop.js';

/**
 * Starts the real `ferry pool` (node dist/cli.js pool) on a free port with a temporary data directory, and tears it
 * all down afterwards: the process, every loop device backed by the data directory, the directory itself.
 *
 *   const pool = await startPool({ hosts: [{ name: 'node1', guid: 'GUID-1' }] });
 *   afterAll(() => pool.cleanup());      // or cleanupAllPools() once per file
 *
 * Requires a build (`npm run build`): the helper runs the CLI a user runs.
 */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(REPO_ROOT, 'dist', 'cli.js');
const START_TIMEOUT_MS = 30_000;

export interface PoolStartOptions {
  /** HTTPS with the pool's self-signed certificate (default: plain HTTP). */
  tls?: boolean;
  hosts?: { name: string; guid: string }[];
  capacity?: string;
  tokenIdleTimeout?: string;
  systemId?: string;
  /** info or more verbose: the helper learns the URL from the pool's "listening" line. */
  logLevel?: string;
  /** Reuse a data directory (e.g. one a previous pool left); default: a fresh temporary one. */
  dataDir?: string;
  extraArgs?: string[];
  env?: Record<string, string>;
}

export interface HttpResult<T = unknown> {
  status: number;
  body: T;
  text: string;
}

export type Auth = { token: string } | { bearer: string } | { user: string; password: string } | 'admin' | 'none';

export interface PoolProcess {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly dataDir: string;
  /** The certificate to trust (TLS only). */
  readonly caFile: string | undefined;
  readonly pid: number | undefined;
  /** Everything the process wrote (stdout and stderr), across restarts. */
  output(): string;
  /** One HTTP request; `body` is sent as JSON. The response body is parsed as JSON when it is JSON. */
  request<T = unknown>(method: string, urlPath: string, options?: { body?: unknown; auth?: Auth; timeoutMs?: number }): Promise<HttpResult<T>>;
  /** GET /api/login with the admin credentials; the token. */
  login(): Promise<string>;
  /** A request with a cached session token (logs in first, and once more after a 401). */
  api<T = unknown>(method: string, urlPath: string, body?: unknown): Promise<HttpResult<T>>;
  /** Loop devices whose backing file is inside the data directory. */
  loopDevices(): Promise<LoopDevice[]>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL and wait: no chance to tidy anything. */
  kill9(): Promise<void>;
  /** Starts the pool again on the same data directory and port. */
  restart(): Promise<void>;
  /** Stops the process, detaches our loop devices, removes the data directory. Safe to call twice. */
  cleanup(): Promise<void>;
}

const live = new Set<PoolProcess>();

/** Cleans up every pool this file started (for afterAll). */
export async function cleanupAllPools(): Promise<void> {
  await Promise.allSettled([...live].map((p) => p.cleanup()));
}

export async function startPool(options: PoolStartOptions = {}): Promise<PoolProcess> {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist: run "npm run build" first`);
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? realpathSync(mkdtempSync(path.join(os.tmpdir(), 'ferry-pool-')));
  const username = 'admin';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const tls = options.tls === true;
  let port = 0;
  let url = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';
  let token: string | undefined;
  let cleaned = false;

  const args = (): string[] => [
    CLI,
    'pool',
    '--listen',
    `127.0.0.1:${port}`,
    '--data-dir',
    dataDir,
    '--username',
    username,
    '--password',
    password,
    '--capacity',
    options.capacity ?? '1Ti',
    '--token-idle-timeout',
    options.tokenIdleTimeout ?? '10m',
    '--log-level',
    options.logLevel ?? 'debug',
    ...(tls ? [] : ['--plain-http']),
    ...(options.systemId ? ['--system-id', options.systemId] : []),
    ...(options.hosts ?? []).flatMap((h) => ['--host', `${h.name}=${h.guid}`]),
    ...(options.extraArgs ?? []),
  ];

  const launch = async (): Promise<void> => {
    const proc = spawn(process.execPath, args(), { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    let pending = '';
    let listening: string | undefined;
    proc.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as { msg?: string; url?: string };
          if (entry.msg === 'ferry pool listening' && entry.url) listening = entry.url;
        } catch {
          // Not a log line.
        }
      }
    });
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const started = Date.now();
    while (listening === undefined) {
      if (proc.exitCode !== null || proc.signalCode !== null || Date.now() - started > START_TIMEOUT_MS) {
        proc.kill('SIGKILL');
        await exited;
        throw new Error(`ferry pool did not start:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    url = listening;
    port = Number(new URL(url).port);
    // Listening is logged after listen(); still, wait for an answer as a client would.
    for (;;) {
      try {
        const answer = await request('GET', '/api/version', { auth: 'none', timeoutMs: 2000 });
        if (answer.status === 200) break;
      } catch {
        // Not yet.
      }
      if (Date.now() - started > START_TIMEOUT_MS) throw new Error(`ferry pool does not answer /api/version:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const caFile = tls ? path.join(dataDir, 'tls', 'cert.pem') : undefined;

  const request = <T>(
    method: string,
    urlPath: string,
    opts: { body?: unknown; auth?: Auth; timeoutMs?: number } = {},
  ): Promise<HttpResult<T>> => {
    const auth = opts.auth ?? 'admin';
    const headers: Record<string, string> = { Accept: 'application/json' };
    const basic = (user: string, secret: string): string => `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
    if (auth === 'admin') headers.Authorization = basic(username, password);
    else if (auth !== 'none' && 'token' in auth) headers.Authorization = basic(username, auth.token);
    else if (auth !== 'none' && 'bearer' in auth) headers.Authorization = `Bearer ${auth.bearer}`;
    else if (auth !== 'none') headers.Authorization = basic(auth.user, auth.password);
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    const target = new URL(urlPath, url);
    const send = tls ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        target,
        { method, headers, timeout: opts.timeoutMs ?? 60_000, ...(tls && caFile ? { ca: readFileSync(caFile) } : {}) },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            let body: unknown = text;
            try {
              body = text === '' ? undefined : JSON.parse(text);
            } catch {
              // Not JSON: keep the text.
            }
            resolve({ status: res.statusCode ?? 0, body: body as T, text });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  };

  const login = async (): Promise<string> => {
    const answer = await request<string>('GET', '/api/login', { auth: 'admin' });
    if (answer.status !== 200 || typeof answer.body !== 'string') throw new Error(`login failed: ${answer.status} ${answer.text}`);
    return answer.body;
  };

  const waitExit = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };

  const loopDevices = async (): Promise<LoopDevice[]> => devicesUnder(await listLoopDevices(), dataDir);

  const handle: PoolProcess = {
    get url() {
      return url;
    },
    username,
    password,
    dataDir,
    caFile,
    get pid() {
      return child?.pid;
    },
    output: () => output,
    request,
    login,
    api: async <T>(method: string, urlPath: string, body?: unknown): Promise<HttpResult<T>> => {
      token ??= await login();
      let answer = await request<T>(method, urlPath, { body, auth: { token } });
      if (answer.status === 401) {
        token = await login();
        answer = await request<T>(method, urlPath, { body, auth: { token } });
      }
      return answer;
    },
    loopDevices,
    stop: () => waitExit('SIGTERM'),
    kill9: () => waitExit('SIGKILL'),
    restart: async () => {
      await waitExit('SIGTERM');
      token = undefined;
      await launch();
    },
    cleanup: async () => {
      if (cleaned) return;
      cleaned = true;
      live.delete(handle);
      await waitExit('SIGTERM');
      for (const device of await loopDevices()) {
        await detachLoop(device.name).catch(() => undefined);
      }
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
  live.add(handle);
  try {
    await launch();
  } catch (err) {
    await handle.cleanup();
    throw err;
  }
  return handle;
}

/** The `backends:` part of a driver config for one PowerFlex backend named `pool` on this pool, plus `extra` keys. */
export function powerFlexBackendYaml(pool: Pick<PoolProcess, 'url' | 'username' | 'password'>, extra: readonly string[] = []): string[] {
  return [
    'backends:',
    '  - name: pool',
    '    type: powerflex',
    `    endpoint: ${pool.url}`,
    `    username: ${pool.username}`,
    `    password: ${pool.password}`,
    '    storagePool: pool1',
    ...extra.map((line) => `    ${line}`),
  ];
}
