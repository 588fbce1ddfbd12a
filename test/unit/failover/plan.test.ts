import { describe, expect, test } from '@jest/globals';
import { decideFence, planNode, type BackendView, type NodeSignals } from '../../../src/failover/plan.js';

const HEARTBEATS: NodeSignals['heartbeat'][] = ['fresh', 'expired', 'absent'];
const READY: NodeSignals['nodeReady'][] = [true, false, undefined];
const BOOL = [true, false];

function allSignals(): NodeSignals[] {
  return HEARTBEATS.flatMap((heartbeat) =>
    READY.flatMap((nodeReady) => BOOL.flatMap((fencedByFerry) => BOOL.map((cleanSinceFence) => ({ heartbeat, nodeReady, fencedByFerry, cleanSinceFence })))),
  );
}

describe('planNode: every combination of Kubernetes signals (36 rows)', () => {
  const rows = allSignals();
  test.each(rows.map((s) => [JSON.stringify(s), s] as const))('%s', (_, s) => {
    const plan = planNode(s);
    if (s.fencedByFerry) {
      // A fenced node is given back only when Ready, beating and clean since the fence; otherwise it says what it waits for.
      if (s.nodeReady === true && s.heartbeat === 'fresh' && s.cleanSinceFence) {
        expect(plan.action).toBe('unfence');
      } else {
        expect(plan).toEqual({ action: 'keep-fenced', waitingFor: expect.any(Array) });
        const waiting = plan.action === 'keep-fenced' ? plan.waitingFor.join('|') : '';
        expect(waiting.includes('Ready')).toBe(s.nodeReady !== true);
        expect(waiting.includes('heartbeat')).toBe(s.heartbeat !== 'fresh');
        expect(waiting.includes('cleaned up')).toBe(!s.cleanSinceFence);
      }
      return;
    }
    // Not fenced: suspect exactly when the heartbeat expired or the Node is NotReady. An absent heartbeat (no plugin
    // ever ran there, or an old driver) and an unknown Ready condition are not evidence of anything.
    const suspect = s.heartbeat === 'expired' || s.nodeReady === false;
    expect(plan.action).toBe(suspect ? 'check-storage' : 'none');
  });

  test('named cases', () => {
    expect(planNode({ heartbeat: 'expired', nodeReady: true, fencedByFerry: false, cleanSinceFence: false })).toEqual({
      action: 'check-storage',
      why: ["its node plugin's heartbeat Lease expired"],
    });
    expect(planNode({ heartbeat: 'fresh', nodeReady: false, fencedByFerry: false, cleanSinceFence: false })).toEqual({ action: 'check-storage', why: ['the Node is NotReady'] });
    expect(planNode({ heartbeat: 'fresh', nodeReady: true, fencedByFerry: true, cleanSinceFence: false })).toEqual({
      action: 'keep-fenced',
      waitingFor: ['the node plugin to report it cleaned up after the fence'],
    });
  });
});

const STATES = ['Connected', 'Disconnected', 'Unknown'] as const;
const IO = [true, false, undefined];

/** Every kind of answer one backend can give about a node: 11 kinds. */
function viewsFor(backend: string): BackendView[] {
  return [
    { backend, known: false },
    { backend, error: 'gateway unavailable' },
    ...STATES.flatMap((clientState) => IO.map((ioDuringWindow) => ({ backend, known: true as const, evidence: { clientState, ioDuringWindow }, volumes: 2 }))),
  ];
}

function provesGone(view: BackendView): boolean {
  return 'known' in view && view.known && view.evidence.clientState === 'Disconnected' && view.evidence.ioDuringWindow === false;
}

describe('decideFence: every pair of backend answers (121 rows), and each answer alone', () => {
  const pairs = viewsFor('a').flatMap((a) => viewsFor('b').map((b) => [a, b] as const));
  const singles = viewsFor('a').map((a) => [a] as const);
  test.each([...pairs, ...singles].map((views) => [JSON.stringify(views), views] as const))('%s', (_, views) => {
    const decision = decideFence(views);
    const errors = views.filter((v) => 'error' in v);
    const known = views.filter((v) => 'known' in v && v.known);
    // Fence only if nobody failed to answer, somebody has a client for the node, and every such one proves it gone.
    const expected = errors.length === 0 && known.length > 0 && known.every(provesGone);
    expect(decision.fence).toBe(expected);
    if (!decision.fence) expect(decision.missing.length).toBeGreaterThan(0);
    else expect(decision.reasons).toHaveLength(known.length);
  });

  test('no backend at all: nothing to fence', () => {
    expect(decideFence([])).toEqual({ fence: false, missing: ['no storage backend has a data client for this node: nothing to fence'] });
  });
});
