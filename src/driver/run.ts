import type { Server as HttpServer } from 'node:http';
import { createBackends } from '../backends/factory.js';
import { loadConfig } from '../config/load.js';
import { configSchema, type FerryConfig } from '../config/schema.js';
import { CsiServer } from '../server/csi-server.js';
import { DriverMetrics, serveMetrics } from '../server/metrics.js';
import { createLogger } from '../util/log.js';
import { VERSION } from '../version.js';
import type { DriverOptions } from './options.js';

/**
 * `ferry driver`: builds the real dependencies from validated options and serves until SIGTERM/SIGINT.
 * Configuration errors surface before anything listens (the CLI turns them into exit status 2).
 */
export async function runDriver(options: DriverOptions): Promise<void> {
  const config: FerryConfig = options.configFile ? await loadConfig(options.configFile) : configSchema.parse({});
  const log = createLogger(options.logLevel);
  const metrics = new DriverMetrics();
  const backends = await createBackends(config.backends, log);
  const server = new CsiServer({
    endpoint: options.endpoint,
    mode: options.mode,
    driverName: options.driverName,
    version: VERSION,
    nodeId: options.nodeId,
    backends,
    log,
    metrics,
  });
  let metricsServer: HttpServer | undefined;
  try {
    await server.start();
    if (options.metricsAddress) {
      const served = await serveMetrics(metrics.registry, options.metricsAddress);
      metricsServer = served.server;
      log.info({ address: options.metricsAddress, port: served.port }, 'serving metrics');
    }
  } catch (err) {
    await server.stop(0).catch(() => undefined);
    await Promise.allSettled(backends.map((b) => b.close()));
    throw err;
  }

  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal, graceMs: options.shutdownGraceMs }, 'shutting down: no new calls, finishing those in flight');
      void (async () => {
        await server.stop(options.shutdownGraceMs);
        await new Promise<void>((done) => (metricsServer ? metricsServer.close(() => done()) : done()));
        await Promise.allSettled(backends.map((b) => b.close()));
        log.info('stopped');
        resolve();
      })();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
