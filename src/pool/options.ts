import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { LevelWithSilent } from 'pino';
import { UsageError } from '../driver/options.js';
import { parseHostPort } from '../server/metrics.js';
import { isLogLevel } from '../util/log.js';
import { GiB, parseSize } from '../util/size.js';
import { isWellFormedId } from './ids.js';

/** `ferry pool` flags as commander hands them over (strings), before validation. */
export interface RawPoolFlags {
  listen: string;
  dataDir: string;
  capacity: string;
  username: string;
  password?: string;
  passwordFile?: string;
  plainHttp?: boolean;
  host: string[];
  tokenIdleTimeout: string;
  systemId?: string;
  systemName?: string;
  protectionDomain: string;
  storagePool: string;
  logLevel: string;
}

export interface HostDeclaration {
  name: string;
  guid: string;
}

export interface PoolOptions {
  host: string;
  port: number;
  dataDir: string;
  capacityBytes: bigint;
  username: string;
  password: string;
  /** True when nobody chose the password: it is printed at start so an operator can log in. */
  passwordGenerated: boolean;
  tls: boolean;
  hosts: HostDeclaration[];
  tokenIdleTimeoutMs: number;
  systemId: string | undefined;
  /** What System.name answers; undefined: null, as an unnamed system's. */
  systemName: string | undefined;
  protectionDomain: string;
  storagePool: string;
  logLevel: LevelWithSilent;
}

/** The smallest pool worth having: one allocation unit. */
const MIN_CAPACITY = 8n * GiB;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "10m", "30s", "1500ms", "1h"; a bare number is seconds. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  const unit = DURATION_UNIT_MS[match?.[2] ?? 's'];
  if (!match?.[1] || unit === undefined) throw new RangeError(`"${text}" is not a duration (examples: 10m, 30s, 1500ms)`);
  return Math.round(Number(match[1]) * unit);
}

/** A GUID as hosts report it (drv_cfg --query_guid, upper-cased); it also names a directory, so nothing path-like. */
export function normaliseGuid(guid: string): string {
  const upper = guid.trim().toUpperCase();
  if (!/^[0-9A-Z][0-9A-Z-]{0,63}$/.test(upper)) throw new RangeError(`"${guid}" is not a GUID (letters, digits and dashes)`);
  return upper;
}

/** The SDC name rules the gateway applies to every object name: at most 31 characters, no white space. */
export function isValidObjectName(name: string): boolean {
  return name.length > 0 && name.length <= 31 && !/[\s]/.test(name);
}

/** Commander collector for the repeatable `--host NAME=GUID` (the environment variable may list several, comma-separated). */
export function collectHost(value: string, previous: string[] | undefined): string[] {
  const items = value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
  return [...(previous ?? []), ...items];
}

export function parseHostDeclaration(text: string): HostDeclaration {
  const eq = text.lastIndexOf('=');
  if (eq <= 0) throw new UsageError(`--host: "${text}" is not NAME=GUID`);
  const name = text.slice(0, eq);
  if (!isValidObjectName(name)) throw new UsageError(`--host: "${name}" is not a host name (1 to 31 characters, no spaces)`);
  try {
    return { name, guid: normaliseGuid(text.slice(eq + 1)) };
  } catch (err) {
    throw new UsageError(`--host: ${(err as Error).message}`);
  }
}

export async function validatePoolFlags(flags: RawPoolFlags): Promise<PoolOptions> {
  let listen: { host: string; port: number };
  try {
    listen = parseHostPort(flags.listen);
  } catch (err) {
    throw new UsageError(`--listen: ${(err as Error).message}`);
  }
  if (!flags.dataDir) throw new UsageError('--data-dir is required');
  let capacityBytes: bigint;
  try {
    capacityBytes = parseSize(flags.capacity);
  } catch (err) {
    throw new UsageError(`--capacity: ${(err as Error).message}`);
  }
  if (capacityBytes < MIN_CAPACITY) throw new UsageError(`--capacity: at least 8Gi (one allocation unit)`);
  if (!flags.username) throw new UsageError('--username must not be empty');
  if (flags.password !== undefined && flags.passwordFile !== undefined) throw new UsageError('give --password or --password-file, not both');
  let password = flags.password;
  if (flags.passwordFile !== undefined) {
    try {
      // A trailing newline is an artefact of how the file was written (echo, Secret mounts), not part of the password.
      password = (await readFile(flags.passwordFile, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      throw new UsageError(`--password-file: ${(err as Error).message}`);
    }
  }
  if (password === '') throw new UsageError('the password must not be empty');
  const passwordGenerated = password === undefined;
  if (password === undefined) password = randomBytes(12).toString('base64url');
  let tokenIdleTimeoutMs: number;
  try {
    tokenIdleTimeoutMs = parseDuration(flags.tokenIdleTimeout);
  } catch (err) {
    throw new UsageError(`--token-idle-timeout: ${(err as Error).message}`);
  }
  if (tokenIdleTimeoutMs <= 0) throw new UsageError('--token-idle-timeout must be positive');
  if (flags.systemId !== undefined && !isWellFormedId(flags.systemId)) throw new UsageError('--system-id: 16 lower-case hex characters');
  if (flags.systemName !== undefined && !isValidObjectName(flags.systemName)) throw new UsageError('--system-name: 1 to 31 characters, no spaces');
  if (!isValidObjectName(flags.protectionDomain)) throw new UsageError('--protection-domain: 1 to 31 characters, no spaces');
  if (!isValidObjectName(flags.storagePool)) throw new UsageError('--storage-pool: 1 to 31 characters, no spaces');
  if (!isLogLevel(flags.logLevel)) throw new UsageError(`--log-level: "${flags.logLevel}" is not a pino level`);
  const hosts = flags.host.map(parseHostDeclaration);
  const guids = new Set<string>();
  for (const h of hosts) {
    if (guids.has(h.guid)) throw new UsageError(`--host: GUID ${h.guid} is declared twice`);
    guids.add(h.guid);
  }
  return {
    host: listen.host,
    port: listen.port,
    dataDir: path.resolve(flags.dataDir),
    capacityBytes,
    username: flags.username,
    password,
    passwordGenerated,
    tls: !flags.plainHttp,
    hosts,
    tokenIdleTimeoutMs,
    systemId: flags.systemId,
    systemName: flags.systemName,
    protectionDomain: flags.protectionDomain,
    storagePool: flags.storagePool,
    logLevel: flags.logLevel,
  };
}
