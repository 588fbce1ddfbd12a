import type { ErrorBody } from './wire.js';
import { invalidRequest } from './errors.js';
import { newId } from './ids.js';

/**
 * Injected faults (POST /pool/faults): the failures a client of a real gateway must survive, on demand.
 * A rule matches /api requests by method and path, where the path is a route template
 * ("/api/instances/Volume::{id}/action/addMappedSdc"), a concrete path, or a prefix ending in "*"; an absent
 * method or path matches everything. `times` limits how often it fires. Faults never touch /pool itself, so a
 * test can always clear them.
 */
export interface FaultRule {
  id: string;
  method?: string;
  path?: string;
  latencyMs?: number;
  error?: ErrorBody;
  drop?: boolean;
  /** Firings left; undefined = until cleared. */
  remaining?: number;
  fired: number;
}

export interface FaultRequest {
  method?: string;
  path?: string;
  latencyMs?: number;
  error?: { httpStatusCode?: number; errorCode?: number; message?: string };
  drop?: boolean;
  times?: number;
  /** Ends every session now (the next request with an old token gets 401). */
  expireTokens?: boolean;
}

/** What the matching rules ask of one request. */
export interface FaultEffect {
  latencyMs: number;
  drop: boolean;
  error: ErrorBody | undefined;
}

export class Faults {
  private rules: FaultRule[] = [];

  /** Validates a POST /pool/faults body; returns undefined when it only asked to expire tokens. */
  add(body: unknown): FaultRule | undefined {
    const spec = parseFaultRequest(body);
    if (spec.latencyMs === undefined && spec.error === undefined && !spec.drop) {
      if (spec.expireTokens) return undefined;
      throw invalidRequest('a fault needs latencyMs, error, drop or expireTokens');
    }
    const rule: FaultRule = {
      id: newId(),
      method: spec.method?.toUpperCase(),
      path: spec.path,
      latencyMs: spec.latencyMs,
      drop: spec.drop,
      error:
        spec.error === undefined
          ? undefined
          : {
              message: spec.error.message ?? 'Injected fault',
              httpStatusCode: spec.error.httpStatusCode ?? 500,
              errorCode: spec.error.errorCode ?? 0,
            },
      remaining: spec.times,
      fired: 0,
    };
    this.rules.push(rule);
    return rule;
  }

  clear(): number {
    const n = this.rules.length;
    this.rules = [];
    return n;
  }

  list(): FaultRule[] {
    return [...this.rules];
  }

  /** The combined effect of every rule matching this request (counting a firing of each). */
  apply(method: string, path: string, template: string | undefined): FaultEffect | undefined {
    const matching = this.rules.filter((r) => matches(r, method, path, template));
    if (matching.length === 0) return undefined;
    const effect: FaultEffect = { latencyMs: 0, drop: false, error: undefined };
    for (const rule of matching) {
      rule.fired += 1;
      if (rule.remaining !== undefined) rule.remaining -= 1;
      effect.latencyMs += rule.latencyMs ?? 0;
      effect.drop ||= rule.drop === true;
      effect.error ??= rule.error;
    }
    this.rules = this.rules.filter((r) => r.remaining === undefined || r.remaining > 0);
    return effect;
  }
}

function matches(rule: FaultRule, method: string, path: string, template: string | undefined): boolean {
  if (rule.method !== undefined && rule.method !== method) return false;
  if (rule.path === undefined) return true;
  if (rule.path.endsWith('*')) return path.startsWith(rule.path.slice(0, -1));
  return rule.path === path || rule.path === template;
}

function parseFaultRequest(body: unknown): FaultRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidRequest('the body must be a JSON object');
  const b = body as Record<string, unknown>;
  const known = new Set(['method', 'path', 'latencyMs', 'error', 'drop', 'times', 'expireTokens']);
  for (const key of Object.keys(b)) if (!known.has(key)) throw invalidRequest(`unknown fault field "${key}"`);
  const str = (key: string): string | undefined => {
    const v = b[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') throw invalidRequest(`${key} must be a non-empty string`);
    return v;
  };
  const int = (v: unknown, key: string, min: number): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw invalidRequest(`${key} must be an integer of at least ${min}`);
    return v;
  };
  const bool = (key: string): boolean | undefined => {
    const v = b[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw invalidRequest(`${key} must be true or false`);
    return v;
  };
  let error: FaultRequest['error'];
  if (b.error !== undefined) {
    if (b.error === null || typeof b.error !== 'object') throw invalidRequest('error must be an object');
    const e = b.error as Record<string, unknown>;
    const message = e.message;
    if (message !== undefined && typeof message !== 'string') throw invalidRequest('error.message must be a string');
    const status = int(e.httpStatusCode, 'error.httpStatusCode', 400);
    if (status !== undefined && status > 599) throw invalidRequest('error.httpStatusCode must be 400 to 599');
    error = { httpStatusCode: status, errorCode: int(e.errorCode, 'error.errorCode', 0), message };
  }
  return {
    method: str('method'),
    path: str('path'),
    latencyMs: int(b.latencyMs, 'latencyMs', 0),
    error,
    drop: bool('drop'),
    times: int(b.times, 'times', 1),
    expireTokens: bool('expireTokens'),
  };
}
