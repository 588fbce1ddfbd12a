import { decide } from '../../../src/preemption/decide.js';
import type { HolderEvidence, KubernetesEvidence, StorageEvidence } from '../../../src/preemption/evidence.js';
import { parsePreemptionMode, PREEMPTION_MODES } from '../../../src/preemption/policy.js';

const connected: StorageEvidence = { clientState: 'Connected', ioDuringWindow: undefined };
const deadIdle: StorageEvidence = { clientState: 'Disconnected', ioDuringWindow: false };
const deadBusy: StorageEvidence = { clientState: 'Disconnected', ioDuringWindow: true };
const noKube: KubernetesEvidence = { configured: false };
const kubeAlive: KubernetesEvidence = { configured: true, nodeExists: true, nodeReady: true, outOfService: false, heartbeatExpired: false };

describe('preemption decisions, the rows that matter', () => {
  it.each([
    // mode, storage, kubernetes, expected action, a phrase the answer must contain
    ['never', deadIdle, noKube, 'refuse', 'never'],
    ['force', connected, kubeAlive, 'take-over', 'force'],
    ['safe', connected, noKube, 'refuse', 'Connected, not Disconnected'],
    ['safe', deadBusy, noKube, 'refuse', 'still doing I/O'],
    ['safe', deadIdle, noKube, 'take-over', 'no I/O'],
    ['safe', deadIdle, kubeAlive, 'refuse', 'Kubernetes still sees the holder alive'],
    ['safe', deadIdle, { ...kubeAlive, nodeReady: false }, 'take-over', 'NotReady'],
    ['safe', deadIdle, { ...kubeAlive, heartbeatExpired: true }, 'take-over', 'heartbeat Lease expired'],
    ['safe', deadIdle, { ...kubeAlive, outOfService: true }, 'take-over', 'out-of-service'],
    ['safe', deadIdle, { configured: true, nodeExists: false, nodeReady: undefined, outOfService: false, heartbeatExpired: undefined }, 'take-over', 'Node object is gone'],
    ['safe', { clientState: 'Unknown', ioDuringWindow: undefined }, noKube, 'refuse', 'Unknown'],
    ['safe', { clientState: 'Disconnected', ioDuringWindow: undefined }, noKube, 'refuse', 'not confirmed idle'],
  ] as const)('%s with %j and %j: %s', (mode, storage, kubernetes, action, phrase) => {
    const decision = decide(mode, { storage, kubernetes });
    expect(decision.action).toBe(action);
    const text = decision.action === 'take-over' ? decision.reasons.join(' ') : decision.missing.join(' ');
    expect(text).toContain(phrase);
    if (decision.action === 'take-over') expect(decision.warning).toBe(mode === 'force');
  });
});

describe('preemption decisions, every combination of signals', () => {
  const clientStates = ['Connected', 'Disconnected', 'Unknown'] as const;
  const ioValues = [true, false, undefined] as const;
  const tri = [true, false, undefined] as const;
  const kubes: KubernetesEvidence[] = [{ configured: false }];
  for (const nodeExists of [true, false]) {
    for (const nodeReady of tri) {
      for (const outOfService of [true, false]) {
        for (const heartbeatExpired of tri) kubes.push({ configured: true, nodeExists, nodeReady, outOfService, heartbeatExpired });
      }
    }
  }
  const cases: { mode: (typeof PREEMPTION_MODES)[number]; evidence: HolderEvidence }[] = [];
  for (const mode of PREEMPTION_MODES) {
    for (const clientState of clientStates) {
      for (const ioDuringWindow of ioValues) {
        for (const kubernetes of kubes) cases.push({ mode, evidence: { storage: { clientState, ioDuringWindow }, kubernetes } });
      }
    }
  }

  /** The rule as the issue states it, written out independently of decide(). */
  function expected(mode: string, e: HolderEvidence): 'take-over' | 'refuse' {
    if (mode === 'never') return 'refuse';
    if (mode === 'force') return 'take-over';
    const storageSaysGone = e.storage.clientState === 'Disconnected' && e.storage.ioDuringWindow === false;
    const k = e.kubernetes;
    const kubeSaysGone = !k.configured || !k.nodeExists || k.nodeReady === false || k.outOfService || k.heartbeatExpired === true;
    return storageSaysGone && kubeSaysGone ? 'take-over' : 'refuse';
  }

  it(`covers ${3 * 3 * 3 * (1 + 2 * 3 * 2 * 3)} combinations`, () => {
    expect(cases).toHaveLength(3 * 3 * 3 * 37);
    let takeovers = 0;
    for (const { mode, evidence } of cases) {
      const decision = decide(mode, evidence);
      expect({ mode, evidence, action: decision.action }).toEqual({ mode, evidence, action: expected(mode, evidence) });
      if (decision.action === 'refuse') expect(decision.missing.length).toBeGreaterThan(0);
      else takeovers += 1;
    }
    // force takes every case; safe only those where both sides agree.
    expect(takeovers).toBeGreaterThan(3 * 3 * 37);
  });
});

describe('preemption policy parameter', () => {
  it('accepts the three modes and falls back to the default', () => {
    expect(parsePreemptionMode('never', 'safe')).toBe('never');
    expect(parsePreemptionMode(undefined, 'safe')).toBe('safe');
    expect(parsePreemptionMode('', 'force')).toBe('force');
    expect(() => parsePreemptionMode('always', 'safe')).toThrow(/not one of never, safe, force/);
  });
});
