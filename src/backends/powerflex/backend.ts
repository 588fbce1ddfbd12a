import { ComposedBackend } from '../composed-backend.js';
import { access, constants, readFile } from 'node:fs/promises';
import { DomainError, errorMessage } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import type { NodeConfig } from '../../config/node.js';
import { exec } from '../../util/exec.js';
import type {
  Backend,
  BackendHooks,
  Capability,
  NodeSource,
  OpContext,
} from '../backend.js';
import { Catalog, topologyOf } from './catalog.js';
import { PowerFlexClient } from './client.js';
import { POWERFLEX_PARAMETER_KEYS } from './parameters.js';
import { Provisioner } from './provisioner.js';
import { PowerFlexNodeFencer } from './node-fencer.js';
import { Publisher } from './publisher.js';
import { MappingQos } from './mapping-qos.js';
import type { QosLimits } from '../../parameters/qos.js';
import { Snapshotter } from './snapshotter.js';
import { GroupSnapshotter } from './group-snapshotter.js';
import { parseLocalId } from './volume-id.js';
import type { PowerFlexBackendConfig } from './config.js';
import type { ResolvedPool } from './systems.js';
import type { System } from './types.js';

/** Where the backend's volumes go: resolved from the config's names (or ids) by checkHealth. */
export interface PowerFlexTarget extends ResolvedPool {
  system: System;
}

/**
 * Builds a backend after checking that its password and CA files are readable, so a wrong path fails start-up with
 * a clear message rather than the first health check. The files are still read at use (see PowerFlexBackend).
 */
export async function createPowerFlexBackend(config: PowerFlexBackendConfig, node: NodeConfig, log: Logger, hooks: BackendHooks = {}): Promise<PowerFlexBackend> {
  const gatewayFiles = [
    ['passwordFile', config.passwordFile],
    ['caFile', config.caFile],
  ] as const;
  for (const [key, file] of nodeSideSystemId(config, hooks) === undefined ? gatewayFiles : []) {
    if (file === undefined) continue;
    try {
      await access(file, constants.R_OK);
    } catch (err) {
      throw new DomainError('invalid-argument', `backend ${config.name}: cannot read ${key} ${file}: ${errorMessage(err)}`, { cause: err });
    }
  }
  return new PowerFlexBackend(config, node, log, hooks);
}

/**
 * A PowerFlex gateway (or `ferry pool`) as a Ferry backend. The constructor touches nothing: the password file is
 * read at every login (a rotated Secret is picked up) and the CA file at the first request. `log` is expected to be
 * bound to the backend already (the factory does it).
 */
export class PowerFlexBackend extends ComposedBackend implements Backend {
  readonly name: string;
  readonly type = 'powerflex' as const;
  readonly client: PowerFlexClient;
  readonly parameterKeys = POWERFLEX_PARAMETER_KEYS;
  private resolved: PowerFlexTarget | undefined;
  protected readonly volumes: Provisioner;
  protected readonly publishing: Publisher;
  protected readonly snapshots: Snapshotter;
  readonly groupSnapshots: GroupSnapshotter;
  readonly nodeFencing: PowerFlexNodeFencer;
  private readonly qos: MappingQos;
  /** Set on a node plugin whose config names the system: then nothing here ever calls the gateway. */
  private readonly nodeSystemId: string | undefined;

  constructor(
    private readonly config: PowerFlexBackendConfig,
    private readonly node: NodeConfig,
    log: Logger,
    hooks: BackendHooks = {},
  ) {
    super();
    this.name = config.name;
    this.nodeSystemId = nodeSideSystemId(config, hooks);
    this.client = new PowerFlexClient({
      endpoint: config.endpoint,
      credentials: { username: config.username ?? '', password: passwordSource(config) },
      insecure: config.insecure,
      ...(config.caFile === undefined ? {} : { caFile: config.caFile }),
      timeoutMs: Math.round(config.requestTimeoutSeconds * 1000),
      logger: log,
    });
    const system = (ctx: OpContext): Promise<System> => this.system(ctx);
    const catalog = new Catalog(this.client, async (ctx) => (await system(ctx)).id);
    this.volumes = new Provisioner({
      client: this.client,
      catalog,
      system,
      defaults: { storagePool: config.storagePool, protectionDomain: config.protectionDomain, thinOrThick: config.thinOrThick },
    });
    this.qos = new MappingQos(this.client, catalog, hooks.volumeClasses);
    this.publishing = new Publisher(this.client, catalog, {
      qos: this.qos,
      maxVolumesPerNode: config.maxVolumesPerNode,
      defaultPreemption: config.preemption,
      confirmWindowMs: Math.round(config.preemptionConfirmSeconds * 1000),
      recorder: hooks.recorder,
      liveness: hooks.liveness,
    });
    this.snapshots = new Snapshotter(this.client, catalog, system);
    this.groupSnapshots = new GroupSnapshotter(this.client, catalog, system);
    this.nodeFencing = new PowerFlexNodeFencer(this.client, system, Math.round(config.preemptionConfirmSeconds * 1000));
  }

