import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { backendsFromArrays, parseArrays } from './csi-powerflex-arrays.js';
import { configSchema, type FerryConfig } from './schema.js';

/** A configuration that cannot be used; the CLI prints it and exits with status 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function keyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(top level)';
}

export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const problems: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push(`key ${keyPath([...issue.path, key])}: unknown key`);
    } else {
      problems.push(`key ${keyPath(issue.path)}: ${issue.message}`);
    }
  }
  return problems;
}

/** Parses and validates configuration text; `file` names it in every message. */
export function parseConfig(text: string, file: string): FerryConfig {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => `YAML: ${e.message.split('\n')[0] ?? e.message}`));
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(file, describeIssues(result.error.issues));
  return result.data;
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
}

/**
 * The configuration with csi-powerflex's arrays (when `csiPowerflexArrays` names its Secret's file) added as backends,
 * validated again as a whole: a duplicate backend name or a bad endpoint is a problem of the Secret file.
 */
export function withCsiPowerflexArrays(config: FerryConfig, secretText: string, file: string): FerryConfig {
  const settings = config.csiPowerflexArrays;
  if (!settings) return config;
  let added: Record<string, unknown>[];
  try {
    added = backendsFromArrays(parseArrays(secretText), settings);
  } catch (err) {
    throw new ConfigError(settings.file, [err instanceof Error ? err.message : String(err)]);
  }
  const result = configSchema.safeParse({ ...config, backends: [...added, ...config.backends] });
  if (!result.success) throw new ConfigError(`${file} with ${settings.file}`, describeIssues(result.error.issues));
  return result.data;
}

export async function loadConfig(file: string): Promise<FerryConfig> {
  const config = parseConfig(await readText(file), file);
  if (!config.csiPowerflexArrays) return config;
  return withCsiPowerflexArrays(config, await readText(config.csiPowerflexArrays.file), file);
}
