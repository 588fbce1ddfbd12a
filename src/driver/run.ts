import type { Server as HttpServer } from 'node:http';
import path from 'node:path';
import { createBackends } from '../backends/factory.js';
import { errorMessage } from '../errors.js';
import { loadConfig } from '../config/load.js';
import { configSchema, type FerryConfig } from '../config/schema.js';
import { ControllerInfoService, ControllerService } from '../csi/controller.js';
import { GroupControllerService, offersGroupSnapshots } from '../csi/group-controller.js';
import { IdentityService } from '../csi/identity.js';
import { NodeInfoService, NodeService } from '../csi/node.js';
import { BackendRegistry } from '../csi/registry.js';
import { NodeVolumes } from '../node/node-volumes.js';
import { StaleSweeper } from '../node/stale-sweeper.js';
import { NodeStateStore } from '../node/state-store.js';
import { CsiServer, type CsiServices } from '../server/csi-server.js';
import { InflightKeys } from '../server/inflight.js';
import { DriverMetrics, serveMetrics } from '../server/metrics.js';
import { ChildLedger, CHILD_LEDGER_DIR, installChildLedger } from '../util/child-ledger.js';
import { createLogger, type Logger } from '../util/log.js';
import { VERSION } from '../version.js';
import { applyDriverV8Flags } from './runtime-settings.js';
import { checkConfigForMode } from './config-for-mode.js';
import { armExitDeadline, EXIT_MARGIN_MS } from './exit-deadline.js';
import { insecureSettings } from './insecure-settings.js';
import { resolveNodeId } from './node-identity.js';
import type { DriverOptions } from './options.js';
import { KubernetesParts } from './kubernetes.js';
import { LoggingPreemptionRecorder } from './preemption-recorder.js';

/** The composition root of `ferry driver`: the only place that builds real dependencies. */
interface Built {
  services: CsiServices;
  sweeper: StaleSweeper | undefined;
}

async function buildServices(
  options: DriverOptions,
  config: FerryConfig,
  registry: BackendRegistry,
  log: Logger,
  metrics: DriverMetrics,
  inflight: InflightKeys,
  kube: KubernetesParts | undefined,
): Promise<Built> {
  let sweeper: StaleSweeper | undefined;
  const controllerOn = options.mode !== 'node';
  const nodeOn = options.mode !== 'controller';
  const groupOn = controllerOn && offersGroupSnapshots(registry.all);
  const services: CsiServices = {
    identity: new IdentityService({ driverName: options.driverName, version: VERSION, controller: controllerOn, groupController: groupOn, backends: registry.all }),
  };
  if (controllerOn) {
    services.controller = registry.empty ? new ControllerInfoService() : new ControllerService(registry);
    if (groupOn) services.groupController = new GroupControllerService(registry);
    kube?.startFailover(registry.all, metrics);
  }
  if (nodeOn) {
    // Before anything else runs a command: end what a killed predecessor left running.
    const ledger = new ChildLedger(path.join(config.node.stateDir, CHILD_LEDGER_DIR));
    await ledger.sweep(log.child({ component: 'child-ledger' }));
    installChildLedger(ledger);
    const needsSdc = registry.all.some((b) => b.type === 'powerflex');
    const nodeId = await resolveNodeId(config.node, needsSdc, options.nodeId, log);
    const nodeOptions = { nodeId, maxVolumes: config.node.maxVolumes, kubeletRoots: config.node.kubeletRoots };
    if (registry.empty) {
      services.node = new NodeInfoService(nodeOptions);
    } else {
      const volumes = new NodeVolumes(new NodeStateStore(config.node.stateDir), config.node.deviceWaitSeconds * 1000);
      // Before serving: a node back from the dead lets go of what was taken over while it was away.
      sweeper = new StaleSweeper(volumes, log.child({ component: 'stale-sweeper' }), metrics, inflight);
      await sweeper.sweep();
      sweeper.start(config.node.cleanupIntervalSeconds * 1000);
      services.node = new NodeService(nodeOptions, registry, volumes);
    }
    log.info({ nodeId }, 'node identity');
    // A node with nothing to sweep is clean from the start.
    const startedAt = new Date();
    const nodeSweeper = sweeper;
    const cleanState = nodeSweeper ? () => nodeSweeper.state() : () => ({ clean: true, cleanAt: startedAt });
    await kube?.startHeartbeat(nodeId, cleanState);
  }
  return { services, sweeper };
}

