import { access, constants, readFile } from 'node:fs/promises';
import { DomainError, errorMessage } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import type { Backend } from '../backend.js';
import { PowerFlexClient } from './client.js';
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
export async function createPowerFlexBackend(config: PowerFlexBackendConfig, log: Logger): Promise<PowerFlexBackend> {
  for (const [key, file] of [
    ['passwordFile', config.passwordFile],
    ['caFile', config.caFile],
  ] as const) {
    if (file === undefined) continue;
    try {
      await access(file, constants.R_OK);
    } catch (err) {
      throw new DomainError('invalid-argument', `backend ${config.name}: cannot read ${key} ${file}: ${errorMessage(err)}`, { cause: err });
    }
  }
  return new PowerFlexBackend(config, log);
}

/**
 * A PowerFlex gateway (or `ferry pool`) as a Ferry backend. The constructor touches nothing: the password file is
 * read at every login (a rotated Secret is picked up) and the CA file at the first request. `log` is expected to be
 * bound to the backend already (the factory does it).
 */
export class PowerFlexBackend implements Backend {
  readonly name: string;
  readonly type = 'powerflex' as const;
  readonly client: PowerFlexClient;
  private resolved: PowerFlexTarget | undefined;

  constructor(
    private readonly config: PowerFlexBackendConfig,
    log: Logger,
  ) {
    this.name = config.name;
    this.client = new PowerFlexClient({
      endpoint: config.endpoint,
      credentials: { username: config.username, password: passwordSource(config) },
      insecure: config.insecure,
      ...(config.caFile === undefined ? {} : { caFile: config.caFile }),
      timeoutMs: Math.round(config.requestTimeoutSeconds * 1000),
      logger: log,
    });
  }

  /** The target as of the last successful health check, if any. */
  get target(): PowerFlexTarget | undefined {
    return this.resolved;
  }

  /** Logs in (or reuses the token), reads the system and resolves the configured protection domain and pool. */
  async checkHealth(signal: AbortSignal): Promise<void> {
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
