import os from 'node:os';
import type { LevelWithSilent } from 'pino';
import { isLogLevel } from '../util/log.js';
import { parseEndpoint, type Endpoint } from '../server/endpoint.js';
import { parseHostPort } from '../server/metrics.js';
import { NODE_ID_LIMIT_BYTES } from '../server/request-limits.js';
import { validateKubeFlags, type KubeOptions, type RawKubeFlags } from './kube-options.js';
import { UsageError } from './usage-error.js';

export type DriverMode = 'controller' | 'node' | 'all';

/** `ferry driver` flags as commander hands them over (strings), before validation. */
export interface RawDriverFlags extends RawKubeFlags {
  endpoint: string;
  mode: string;
  nodeId?: string;
  config?: string;
  driverName: string;
  logLevel: string;
  metricsAddress?: string;
  shutdownGraceSeconds: string;
}

export interface DriverOptions {
  endpoint: Endpoint;
  mode: DriverMode;
  nodeId: string;
  configFile: string | undefined;
  driverName: string;
  logLevel: LevelWithSilent;
  metricsAddress: string | undefined;
  shutdownGraceMs: number;
  kube: KubeOptions;
}

export { UsageError };

const DRIVER_NAME = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;

export function validateDriverFlags(flags: RawDriverFlags, env: NodeJS.ProcessEnv = process.env): DriverOptions {
  let endpoint: Endpoint;
  try {
    endpoint = parseEndpoint(flags.endpoint);
  } catch (err) {
    throw new UsageError(`--endpoint: ${(err as Error).message}`);
  }
  if (flags.mode !== 'controller' && flags.mode !== 'node' && flags.mode !== 'all') {
    throw new UsageError(`--mode: "${flags.mode}" is not one of controller, node, all`);
  }
  if (!isLogLevel(flags.logLevel)) throw new UsageError(`--log-level: "${flags.logLevel}" is not a pino level`);
  if (!DRIVER_NAME.test(flags.driverName)) {
    throw new UsageError(`--driver-name: "${flags.driverName}" is not a DNS-style name of at most 63 characters`);
  }
  if (flags.metricsAddress !== undefined) {
    try {
      parseHostPort(flags.metricsAddress);
    } catch (err) {
      throw new UsageError(`--metrics-address: ${(err as Error).message}`);
    }
  }
  const grace = Number(flags.shutdownGraceSeconds);
  if (!Number.isFinite(grace) || grace < 0) throw new UsageError(`--shutdown-grace-seconds: "${flags.shutdownGraceSeconds}" is not a number of seconds`);
  const nodeId = flags.nodeId ?? os.hostname();
  // CSI: a node id is at most 192 bytes (the CO sends it back in ControllerPublish, which the size limits check).
  if (nodeId.length === 0 || Buffer.byteLength(nodeId) > NODE_ID_LIMIT_BYTES) throw new UsageError(`--node-id: must be 1 to ${NODE_ID_LIMIT_BYTES} bytes`);
  return {
    endpoint,
    mode: flags.mode,
    nodeId,
    configFile: flags.config,
    driverName: flags.driverName,
    logLevel: flags.logLevel,
    metricsAddress: flags.metricsAddress,
    shutdownGraceMs: Math.round(grace * 1000),
    kube: validateKubeFlags(flags, env),
  };
}
