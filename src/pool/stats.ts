/**
 * Counters for GET /pool/stats: what clients did to the pool, so a test can assert "one re-login, not a storm"
 * or "no request reached the pool".
 */
export class Stats {
  readonly startedAt = new Date().toISOString();
  logins = 0;
  loginFailures = 0;
  logouts = 0;
  unauthorized = 0;
  private readonly requests = new Map<string, number>();
  private readonly statuses = new Map<string, number>();
  private readonly errorCodes = new Map<string, number>();
  private readonly faults = new Map<string, number>();

  /** `key` is "METHOD /path/template" (e.g. "POST /api/instances/Volume::{id}/action/addMappedSdc"). */
  request(key: string): void {
    bump(this.requests, key);
  }

  response(status: number, errorCode: number | undefined): void {
    bump(this.statuses, String(status));
    if (errorCode !== undefined && status >= 400) bump(this.errorCodes, String(errorCode));
  }

  fault(kind: 'latency' | 'error' | 'drop'): void {
    bump(this.faults, kind);
  }

  toJSON(): Record<string, unknown> {
    return {
      startedAt: this.startedAt,
      logins: this.logins,
      loginFailures: this.loginFailures,
      logouts: this.logouts,
      unauthorized: this.unauthorized,
      requests: Object.fromEntries(this.requests),
      responsesByStatus: Object.fromEntries(this.statuses),
      errorsByCode: Object.fromEntries(this.errorCodes),
      faultsApplied: Object.fromEntries(this.faults),
    };
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
