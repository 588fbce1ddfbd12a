import { describe, expect, it } from '@jest/globals';
import { validateKubeFlags, type RawKubeFlags } from '../../src/driver/kube-options.js';

const flags = (over: Partial<RawKubeFlags> = {}): RawKubeFlags => ({
  kubernetes: 'on',
  namespace: 'kube-system',
  heartbeatIntervalSeconds: '2',
  heartbeatDurationSeconds: '8',
  failover: 'on',
  failoverIntervalSeconds: '2',
  leaderLeaseSeconds: '15',
  leaderRenewDeadlineSeconds: '10',
  leaderRetryPeriodSeconds: '2',
  ...over,
});

describe('the failover controller\'s leader election flags', () => {
  it('default to client-go\'s timings', () => {
    expect(validateKubeFlags(flags(), {}).leaderElection).toEqual({ leaseDurationSeconds: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
  });

  it('take the chart\'s shorter ones', () => {
    const options = validateKubeFlags(flags({ leaderLeaseSeconds: '8', leaderRenewDeadlineSeconds: '5', leaderRetryPeriodSeconds: '2' }), {});
    expect(options.leaderElection).toEqual({ leaseDurationSeconds: 8, renewDeadlineMs: 5_000, retryPeriodMs: 2_000 });
  });

  it.each([
    ['a renew deadline as long as the lease', { leaderLeaseSeconds: '8', leaderRenewDeadlineSeconds: '8' }],
    ['a retry period as long as the renew deadline', { leaderRenewDeadlineSeconds: '2', leaderRetryPeriodSeconds: '2' }],
    ['a lease of a fraction of a second', { leaderLeaseSeconds: '7.5' }],
    ['no number', { leaderRetryPeriodSeconds: 'soon' }],
  ])('refuse %s', (_what, over) => {
    expect(() => validateKubeFlags(flags(over), {})).toThrow(/--leader-/);
  });
});
