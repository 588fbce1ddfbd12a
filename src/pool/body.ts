import type { AccessMode, WireBool, WireInt } from './wire.js';
import { invalidRequest } from './errors.js';

/**
 * Reading gateway request bodies. Clients send numbers and booleans as strings ("8388608", "FALSE", "True"),
 * so every reader here accepts both spellings; a missing or malformed field is the gateway's 400 / errorCode 0.
 */
export type Body = Record<string, unknown>;

export const ACCESS_MODES: readonly AccessMode[] = ['ReadWrite', 'ReadOnly'];

export function requireObject(body: unknown): Body {
  if (body === undefined) return {};
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidRequest('Request message is not valid: the body must be a JSON object');
  return body as Body;
}

export function missing(...names: string[]): never {
  throw invalidRequest(`Request message is not valid: The following parameter(s) must be part of the request body: ${names.join(', ')}.`);
}

export function optionalString(body: Body, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidRequest(`Request message is not valid: ${key} must be a string`);
  return value;
}

export function requireString(body: Body, key: string): string {
  const value = optionalString(body, key);
  if (value === undefined || value === '') missing(key);
  return value;
}

/** A non-negative integer sent as a string or a number. */
const JAVA_LONG_MAX = (1n << 63n) - 1n;

export function optionalWireInt(body: Body, key: string): bigint | undefined {
  const value = body[key] as WireInt | null | undefined;
  if (value === undefined || value === null) return undefined;
  const text = typeof value === 'number' ? (Number.isSafeInteger(value) ? String(value) : '') : String(value).trim();
  if (!/^\d+$/.test(text)) throw invalidRequest(`Request message is not valid: ${key} must be a non-negative integer, not ${JSON.stringify(value)}`);
  // The gateway reads these fields as Java longs: a larger number does not parse, a validation error like the above.
  const n = BigInt(text);
  if (n > JAVA_LONG_MAX) throw invalidRequest(`Request message is not valid: ${key} ${text} does not fit a 64-bit integer`);
  return n;
}

/** "TRUE", "True", "true", true, ... (case-insensitive); `fallback` when absent. */
export function optionalWireBool(body: Body, key: string, fallback: boolean): boolean {
  const value = body[key] as WireBool | null | undefined;
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'boolean') return value;
  const lower = String(value).trim().toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  throw invalidRequest(`Request message is not valid: ${key} must be TRUE or FALSE, not ${JSON.stringify(value)}`);
}

export function optionalEnum<T extends string>(body: Body, key: string, allowed: readonly T[]): T | undefined {
  const value = optionalString(body, key);
  if (value === undefined) return undefined;
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw invalidRequest(`Request message is not valid: ${key} must be one of ${allowed.join(', ')}, not "${value}"`);
  return found;
}
