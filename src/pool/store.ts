import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { stateFile } from './paths.js';
import type { PoolState } from './state.js';
import { stateJson, writeFileAtomic } from '../util/atomic-file.js';

/**
 * state.json: written whole on every change, atomically. The new content goes to a temporary file that is fsynced
 * and renamed over the old one, then the directory is fsynced, so a kill -9 or a power cut leaves either the old
 * state or the new one, never half of each.
 */
const id = z.string().regex(/^[0-9a-f]{16}$/);
const kib = z
  .string()
  .regex(/^\d+$/)
  .transform((s) => BigInt(s));
const accessMode = z.enum(['ReadWrite', 'ReadOnly']);

const fileSchema = z.strictObject({
  version: z.literal(1),
  systemId: id,
  protectionDomain: z.strictObject({ id, name: z.string() }),
  storagePool: z.strictObject({ id, name: z.string() }),
  hosts: z.array(
    z.strictObject({
      id,
      guid: z.string(),
      name: z.string(),
      ip: z.string(),
      mdmConnectionState: z.enum(['Connected', 'Disconnected']),
    }),
  ),
  volumes: z.array(
    z.strictObject({
      id,
      name: z.string().nullable(),
      sizeKiB: kib,
      volumeType: z.enum(['ThinProvisioned', 'ThickProvisioned', 'Snapshot']),
      vtreeId: id,
      ancestorVolumeId: id.nullable(),
      consistencyGroupId: id.nullable(),
      creationTime: z.number().int(),
      accessModeLimit: accessMode,
      mappings: z.array(z.strictObject({ sdcId: id, accessMode, limitIops: z.number().int(), limitBwInMbps: z.number().int() })),
    }),
  ),
});

export class StateFileError extends Error {
  override readonly name = 'StateFileError';
}

/** The saved state, or undefined when there is none yet (a fresh data directory). */
export async function loadState(dataDir: string): Promise<PoolState | undefined> {
  const file = stateFile(dataDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new StateFileError(`${file} is not JSON: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) throw new StateFileError(`${file} is not a pool state: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export async function saveState(dataDir: string, state: PoolState): Promise<void> {
  await writeFileAtomic(stateFile(dataDir), stateJson(state));
}

/** Temporary files a crash left between write and rename. */
export async function removeStaleTempFiles(dataDir: string, names: readonly string[]): Promise<void> {
  const base = path.basename(stateFile(dataDir));
  await Promise.all(names.filter((n) => n.startsWith(`${base}.tmp-`)).map((n) => rm(path.join(dataDir, n), { force: true })));
}
