/**
 * Specs of Kubernetes' storage suite that `run.ts` leaves out on purpose (ginkgo `--skip`), each with the reason: a
 * property of the storage that the spec's fixed values cannot meet. Not for a spec that fails because of Ferry: that
 * is a bug to fix. The summary counts these apart, with their reasons, so that no skip goes unexplained; each is
 * written down in test/e2e/README.md too.
 */
export interface KnownSkip {
  /** Regular expression over the spec's full text (ginkgo's --skip). */
  spec: string;
  reason: string;
}

export const KNOWN_SKIPS: Record<'block' | 'nfs', readonly KnownSkip[]> = {
  block: [
    {
      spec: 'VolumeGroupSnapshottable .*should create snapshots for StatefulSet volumes and verify data consistency after restore',
      reason:
        'restores each group member into a fixed 1 MiB claim; PowerFlex allocates 8 GiB units, so every snapshot\'s ' +
        'restoreSize is 8 GiB and csi-provisioner refuses the smaller restore (as it must); group snapshots are taken ' +
        'and restored in npm run e2e instead',
    },
  ],
  nfs: [],
};

/** The ginkgo --skip expression for a driver's known skips, or undefined when it has none. */
export function skipExpression(skips: readonly KnownSkip[]): string | undefined {
  return skips.length === 0 ? undefined : skips.map((s) => `(${s.spec})`).join('|');
}

/** The known skip a spec (by its full text) falls under, if any. */
export function knownSkipOf(skips: readonly KnownSkip[], specText: string): KnownSkip | undefined {
  return skips.find((s) => new RegExp(s.spec).test(specText));
}
