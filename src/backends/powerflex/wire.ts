import { int64ToBigInt } from '../../util/size.js';
import { GatewayError } from './errors.js';

/**
 * Checks at the trust boundary: gateway answers are parsed JSON of unknown shape. Only what the client relies on is
 * checked (object-ness, ids, sizes); the rest is typed by types.ts. A failed check is a gateway we do not understand.
 */
export function malformed(what: string, detail: string): GatewayError {
  return new GatewayError('internal', `unexpected gateway answer for ${what}: ${detail}`);
}

export function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw malformed(what, 'not an object');
  return value as Record<string, unknown>;
}

export function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw malformed(what, 'not a list');
  return value;
}

/** An object carrying at least a string `id`, trusted to be the wire type `T` beyond that. */
export function asEntity<T extends { id: string }>(value: unknown, what: string): T {
  const record = asRecord(value, what);
  if (typeof record['id'] !== 'string' || record['id'] === '') throw malformed(what, 'no id');
  return record as unknown as T;
}

export function asEntities<T extends { id: string }>(value: unknown, what: string): T[] {
  return asArray(value, what).map((item) => asEntity<T>(item, what));
}

/** A bare JSON string answer (queryIdByKey). */
export function asString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw malformed(what, 'not a string');
  return value;
}

/** A KiB count as the gateway sends it (JSON number, sometimes a decimal string) → bigint. */
export function asBigInt(value: unknown, what: string): bigint {
  if (typeof value !== 'number' && typeof value !== 'string') throw malformed(what, 'not a number');
  try {
    return int64ToBigInt(value);
  } catch {
    throw malformed(what, `"${String(value)}" is not an integer`);
  }
}

/**
 * Ids are hexadecimal. One that is not (a CSI volume id from another driver, a typo) cannot name anything on the
 * gateway: answer not-found locally instead of sending it and reading the gateway's message text.
 */
const ID_PATTERN = /^[0-9a-f]{1,16}$/i;

export function checkId(id: string, what: string): string {
  if (!ID_PATTERN.test(id)) throw new GatewayError('not-found', `${what} "${id}" not found: not a PowerFlex id`);
  return id.toLowerCase();
}

/** The gateway spells request booleans as upper-case strings (Dell's Go client). */
export function wireBool(value: boolean): 'TRUE' | 'FALSE' {
  return value ? 'TRUE' : 'FALSE';
}
