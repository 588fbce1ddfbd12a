import { access, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { DRIVER_ENV, DRIVER_NODE_OPTIONS } from '../driver/runtime-settings.js';
import { ChildService, describeExit } from './child.js';
import { call, csiClients, type CsiClients } from './csi-client.js';
import type { PoolHandle } from './pool.js';
import { sleep } from './wait.js';

/** The name of the one backend in the configurations written here (the first part of every volume id). */
export const BACKEND_NAME = 'pool';

export interface NodeSettings {
  /** The host's SDC GUID (its CSI node id). */
  sdcGuid: string;
  /** The host's by-id directory in the pool (PoolHandle.byIdDir). */
  deviceDir: string;
  stateDir: string;
  /** Where the staging and publish paths the harness uses lie (node.kubeletRoots). */
  kubeletRoots: string[];
}

/** A `ferry driver` configuration for `pool`: the backend, and the node settings for a node plugin. */
export async function writeDriverConfig(file: string, pool: PoolHandle, node?: NodeSettings, backendSettings: Record<string, unknown> = {}): Promise<void> {
  const config = {
    backends: [
      {
        name: BACKEND_NAME,
        type: 'powerflex',
        endpoint: pool.url,
        username: pool.username,
        passwordFile: pool.passwordFile,
        ...(pool.caFile === undefined ? {} : { caFile: pool.caFile }),
        storagePool: 'pool1',
        ...backendSettings,
      },
    ],
    ...(node === undefined ? {} : { node: { sdcGuid: node.sdcGuid, deviceDir: node.deviceDir, stateDir: node.stateDir, deviceWaitSeconds: 30, kubeletRoots: node.kubeletRoots } }),
  };
  await writeFile(file, stringify(config), { mode: 0o600 });
}

/**
 * A node plugin's configuration, as the chart renders it: the backend names its system and holds no login (a node
 * plugin never calls the gateway), and the node settings.
 */
export async function writeNodeConfig(file: string, pool: PoolHandle, node: NodeSettings): Promise<void> {
  const config = {
    backends: [{ name: BACKEND_NAME, type: 'powerflex', endpoint: pool.url, systemId: pool.systemId, storagePool: 'pool1' }],
    node: { sdcGuid: node.sdcGuid, deviceDir: node.deviceDir, stateDir: node.stateDir, deviceWaitSeconds: 30, kubeletRoots: node.kubeletRoots },
  };
  await writeFile(file, stringify(config), { mode: 0o600 });
}

export interface StartDriverOptions {
  node: string;
  cli: string;
  /** Short name for messages and log prefixes: "controller", "node01". */
  name: string;
  mode: 'controller' | 'node' | 'all';
  socket: string;
  configFile: string;
  logFile: string;
  verbose: boolean;
  logLevel?: string;
  readyTimeoutMs?: number;
  /** Node.js flags for the driver process, before the CLI entry (e.g. --cpu-prof for a benchmark's profile). */
  nodeFlags?: readonly string[];
}

export interface DriverHandle {
  readonly name: string;
  readonly socket: string;
  readonly process: ChildService;
  readonly clients: CsiClients;
  /** Closes the clients, SIGTERM, waits; rejects when the driver did not exit 0. */
  stop(): Promise<void>;
}

/** Starts `ferry driver`; resolves once Probe answers ready (every backend passed its health check). */
export async function startDriver(options: StartDriverOptions): Promise<DriverHandle> {
  const child = await ChildService.start({
    name: options.name,
    command: options.node,
    // As the image runs it (Dockerfile ENV): the same heap and threadpool settings.
    env: { ...process.env, ...DRIVER_ENV },
    args: [
      ...DRIVER_NODE_OPTIONS,
      ...(options.nodeFlags ?? []),
      options.cli,
      'driver',
      '--mode',
      options.mode,
      '--endpoint',
      `unix://${options.socket}`,
      '--config',
      options.configFile,
      '--node-id',
      options.name,
      '--log-level',
      options.logLevel ?? 'info',
      '--shutdown-grace-seconds',
      '10',
    ],
    logFile: options.logFile,
    verbose: options.verbose,
  });
  const clients = csiClients(options.socket);
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const started = Date.now();
  const failure = (why: string): Error => new Error(`${options.name} (ferry driver --mode ${options.mode}) ${why}; its last lines:\n${child.tail(15).join('\n')}`);
  try {
    let last = 'no answer yet';
    for (;;) {
      if (!child.running) throw failure(`stopped (${describeExit(await child.exited)}) before it was ready`);
      if (Date.now() - started > timeoutMs) throw failure(`was not ready within ${timeoutMs / 1000} s (${last})`);
      const exists = await access(options.socket).then(
        () => true,
        () => false,
      );
      if (exists) {
        try {
          const probe = await call(clients.identity, 'Probe', {}, 5_000);
          if (probe.ready?.value === true) break;
          last = 'Probe answered not ready';
        } catch (err) {
          last = err instanceof Error ? err.message : String(err);
        }
      }
      await sleep(50);
    }
  } catch (err) {
    clients.close();
    await child.stop(5_000);
    throw err;
  }
  return {
    name: options.name,
    socket: options.socket,
    process: child,
    clients,
    stop: async () => {
      clients.close();
      const wasRunning = child.running;
      const exit = await child.stop();
      if (!wasRunning) throw new Error(`${options.name} had stopped already (${describeExit(exit)}); see ${options.logFile}`);
      if (exit.code !== 0) throw new Error(`${options.name} ended with ${describeExit(exit)} on SIGTERM, not exit 0; see ${options.logFile}`);
    },
  };
}