  /**
   * Filesystem volumes are single-writer (one host mounts a filesystem at a time) or read-only on many hosts;
   * raw block volumes may be shared by writers who coordinate themselves (clustered databases), as in Dell's driver.
   */
  supports(capability: Capability): boolean {
    if (capability.accessType === 'block') return true;
    return capability.accessMode !== 'MULTI_NODE_MULTI_WRITER' && capability.accessMode !== 'MULTI_NODE_SINGLE_WRITER';
  }

  modifyVolume(id: string, limits: QosLimits, ctx: OpContext): Promise<void> {
    return this.qos.modify(id, limits, ctx);
  }

  /** The SDC shows a mapped volume as `<deviceDir>/emc-vol-<systemId>-<volumeId>`, after a moment. */
  nodeSource(volumeId: string): NodeSource {
    const ref = parseLocalId(volumeId);
    const [program, ...args] = this.node.sdcRescanCommand;
    return {
      kind: 'block',
      devicePath: `${this.node.deviceDir}/emc-vol-${ref.systemId}-${ref.volumeId}`,
      rescan: async (ctx: OpContext) => {
        if (program === undefined) return;
        // Hosts without the SDC tools (ferry pool, tests) have nothing to rescan.
        if (program.startsWith('/') && !(await access(program, constants.X_OK).then(() => true, () => false))) return;
        await exec(program, args, { timeoutMs: 10_000, signal: ctx.signal, logger: ctx.log });
      },
    };
  }

  async nodeTopology(ctx: OpContext): Promise<Record<string, string>> {
    if (this.nodeSystemId !== undefined) return topologyOf(this.nodeSystemId);
    return topologyOf((await this.system(ctx)).id);
  }

  /** The system, resolved once and then kept: its id never changes under a running backend. */
  private async system(ctx: OpContext): Promise<System> {
    return (this.resolved ?? (await this.resolveTarget(ctx.signal))).system;
  }

  /** The target as of the last successful health check, if any. */
  get target(): PowerFlexTarget | undefined {
    return this.resolved;
  }

  /** Logs in (or reuses the token), reads the system and resolves the configured protection domain and pool. */
  async checkHealth(signal: AbortSignal): Promise<void> {
    // A node plugin has no connection to the storage system to check: its SDC (a kernel driver) is the host's, and the
    // device directory may not exist before the first volume is mapped here.
    if (this.nodeSystemId !== undefined) return;
    await this.resolveTarget(signal);
  }

  async resolveTarget(signal?: AbortSignal): Promise<PowerFlexTarget> {
    const options = signal === undefined ? {} : { signal };
    const system = await this.resolveSystem(options);
    const pool = await this.client.systems.resolveStoragePool(
      {
        storagePool: this.config.storagePool,
        systemId: system.id,
        ...(this.config.protectionDomain === undefined ? {} : { protectionDomain: this.config.protectionDomain }),
      },
      options,
    );
    this.resolved = { system, ...pool };
    return this.resolved;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async resolveSystem(options: { signal?: AbortSignal }): Promise<System> {
    if (this.config.systemId !== undefined) {
      try {
        return await this.client.systems.getSystem(this.config.systemId, options);
      } catch (err) {
        if (err instanceof DomainError && err.kind === 'not-found') {
          throw new DomainError('not-found', `backend ${this.name}: system ${this.config.systemId} is not on the gateway`, { cause: err });
        }
        throw err;
      }
    }
    const systems = await this.client.systems.listSystems(options);
    const [only, second] = systems;
    if (only === undefined) throw new DomainError('failed-precondition', `backend ${this.name}: the gateway manages no system`);
    if (second !== undefined) {
      throw new DomainError(
        'failed-precondition',
        `backend ${this.name}: the gateway manages ${systems.length} systems (${systems.map((s) => s.id).join(', ')}); set systemId`,
      );
    }
    return only;
  }
}

/**
 * The system id a node plugin uses without the gateway: its config's systemId. A node plugin without one falls back to
 * asking the gateway (and so needs credentials; the driver warns at start).
 */
function nodeSideSystemId(config: PowerFlexBackendConfig, hooks: BackendHooks): string | undefined {
  return hooks.nodeOnly === true ? config.systemId : undefined;
}

/** The password, from the config or read from passwordFile at every login (so a rotated Secret is picked up). */
function passwordSource(config: PowerFlexBackendConfig): () => Promise<string> {
  const { password, passwordFile } = config;
  if (password !== undefined) return () => Promise.resolve(password);
  if (passwordFile === undefined) return () => Promise.reject(new DomainError('invalid-argument', `backend ${config.name}: no password`));
  return async () => {
    let text: string;
    try {
      text = await readFile(passwordFile, 'utf8');
    } catch (err) {
      throw new DomainError('invalid-argument', `backend ${config.name}: cannot read passwordFile ${passwordFile}: ${errorMessage(err)}`, { cause: err });
    }
    // Secrets written with `echo` end in a newline that is not part of the password.
    const value = text.replace(/\r?\n$/, '');
    if (value === '') throw new DomainError('invalid-argument', `backend ${config.name}: passwordFile ${passwordFile} is empty`);
    return value;
  };
}
