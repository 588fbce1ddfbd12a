import { pino } from 'pino';
import { PowerFlexClient } from '../../../src/backends/powerflex/client.js';
import type { GatewayOptions } from '../../../src/backends/powerflex/gateway.js';
import { isDomainError } from '../../../src/errors.js';
import { startPool, type PoolProcess } from '../../helpers/pool.js';

/**
 * Where the contract suite runs: a real gateway when FERRY_TEST_GATEWAY_URL is set, otherwise a local `ferry pool`.
 * The cases are the same; only what the target is and how it was reached differ.
 *
 *   FERRY_TEST_GATEWAY_URL        https://gateway.example (with or without /api)
 *   FERRY_TEST_GATEWAY_USERNAME   default admin
 *   FERRY_TEST_GATEWAY_PASSWORD
 *   FERRY_TEST_GATEWAY_INSECURE   "true" to skip certificate verification
 *   FERRY_TEST_GATEWAY_CA_FILE    optional: a CA to trust
 *   FERRY_TEST_STORAGE_POOL       pool name or id (the suite creates and removes volumes there)
 *   FERRY_TEST_PROTECTION_DOMAIN  optional: the pool's protection domain (name or id)
 *   FERRY_TEST_SDC_GUID           an SDC to map test volumes to (no I/O is done)
 *   FERRY_TEST_SDC_GUID_2         optional: a second SDC, for the mapped-elsewhere case (else any other SDC listed)
 */
export interface ContractTarget {
  kind: 'pool' | 'gateway';
  endpoint: string;
  username: string;
  password: string;
  insecure: boolean;
  caFile: string | undefined;
  storagePool: string;
  protectionDomain: string | undefined;
  sdcGuid: string;
  secondSdcGuid: string | undefined;
  /** The local pool, for the admin endpoints; undefined against a real gateway. */
  pool: PoolProcess | undefined;
  close(): Promise<void>;
}

export const SDC_GUID_1 = '3E5A6F40-1B2C-4D5E-8F90-0A1B2C3D4E5F';
export const SDC_GUID_2 = '7C8D9E0F-2A3B-4C5D-9E8F-1B2C3D4E5F60';

export const silentLogger = pino({ level: process.env['FERRY_TEST_LOG_LEVEL'] ?? 'silent' });

export function externalGatewayConfigured(): boolean {
  return (process.env['FERRY_TEST_GATEWAY_URL'] ?? '') !== '';
}

export async function openTarget(): Promise<ContractTarget> {
  const env = process.env;
  const url = env['FERRY_TEST_GATEWAY_URL'];
  if (url !== undefined && url !== '') {
    const required = (name: string): string => {
      const value = env[name];
      if (value === undefined || value === '') throw new Error(`${name} is required with FERRY_TEST_GATEWAY_URL`);
      return value;
    };
    return {
      kind: 'gateway',
      endpoint: url,
      username: env['FERRY_TEST_GATEWAY_USERNAME'] ?? 'admin',
      password: required('FERRY_TEST_GATEWAY_PASSWORD'),
      insecure: /^(1|true|yes)$/i.test(env['FERRY_TEST_GATEWAY_INSECURE'] ?? ''),
      caFile: env['FERRY_TEST_GATEWAY_CA_FILE'] || undefined,
      storagePool: required('FERRY_TEST_STORAGE_POOL'),
      protectionDomain: env['FERRY_TEST_PROTECTION_DOMAIN'] || undefined,
      sdcGuid: required('FERRY_TEST_SDC_GUID'),
      secondSdcGuid: env['FERRY_TEST_SDC_GUID_2'] || undefined,
      pool: undefined,
      close: () => Promise.resolve(),
    };
  }
  const pool = await startPool({
    tls: true,
    hosts: [
      { name: 'node1', guid: SDC_GUID_1 },
      { name: 'node2', guid: SDC_GUID_2 },
    ],
    logLevel: 'info',
  });
  return {
    kind: 'pool',
    endpoint: pool.url,
    username: pool.username,
    password: pool.password,
    insecure: false,
    caFile: pool.caFile,
    storagePool: 'pool1',
    protectionDomain: 'pd1',
    sdcGuid: SDC_GUID_1,
    secondSdcGuid: SDC_GUID_2,
    pool,
    close: () => pool.cleanup(),
  };
}

export function clientFor(target: ContractTarget, overrides: Partial<GatewayOptions> = {}): PowerFlexClient {
  return new PowerFlexClient({
    endpoint: target.endpoint,
    credentials: { username: target.username, password: () => Promise.resolve(target.password) },
    insecure: target.insecure,
    ...(target.caFile === undefined ? {} : { caFile: target.caFile }),
    timeoutMs: 30_000,
    logger: silentLogger,
    ...overrides,
  });
}

/** Short unique names (the gateway allows 31 characters): "ferryct" + run id + counter. */
export function nameGenerator(prefix = 'fct'): () => string {
  const run = Math.random().toString(36).slice(2, 8);
  let n = 0;
  return () => {
    n += 1;
    return `${prefix}-${run}-${n}`;
  };
}

/**
 * Tracks what a test created and removes it afterwards, even when the test failed half-way: unmaps from every SDC,
 * then removes each volume with its snapshots. Errors other than not-found are collected and reported.
 */
export class Janitor {
  private readonly volumes = new Set<string>();

  constructor(private readonly client: PowerFlexClient) {}

  track(id: string): string {
    this.volumes.add(id);
    return id;
  }

  async clean(): Promise<void> {
    const problems: string[] = [];
    for (const id of [...this.volumes].reverse()) {
      this.volumes.delete(id);
      try {
        const volume = await this.client.volumes.getVolume(id);
        if (volume.mappings.length > 0) await this.client.mappings.unmapVolume(id, { allSdcs: true });
        await this.client.volumes.removeVolume(id, volume.volumeType === 'Snapshot' ? 'ONLY_ME' : 'INCLUDING_DESCENDANTS');
      } catch (err) {
        if (!isDomainError(err, 'not-found')) problems.push(`${id}: ${(err as Error).message}`);
      }
    }
    if (problems.length > 0) throw new Error(`cleanup failed:\n${problems.join('\n')}`);
  }
}
