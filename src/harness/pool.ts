import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { hostByIdDir } from '../pool/paths.js';
import { ChildService, describeExit } from './child.js';
import { sleep } from './wait.js';

export interface PoolHost {
  name: string;
  /** SDC GUID: the CSI node id of that host's node plugin. */
  guid: string;
}

export interface StartPoolOptions {
  /** process.execPath and the CLI entry (see cli-entry.ts). */
  node: string;
  cli: string;
  /** The pool's data directory (created by the pool). */
  dataDir: string;
  /** Where the gateway password is written (mode 0600); the driver configs point at it. */
  passwordFile: string;
  hosts: readonly PoolHost[];
  /** HTTPS with the pool's self-signed certificate (its own CA), or plain HTTP. */
  tls: boolean;
  capacity: string;
  logFile: string;
  verbose: boolean;
  readyTimeoutMs?: number;
  /** host:port to serve on (default 127.0.0.1 and a free port). */
  listen?: string;
}

export interface PoolHandle {
  readonly url: string;
  readonly username: string;
  readonly passwordFile: string;
  /** The certificate to trust (TLS only). */
  readonly caFile: string | undefined;
  /** As the pool spells it (real path): loop devices report their backing files under it. */
  readonly dataDir: string;
  readonly systemId: string;
  readonly process: ChildService;
  /** Where a host's mapped volumes appear (its /dev/disk/by-id). */
  byIdDir(guid: string): string;
  /** SIGTERM and wait; rejects when the pool did not exit 0. */
  stop(): Promise<void>;
}

interface ListeningLine {
  msg?: unknown;
  url?: unknown;
  dataDir?: unknown;
  systemId?: unknown;
  certFile?: unknown;
}

const USERNAME = 'admin';

/** Starts `ferry pool` on a free port; resolves once GET /api/version answers 200. */
export async function startPool(options: StartPoolOptions): Promise<PoolHandle> {
  await writeFile(options.passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  let listening: ListeningLine | undefined;
  const child = await ChildService.start({
    name: 'pool',
    command: options.node,
    args: [
      options.cli,
      'pool',
      '--listen',
      options.listen ?? '127.0.0.1:0',
      '--data-dir',
      options.dataDir,
      '--username',
      USERNAME,
      '--password-file',
      options.passwordFile,
      '--capacity',
      options.capacity,
      '--log-level',
      'info',
      ...(options.tls ? [] : ['--plain-http']),
      ...options.hosts.flatMap((h) => ['--host', `${h.name}=${h.guid}`]),
    ],
    logFile: options.logFile,
    verbose: options.verbose,
    onLine: (line) => {
      if (listening || !line.startsWith('{')) return;
      try {
        const entry = JSON.parse(line) as ListeningLine;
        if (entry.msg === 'ferry pool listening') listening = entry;
      } catch {
        // Not a log line.
      }
    },
  });

  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const started = Date.now();
  const failure = (why: string): Error => new Error(`ferry pool ${why}; its last lines:\n${child.tail(15).join('\n')}`);
  try {
    while (!listening) {
      if (!child.running) throw failure(`stopped (${describeExit(await child.exited)}) before it listened`);
      if (Date.now() - started > timeoutMs) throw failure(`did not listen within ${timeoutMs / 1000} s`);
      await sleep(25);
    }
    const { url, dataDir, systemId, certFile } = listening;
    if (typeof url !== 'string' || typeof dataDir !== 'string' || typeof systemId !== 'string') {
      throw failure('logged "ferry pool listening" without url, dataDir and systemId');
    }
    const caFile = typeof certFile === 'string' ? certFile : undefined;
    const ca = caFile === undefined ? undefined : await readFile(caFile);
    // Listening is logged after listen(); still, wait for an answer as a client would.
    for (;;) {
      const answer = await getStatus(new URL('/api/version', url), ca).catch(() => 0);
      if (answer === 200) break;
      if (!child.running) throw failure(`stopped (${describeExit(await child.exited)}) before it answered`);
      if (Date.now() - started > timeoutMs) throw failure(`does not answer GET /api/version (last status ${answer})`);
      await sleep(50);
    }
    return {
      url,
      username: USERNAME,
      passwordFile: options.passwordFile,
      caFile,
      dataDir,
      systemId,
      process: child,
      byIdDir: (guid) => hostByIdDir(dataDir, guid),
      stop: async () => {
        const wasRunning = child.running;
        const exit = await child.stop();
        if (!wasRunning) throw new Error(`ferry pool had stopped already (${describeExit(exit)}); see ${options.logFile}`);
        if (exit.code !== 0) throw new Error(`ferry pool ended with ${describeExit(exit)} on SIGTERM, not exit 0; see ${options.logFile}`);
      },
    };
  } catch (err) {
    await child.stop(5_000);
    throw err;
  }
}

/** The HTTP status of a GET (TLS verified against `ca` when given). */
function getStatus(url: URL, ca: Buffer | undefined): Promise<number> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: 'GET', timeout: 2_000, ...(ca ? { ca } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url.href}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

