import { Server, ServerCredentials } from '@grpc/grpc-js';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { ControllerHandlers } from '../gen/csi/v1/Controller.js';
import type { GroupControllerHandlers } from '../gen/csi/v1/GroupController.js';
import type { IdentityHandlers } from '../gen/csi/v1/Identity.js';
import type { NodeHandlers } from '../gen/csi/v1/Node.js';
import { loadCsi } from '../grpc/csi-package.js';
import type { Logger } from '../util/log.js';
import { grpcAddress, type Endpoint } from './endpoint.js';
import { buildService, withCallerDecodingErrors, type HandlerDeps, type ServiceImpl } from './handler.js';
import type { InflightKeys } from './inflight.js';
import type { DriverMetrics } from './metrics.js';

/** The service implementations to serve: Identity always, Controller (and GroupController) and Node by mode. */
export interface CsiServices {
  identity: ServiceImpl<IdentityHandlers>;
  controller?: ServiceImpl<ControllerHandlers>;
  /** Only with a backend that takes group snapshots: otherwise its calls answer UNIMPLEMENTED, as for any unserved service. */
  groupController?: ServiceImpl<GroupControllerHandlers>;
  node?: ServiceImpl<NodeHandlers>;
}

export interface CsiServerOptions {
  endpoint: Endpoint;
  services: CsiServices;
  log: Logger;
  metrics: DriverMetrics;
  /** Shared with anything else that acts on volumes (the stale-volume sweeper), so they never act at once. */
  inflight: InflightKeys;
  /** Logged once at start. */
  describe: Record<string, string>;
}

/**
 * The gRPC server: Identity always, Controller and Node by mode. Owns the socket file: a stale one is
 * removed at start, the new one is mode 0660, and it is removed again on stop.
 */
export class CsiServer {
  private readonly server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  private boundPort: number | undefined;
  /** Only a socket this server created is ever removed: a failed start must not delete someone else's file. */
  private ownsSocket = false;

  constructor(private readonly options: CsiServerOptions) {
    const { grpc } = loadCsi();
    const deps: HandlerDeps = { log: options.log, metrics: options.metrics, inflight: options.inflight };
    const { identity, controller, groupController, node } = options.services;
    // Undecodable bytes are the caller's mistake (INVALID_ARGUMENT), not grpc-js's INTERNAL.
    const identityDef = withCallerDecodingErrors(grpc.csi.v1.Identity.service);
    const controllerDef = withCallerDecodingErrors(grpc.csi.v1.Controller.service);
    const groupControllerDef = withCallerDecodingErrors(grpc.csi.v1.GroupController.service);
    const nodeDef = withCallerDecodingErrors(grpc.csi.v1.Node.service);
    this.server.addService(identityDef, buildService<IdentityHandlers>(identityDef, identity, deps));
    if (controller) this.server.addService(controllerDef, buildService<ControllerHandlers>(controllerDef, controller, deps));
    if (groupController) this.server.addService(groupControllerDef, buildService<GroupControllerHandlers>(groupControllerDef, groupController, deps));
    if (node) this.server.addService(nodeDef, buildService<NodeHandlers>(nodeDef, node, deps));
  }

  /** The TCP port actually bound (useful with tcp://host:0). */
  get port(): number | undefined {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const { endpoint } = this.options;
    if (endpoint.kind === 'unix') {
      await mkdir(path.dirname(endpoint.path), { recursive: true });
      await removeStaleSocket(endpoint.path);
    }
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(grpcAddress(endpoint), ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    if (endpoint.kind === 'unix') {
      this.ownsSocket = true;
      await chmod(endpoint.path, 0o660);
    }
    this.options.log.info({ endpoint: grpcAddress(endpoint), ...this.options.describe }, 'serving CSI');
  }

  /**
   * Stops accepting calls, lets the ones in flight finish until `graceMs` passes, then cuts the rest,
   * and removes the socket file.
   */
  async stop(graceMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.options.log.warn({ graceMs }, 'calls still in flight after the grace period: cancelling them');
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (this.options.endpoint.kind === 'unix' && this.ownsSocket) {
      this.ownsSocket = false;
      await unlink(this.options.endpoint.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
  }
}

async function removeStaleSocket(socketPath: string): Promise<void> {
  let stat;
  try {
    stat = await lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stat.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to remove it`);
  await unlink(socketPath);
}
