import { ID_LIMIT_BYTES } from '../csi/ids.js';
import { DomainError } from '../errors.js';

/**
 * CSI's size limits (spec "Size Limits"), checked on every request before a handler sees it: a string field is at most
 * 128 bytes and a map<string, string> at most 4 KiB in all. Two kinds of field override the general limit in the spec:
 * paths (the SP should take what the OS takes: PATH_MAX here) and node_id (192 bytes). Volume and snapshot ids get
 * ID_LIMIT_BYTES (csi/ids.ts): an NFS id carries its server, export and directory, and a 128-byte CSI name is a
 * directory of 128 bytes already. A 1 MB parameter otherwise
 * travels into logs and error messages, and a huge status message stalls the connection every sidecar shares.
 */
export const STRING_LIMIT_BYTES = 128;
export const MAP_LIMIT_BYTES = 4096;
export const PATH_LIMIT_BYTES = 4096;
export const NODE_ID_LIMIT_BYTES = 192;

/** The map<string, string> fields of CSI messages (protobuf maps decode to plain objects, as messages do). */
const MAP_FIELDS = new Set(['parameters', 'secrets', 'volume_context', 'publish_context', 'mutable_parameters', 'segments']);

function stringLimit(field: string): number {
  if (field.endsWith('_path')) return PATH_LIMIT_BYTES;
  if (field.endsWith('volume_id') || field.endsWith('snapshot_id')) return ID_LIMIT_BYTES;
  if (field === 'node_id') return NODE_ID_LIMIT_BYTES;
  return STRING_LIMIT_BYTES;
}

function bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Cuts a value someone else chose to a length fit for a message (the rest is counted, never shown). */
export function shortForMessage(value: string, max = 64): string {
  return value.length <= max ? value : `${value.slice(0, max)}… (${bytes(value)} bytes)`;
}

function checkMap(map: Record<string, unknown>, at: string): void {
  let total = 0;
  for (const [key, value] of Object.entries(map)) {
    const text = typeof value === 'string' ? value : '';
    const keyBytes = bytes(key);
    if (keyBytes > STRING_LIMIT_BYTES) {
      throw new DomainError('invalid-argument', `${at}: a key of ${keyBytes} bytes (${shortForMessage(key, 32)}) is over CSI's ${STRING_LIMIT_BYTES}-byte limit`);
    }
    total += keyBytes + bytes(text);
  }
  if (total > MAP_LIMIT_BYTES) {
    throw new DomainError('invalid-argument', `${at}: ${total} bytes of keys and values, over CSI's ${MAP_LIMIT_BYTES}-byte limit for a map`);
  }
}

function walk(value: unknown, field: string, at: string): void {
  if (typeof value === 'string') {
    const limit = stringLimit(field);
    const size = bytes(value);
    if (size > limit) throw new DomainError('invalid-argument', `${at}: ${size} bytes, over the ${limit}-byte limit for this field`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, index) => walk(item, field, `${at}[${index}]`));
    return;
  }
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return;
  const record = value as Record<string, unknown>;
  if (MAP_FIELDS.has(field)) {
    checkMap(record, at);
    return;
  }
  for (const [key, child] of Object.entries(record)) walk(child, key, at === '' ? key : `${at}.${key}`);
}

/** Throws invalid-argument naming the first field over its limit (by size: the value itself is never echoed). */
export function checkRequestLimits(request: unknown): void {
  walk(request, '', '');
}
