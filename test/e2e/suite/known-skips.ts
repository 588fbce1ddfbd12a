import { readFileSync } from 'node:fs';

/**
 * Specs of Kubernetes' storage suite that `run.ts` leaves out on purpose (ginkgo `--skip`), each with the reason: a
 * property of the storage that the spec's fixed values cannot meet, or a limit of the machine the cluster runs on
 * (left out only where the limit is found). Not for a spec that fails because of Ferry: that is a bug to fix. The
 * summary counts these apart, with their reasons, so that no skip goes unexplained; each is written down in
 * test/e2e/README.md too.
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
    {
      spec: 'volume-modify-stress .*multiple pods should modify volumes with a different volumeAttributesClass',
      reason:
        "sets each claim's VolumeAttributesClass before any pod uses it; Ferry's block class binds late (topology), so " +
        'the claims are unbound and the API server forbids the change ("volumeAttributesClassName for bound claims"); ' +
        'the volume-modify specs that change a bound claim run and pass',
    },
  ],
  nfs: [],
};

/**
 * Growing a mounted ext4 (EXT4_IOC_RESIZE_FS) needs CAP_SYS_RESOURCE, which no process here has: not even root's
 * bounding set holds it, so no container can. Ferry's node plugin answers FAILED_PRECONDITION ("grow it while
 * unmounted") and grows ext4 at the next stage; xfs grows online (CAP_SYS_ADMIN). The suite's default filesystem is
 * Ferry's default, ext4.
 */
const ONLINE_GROW_REASON =
  'machine limit: growing a mounted ext4 needs CAP_SYS_RESOURCE, which no process on this machine has (Ferry answers ' +
  'FAILED_PRECONDITION and grows it at the next stage; xfs online growth runs)';
const EXT4_ONLINE_GROW: readonly KnownSkip[] = [
  {
    spec: String.raw`\[Testpattern: Dynamic PV \(default fs\)\(allowExpansion\)\] volume-expand should resize volume when PVC is edited while pod is using it`,
    reason: ONLINE_GROW_REASON,
  },
  {
    spec: String.raw`\[Testpattern: Generic Ephemeral-volume \(default fs\) \((immediate|late)-binding\)\] ephemeral should support expansion of pvcs created for ephemeral pvcs`,
    reason: ONLINE_GROW_REASON,
  },
];

/** Whether processes here can hold CAP_SYS_RESOURCE at all (bit 24 of the bounding set). */
export function machineHasSysResource(status = readFileSync('/proc/self/status', 'utf8')): boolean {
  const bound = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return bound !== undefined && ((BigInt(`0x${bound}`) >> 24n) & 1n) === 1n;
}

/** A driver's known skips on this machine: its own, and the machine limits that apply to it. */
export function knownSkipsFor(driver: 'block' | 'nfs', sysResource = machineHasSysResource()): readonly KnownSkip[] {
  return driver === 'block' && !sysResource ? [...KNOWN_SKIPS.block, ...EXT4_ONLINE_GROW] : KNOWN_SKIPS[driver];
}

/** The ginkgo --skip expression for a driver's known skips, or undefined when it has none. */
export function skipExpression(skips: readonly KnownSkip[]): string | undefined {
  return skips.length === 0 ? undefined : skips.map((s) => `(${s.spec})`).join('|');
}

/** The known skip a spec (by its full text) falls under, if any. */
export function knownSkipOf(skips: readonly KnownSkip[], specText: string): KnownSkip | undefined {
  return skips.find((s) => new RegExp(s.spec).test(specText));
}
