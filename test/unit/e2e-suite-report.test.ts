import { describe, expect, it } from '@jest/globals';
import { KNOWN_SKIPS, knownSkipOf, knownSkipsFor, machineHasSysResource, skipExpression } from '../e2e/suite/known-skips.js';
import { formatSummary, summarise } from '../e2e/suite/report.js';

// The storage suite's summary decides whether `npm run e2e:suite` passes: a failure in any state ginkgo has for it, or
// in the suite's setup (no leaf text), must count; a spec the focus left out must not count as a skip.
describe('storage suite report', () => {
  const spec = (leaf: string, State: string, message?: string): object => ({
    ContainerHierarchyTexts: ['External Storage [Driver: ferry.csi.io]', '[Testpattern: Dynamic PV (xfs)] volumes'],
    LeafNodeText: leaf,
    State,
    ...(message === undefined ? {} : { Failure: { Message: message } }),
  });

  it('counts passes, every failing state, skips by reason, and leaves out unselected specs', () => {
    const summary = summarise([
      {
        SpecReports: [
          spec('should store data', 'passed'),
          spec('should allow exec', 'failed', 'timed out waiting for pod\nmore'),
          spec('should resize', 'timedout', 'deadline'),
          spec('should panic', 'panicked', 'nil'),
          spec('raw block', 'skipped', "Driver ferry.csi.io doesn't support Block -- skipping"),
          spec('raw block 2', 'skipped', "Driver  ferry.csi.io doesn't support Block -- skipping"),
          spec('in namespace', 'skipped', 'not enough topologies in e2e-provisioning-1234'),
          spec('other driver', 'skipped'),
          { LeafNodeText: '', State: 'failed', Failure: { Message: 'nodes not ready' } },
          { LeafNodeText: '', State: 'passed' },
          { LeafNodeText: 'Kubernetes e2e JUnit report', LeafNodeType: 'ReportAfterSuite', State: 'passed' },
        ],
      },
    ] as never);
    expect(summary.passed).toBe(1);
    expect(summary.failed).toHaveLength(4);
    expect(summary.failed[0]).toMatch(/should allow exec: timed out waiting for pod$/);
    expect(summary.failed[3]).toBe('(suite setup): nodes not ready');
    expect([...summary.skipped.entries()]).toEqual([
      ["Driver ferry.csi.io doesn't support Block -- skipping", 2],
      ['not enough topologies in <ns>', 1],
    ]);
    expect(summary.notSelected).toBe(1);
    expect(formatSummary('block', summary, 90_000)).toMatch(/^block: 1 passed, 4 failed, 3 skipped in 1\.5 min\n/);
  });

  it('counts a spec run.ts leaves out as a skip with its reason, and only that spec', () => {
    const skips = [{ spec: 'volumes .*should store data', reason: 'the storage cannot' }];
    const summary = summarise([{ SpecReports: [spec('should store data', 'skipped'), spec('should allow exec', 'skipped')] }] as never, skips);
    expect([...summary.skipped.entries()]).toEqual([['left out by run.ts: the storage cannot', 1]]);
    expect(summary.notSelected).toBe(1);
    // A focused run that never selected the spec does not count it as a skip.
    const focused = summarise([{ SpecReports: [spec('should store data', 'skipped')] }] as never, skips, 'should allow exec');
    expect(focused.skipped.size).toBe(0);
    expect(focused.notSelected).toBe(1);
  });

  it("gives ginkgo one --skip expression that matches each known skip's spec and not its neighbours", () => {
    expect(skipExpression([])).toBeUndefined();
    const expression = new RegExp(skipExpression(KNOWN_SKIPS.block) ?? '(?!)');
    const groupRestore =
      'External Storage [Driver: ferry.csi.io] [Testpattern: Dynamic Snapshot (delete policy)] volumegroupsnapshottable [Feature:volumegroupsnapshot] ' +
      'VolumeGroupSnapshottable  should create snapshots for StatefulSet volumes and verify data consistency after restore';
    expect(expression.test(groupRestore)).toBe(true);
    expect(knownSkipOf(KNOWN_SKIPS.block, groupRestore)?.reason).toMatch(/8 GiB/);
    expect(expression.test('External Storage [Driver: ferry.csi.io] [Testpattern: Dynamic Snapshot (delete policy)] snapshottable should restore')).toBe(false);
    const modify = (leaf: string): string =>
      `External Storage [Driver: ferry.csi.io] [Testpattern: Dynamic PV (default fs)] volume-modify-stress [FeatureGate:VolumeAttributesClass] [Feature:VolumeAttributesClass] multiple pods ${leaf} [Slow]`;
    expect(expression.test(modify('should modify volumes with a different volumeAttributesClass'))).toBe(true);
    expect(expression.test(modify('should provision volumes with volumeAttributesClass'))).toBe(false);
  });

  it('leaves out ext4 online growth only on a machine without CAP_SYS_RESOURCE, and never xfs or raw block growth', () => {
    const full = (pattern: string, leaf: string): string => `External Storage [Driver: ferry.csi.io] [Testpattern: ${pattern}] ${leaf}`;
    expect(machineHasSysResource('CapBnd:\t000001fffeffffff\n')).toBe(false);
    expect(machineHasSysResource('CapBnd:\t000001ffffffffff\n')).toBe(true);
    expect(knownSkipsFor('block', true)).toEqual(KNOWN_SKIPS.block);
    expect(knownSkipsFor('nfs', false)).toEqual(KNOWN_SKIPS.nfs);
    expect(knownSkipOf(knownSkipsFor('nfs', false), full('Dynamic PV (default fs)(allowExpansion)', 'volume-expand should resize volume when PVC is edited while pod is using it'))).toBeUndefined();
    const here = knownSkipsFor('block', false);
    const online = 'volume-expand should resize volume when PVC is edited while pod is using it';
    expect(knownSkipOf(here, full('Dynamic PV (default fs)(allowExpansion)', online))?.reason).toMatch(/CAP_SYS_RESOURCE/);
    expect(knownSkipOf(here, full('Generic Ephemeral-volume (default fs) (late-binding)', 'ephemeral should support expansion of pvcs created for ephemeral pvcs'))).toBeDefined();
    expect(knownSkipOf(here, full('Dynamic PV (xfs)] [Slow', `${online} [Slow]`))).toBeUndefined();
    expect(knownSkipOf(here, full('Dynamic PV (block volmode)(allowExpansion)', online))).toBeUndefined();
    expect(knownSkipOf(here, full('Generic Ephemeral-volume (block volmode) (late-binding)', 'ephemeral should support expansion of pvcs created for ephemeral pvcs'))).toBeUndefined();
    expect(knownSkipOf(here, full('Dynamic PV (default fs)(allowExpansion)', 'volume-expand Verify if offline PVC expansion works'))).toBeUndefined();
  });
});
