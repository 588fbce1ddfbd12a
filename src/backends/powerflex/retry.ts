/**
 * Retry policy for idempotent gateway requests after connection-level failures. Bounded twice: by a number of
 * attempts and by the call's Deadline (a pause that would outlast the deadline is not taken: the call fails at once
 * with the real cause instead of a bare timeout).
 */
export interface RetryPolicy {
  /** Attempts in total, the first included. 1 disables retries. */
  maxAttempts: number;
  /** The pause before the second attempt, doubled for each further one. */
  baseDelayMs: number;
  /** Cap on one pause. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 250, maxDelayMs: 4_000 };

/**
 * The pause after failed attempt `attempt` (1-based): exponential, with "equal jitter" (half fixed, half random) so
 * that the many calls a gateway restart fails at once do not come back in lock-step, yet none retries instantly.
 */
export function backoffDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const half = exponential / 2;
  return Math.round(half + random() * half);
}
