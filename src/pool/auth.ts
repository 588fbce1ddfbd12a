import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Gateway sessions. A token lives until it has been idle for the idle timeout (default 10 minutes) or is
 * 8 hours old, whichever comes first, like the real gateway's; `expireAll` is the fault that ends every session.
 */
export const TOKEN_MAX_LIFE_MS = 8 * 3_600_000;

interface Session {
  createdAt: number;
  lastUsedAt: number;
}

export class Tokens {
  private readonly sessions = new Map<string, Session>();
  /** Sessions that ended by timing out (not by logout): a counter for /pool/stats. */
  expired = 0;

  constructor(
    private readonly idleTimeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  issue(): string {
    this.sweep();
    // Looks like the real gateway's tokens: base64 text, safe inside Basic credentials (no ':').
    const token = randomBytes(24).toString('base64');
    const now = this.now();
    this.sessions.set(token, { createdAt: now, lastUsedAt: now });
    return token;
  }

  /** True (and the session's idle clock restarts) when the token is live. */
  use(token: string): boolean {
    const session = this.sessions.get(token);
    if (!session) return false;
    const now = this.now();
    if (this.isExpired(session, now)) {
      this.sessions.delete(token);
      this.expired += 1;
      return false;
    }
    session.lastUsedAt = now;
    return true;
  }

  revoke(token: string): boolean {
    return this.sessions.delete(token);
  }

  expireAll(): number {
    const n = this.sessions.size;
    this.sessions.clear();
    this.expired += n;
    return n;
  }

  get live(): number {
    this.sweep();
    return this.sessions.size;
  }

  private isExpired(session: Session, now: number): boolean {
    return now - session.lastUsedAt >= this.idleTimeoutMs || now - session.createdAt >= TOKEN_MAX_LIFE_MS;
  }

  /** Forgets dead sessions so a client that logs in per request cannot grow the table without bound. */
  private sweep(): void {
    const now = this.now();
    for (const [token, session] of this.sessions) {
      if (this.isExpired(session, now)) {
        this.sessions.delete(token);
        this.expired += 1;
      }
    }
  }
}

export type Credentials = { scheme: 'basic'; user: string; secret: string } | { scheme: 'bearer'; secret: string };

/** Basic user:secret or Bearer secret; anything else (or nothing) is undefined. */
export function parseAuthorization(header: string | undefined): Credentials | undefined {
  if (!header) return undefined;
  const match = /^(\w+)\s+(.+)$/.exec(header.trim());
  if (!match?.[1] || !match[2]) return undefined;
  const scheme = match[1].toLowerCase();
  if (scheme === 'bearer') return { scheme: 'bearer', secret: match[2].trim() };
  if (scheme !== 'basic') return undefined;
  const decoded = Buffer.from(match[2].trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { scheme: 'basic', user: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

/** Compares secrets in constant time (hashing first makes the lengths equal). */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
