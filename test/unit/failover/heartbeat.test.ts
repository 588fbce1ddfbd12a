import { describe, expect, it } from '@jest/globals';
import { readHeartbeat } from '../../../src/kube/heartbeat-lease.js';
import type { LeaseView } from '../../../src/kube/kube-api.js';

/** A node plugin's heartbeat Lease, renewed at `renewed`, lasting 8 s. */
function lease(renewed: Date | undefined): LeaseView {
  return {
    namespace: 'kube-system',
    name: 'ferry-node-node1',
    holder: 'node1',
    acquireTime: renewed,
    renewTime: renewed,
    durationSeconds: 8,
    transitions: 0,
    labels: {},
    annotations: { 'ferry.csi.io/node-id': 'G1' },
    ownerPod: undefined,
    resourceVersion: '1',
  };
}

describe('readHeartbeat', () => {
  const renewed = new Date('2026-12-06T06:00:00.000Z');
  const at = (ms: number): Date => new Date(renewed.getTime() + ms);

  it.each([
    [0, { late: false, expired: false }],
    [3_999, { late: false, expired: false }],
    // More than half its duration old: late, so the storage side can be asked ahead of the expiry.
    [4_000, { late: true, expired: false }],
    [7_999, { late: true, expired: false }],
    [8_000, { late: false, expired: true }],
    [60_000, { late: false, expired: true }],
  ])('%i ms after the renewal of an 8 s Lease: %o', (ms, expected) => {
    const { late, expired } = readHeartbeat(lease(renewed), at(ms));
    expect({ late, expired }).toEqual(expected);
  });

  it('a Lease without renew time or duration is expired, never late', () => {
    expect(readHeartbeat(lease(undefined), renewed)).toMatchObject({ late: false, expired: true });
    expect(readHeartbeat({ ...lease(renewed), durationSeconds: undefined }, renewed)).toMatchObject({ late: false, expired: true });
  });
});