/**
 * `ferry driver`: serves until SIGTERM/SIGINT. Configuration errors surface before anything listens (the CLI turns
 * them into exit status 2).
 */
export async function runDriver(options: DriverOptions): Promise<void> {
  applyDriverV8Flags();
  const config: FerryConfig = options.configFile ? await loadConfig(options.configFile) : configSchema.parse({});
  checkConfigForMode(config, options.mode, options.configFile ?? '(no config file)');
  const log = createLogger(options.logLevel);
  for (const warning of insecureSettings(config, options.endpoint, options.mode)) log.warn({ insecure: true }, warning);
  const metrics = new DriverMetrics();
  const kube = await KubernetesParts.create(options.kube, options.driverName, log);
  const backends = await createBackends(config.backends, config.node, log, {
    recorder: new LoggingPreemptionRecorder(log, metrics, kube?.events),
    ...(kube ? { liveness: kube.liveness, volumeClasses: kube.volumeClasses } : {}),
    nodeOnly: options.mode === 'node',
  });
  let server: CsiServer | undefined;
  let sweeper: StaleSweeper | undefined;
  let metricsServer: HttpServer | undefined;
  // Listened for before anything serves: a SIGTERM just after "serving CSI" (a pod deleted as it starts) is a graceful
  // stop once start-up is done, never death by the default action with the socket and calls left as they were.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  try {
    const inflight = new InflightKeys(60_000, metrics);
    const built = await buildServices(options, config, new BackendRegistry(backends), log, metrics, inflight, kube);
    sweeper = built.sweeper;
    const services = built.services;
    server = new CsiServer({ endpoint: options.endpoint, services, log, metrics, inflight, describe: { mode: options.mode, driver: options.driverName } });
    await server.start();
    if (options.metricsAddress) {
      const served = await serveMetrics(metrics.registry, options.metricsAddress);
      metricsServer = served.server;
      log.info({ address: options.metricsAddress, port: served.port }, 'serving metrics');
    }
  } catch (err) {
    await kube?.stop();
    await sweeper?.stop();
    await server?.stop(0).catch(() => undefined);
    await Promise.allSettled(backends.map((b) => b.close()));
    throw err;
  }
  const running = server;

  const signal = await stopSignal;
  log.info({ signal, graceMs: options.shutdownGraceMs }, 'shutting down: no new calls, finishing those in flight');
  let stopped = false;
  armExitDeadline(log, options.shutdownGraceMs + EXIT_MARGIN_MS, () => stopped);
  await running.stop(options.shutdownGraceMs);
  // The rest (Lease deletion, backend logout, metrics connections) gets part of the margin, not the deadline.
  const rest = (async () => {
    await kube?.stop();
    await sweeper?.stop();
    await new Promise<void>((done) => (metricsServer ? metricsServer.close(() => done()) : done()));
    await Promise.allSettled(backends.map((b) => b.close()));
  })();
  let timer: NodeJS.Timeout | undefined;
  const finished = await Promise.race([rest.then(() => true, (err: unknown) => (log.warn({ err: errorMessage(err) }, 'a shutdown step failed'), true)), new Promise<false>((r) => (timer = setTimeout(() => r(false), EXIT_MARGIN_MS / 2)))]);
  clearTimeout(timer);
  if (!finished) log.warn({ ms: EXIT_MARGIN_MS / 2 }, 'shutdown steps (Lease, backend logout, metrics) unfinished: leaving them');
  stopped = true;
  log.info('stopped');
}
