import { mkdir, realpath } from 'node:fs/promises';
import { createLogger, type Logger } from '../util/log.js';
import { Tokens } from './auth.js';
import { Faults } from './faults.js';
import type { PoolOptions } from './options.js';
import { Pool } from './pool.js';
import { startServer, type PoolServer } from './server.js';
import { Stats } from './stats.js';
import { certificateNames, ensureCertificate } from './tls.js';

export interface RunningPool {
  pool: Pool;
  server: PoolServer;
  stop(): Promise<void>;
}

/** Opens the pool (reconciling what a previous run left) and serves it. */
export async function startPool(given: PoolOptions, logger: Logger): Promise<RunningPool> {
  await mkdir(given.dataDir, { recursive: true, mode: 0o700 });
  // losetup reports backing files by their real path: the data directory must be spelt the same way, or
  // reconciliation would not recognise our own loop devices behind a symlinked path.
  const options: PoolOptions = { ...given, dataDir: await realpath(given.dataDir) };
  const pool = await Pool.open({
    dataDir: options.dataDir,
    capacityBytes: options.capacityBytes,
    systemId: options.systemId,
    systemName: options.systemName,
    protectionDomain: options.protectionDomain,
    storagePool: options.storagePool,
    hosts: options.hosts,
    logger,
  });
  const certificate = options.tls ? await ensureCertificate(options.dataDir, certificateNames(options.host), logger) : undefined;
  const server = await startServer(
    { pool, tokens: new Tokens(options.tokenIdleTimeoutMs), stats: new Stats(), faults: new Faults(), options, logger },
    certificate,
  );
  logger.info(
    {
      url: server.url,
      dataDir: options.dataDir,
      systemId: pool.current().systemId,
      username: options.username,
      certFile: certificate?.certFile,
      fingerprint256: certificate?.fingerprint256,
    },
    'ferry pool listening',
  );
  return {
    pool,
    server,
    // Loop devices stay attached on purpose: hosts may be using them, and the next start adopts them.
    stop: async () => {
      await server.close();
      await pool.close();
    },
  };
}

/** `ferry pool`: serves until SIGTERM or SIGINT. */
export async function runPool(options: PoolOptions): Promise<void> {
  const logger = createLogger(options.logLevel, 'ferry-pool');
  if (options.passwordGenerated) {
    // Said once on the terminal, never logged: the log redacts passwords, and an operator needs this one to log in.
    process.stderr.write(`ferry pool: no password given; generated one for user "${options.username}": ${options.password}\n`);
  }
  const running = await startPool(options, logger);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      logger.info({ signal }, 'stopping');
      running.stop().then(
        () => {
          logger.info('stopped');
          resolve();
        },
        (err: unknown) => {
          logger.error({ err }, 'error while stopping');
          resolve();
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
