import { describe, expect, it } from '@jest/globals';
import { DEFAULT_RETRY_POLICY, backoffDelayMs } from '../../../src/backends/powerflex/retry.js';

describe('backoffDelayMs', () => {
  const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000 };

  it('doubles per attempt, between half and all of the exponential step', () => {
    expect(backoffDelayMs(policy, 1, () => 0)).toBe(50);
    expect(backoffDelayMs(policy, 1, () => 1)).toBe(100);
    expect(backoffDelayMs(policy, 2, () => 0)).toBe(100);
    expect(backoffDelayMs(policy, 3, () => 1)).toBe(400);
  });

  it('is capped', () => {
    expect(backoffDelayMs(policy, 10, () => 1)).toBe(1_000);
    expect(backoffDelayMs(policy, 10, () => 0)).toBe(500);
  });

  it('has a default that gives up fast enough for short call budgets', () => {
    let total = 0;
    for (let attempt = 1; attempt < DEFAULT_RETRY_POLICY.maxAttempts; attempt += 1) total += backoffDelayMs(DEFAULT_RETRY_POLICY, attempt, () => 1);
    expect(total).toBeLessThanOrEqual(2_000);
  });
});
