import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { PowerFlexBackendConfig } from '../backends/powerflex/config.js';

/**
 * Drop-in configuration from Dell's csi-powerflex: its array Secret (key `config`, a YAML or JSON list of arrays) read
 * as Ferry's PowerFlex backends, so a cluster that switches drivers keeps its Secret. See docs/drop-in.md.
 *
 * Each array becomes one backend: named by its systemID in lower case (a DNS label, as 16 hex characters are), or
 * `array-<n>` when the systemID is a system *name* that is no DNS label; the array marked isDefault comes first, as
 * Ferry's first backend is the default for StorageClasses that name none.
 */
export const csiPowerflexArraysSchema = z.strictObject({
  /** The Secret's `config` key, mounted as a file. */
  file: z.string().min(1),
  /** Ferry's backends need a default pool; csi-powerflex StorageClasses always name theirs (`storagepool`). */
  storagePool: z.string().min(1),
  protectionDomain: z.string().min(1).optional(),
});

export type CsiPowerflexArraysConfig = z.infer<typeof csiPowerflexArraysSchema>;

const boolish = z.union([z.boolean(), z.enum(['true', 'false', 'True', 'False', 'TRUE', 'FALSE']).transform((v) => v.toLowerCase() === 'true')]);

/** One array, spelt as csi-powerflex's samples/secret/secret.yaml spells it; keys it documents but Ferry has no use for are accepted. */
const arraySchema = z.strictObject({
  username: z.string().min(1),
  password: z.string().min(1),
  systemID: z.string().min(1),
  endpoint: z.url({ protocol: /^https?$/ }),
  skipCertificateValidation: boolish.default(true),
  isDefault: boolish.default(false),
  allSystemNames: z.string().optional(),
  /** Used by csi-powerflex's node to reach the MDMs; Ferry's node takes its SDC from the host. */
  mdm: z.string().optional(),
  nasName: z.string().optional(),
  blockProtocol: z.string().optional(),
});

export const arraysSchema = z.array(arraySchema).min(1, 'the list names no array');

export type CsiPowerflexArray = z.infer<typeof arraySchema>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SYSTEM_ID = /^[0-9a-f]{16}$/;

/** The backend name an array gets (see the file comment); `ferry adopt` uses the same rule for volume ids. */
export function backendNameOf(array: Pick<CsiPowerflexArray, 'systemID'>, index: number): string {
  const lower = array.systemID.toLowerCase();
  return DNS_LABEL.test(lower) ? lower : `array-${index}`;
}

/** Parses the Secret's text; throws with the problems listed (the caller names the file). */
export function parseArrays(text: string): CsiPowerflexArray[] {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => `YAML: ${e.message.split('\n')[0] ?? e.message}`).join('; '));
  const result = arraysSchema.safeParse(doc.toJS());
  if (!result.success) {
    throw new Error(result.error.issues.map((i) => `${i.path.join('.') || '(list)'}: ${i.message}`).join('; '));
  }
  const defaults = result.data.filter((a) => a.isDefault);
  if (result.data.length > 1 && defaults.length !== 1) throw new Error(`with several arrays exactly one must be isDefault (${defaults.length} are)`);
  return result.data;
}

/** Ferry backend entries for the arrays, default first (not yet validated by the backend schema: the caller does that). */
export function backendsFromArrays(arrays: readonly CsiPowerflexArray[], settings: CsiPowerflexArraysConfig): Record<string, unknown>[] {
  const entries = arrays.map((array, index) => {
    const lower = array.systemID.toLowerCase();
    const backend: Record<string, unknown> = {
      name: backendNameOf(array, index),
      type: 'powerflex' satisfies PowerFlexBackendConfig['type'],
      endpoint: array.endpoint,
      username: array.username,
      password: array.password,
      insecure: array.skipCertificateValidation,
      storagePool: settings.storagePool,
    };
    // A systemID that is a system's name leaves Ferry to find the system (it must then be the gateway's only one).
    if (SYSTEM_ID.test(lower)) backend['systemId'] = lower;
    if (settings.protectionDomain !== undefined) backend['protectionDomain'] = settings.protectionDomain;
    return { backend, isDefault: array.isDefault };
  });
  return [...entries.filter((e) => e.isDefault), ...entries.filter((e) => !e.isDefault)].map((e) => e.backend);
}
