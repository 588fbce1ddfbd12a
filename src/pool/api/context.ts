import type { Logger } from '../../util/log.js';
import type { Tokens } from '../auth.js';
import type { Faults } from '../faults.js';
import type { PoolOptions } from '../options.js';
import type { Pool } from '../pool.js';
import type { Router } from '../router.js';
import type { Stats } from '../stats.js';

/** What handlers may use. */
export interface ApiDeps {
  pool: Pool;
  tokens: Tokens;
  stats: Stats;
  faults: Faults;
  options: PoolOptions;
  logger: Logger;
}

export interface ApiRequest {
  params: Record<string, string>;
  body: unknown;
  /** The session token of a token-authenticated request. */
  token: string | undefined;
}

/** A handler answers a JSON value (HTTP 200; undefined = empty body) or a Reply with another status. */
export type Handler = (req: ApiRequest) => unknown;

export class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

export type ApiRouter = Router<Handler>;

/** The path parameter `name`; the router only matches routes whose parameters are present. */
export function param(req: ApiRequest, name: string): string {
  return req.params[name] ?? '';
}
