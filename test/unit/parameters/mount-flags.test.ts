import { checkMountFlags, isVfsFlag, type MountFlagFilesystem } from '../../../src/parameters/mount-flags.js';
import { DomainError } from '../../../src/errors.js';

/** The mount-flag allow-list (issue 14): what each filesystem takes, and everything that would act on something else. */
function refusal(flags: string[], fs: MountFlagFilesystem): string {
  try {
    checkMountFlags(flags, fs, 'volume_capability.mount.mount_flags');
  } catch (err) {
    if (err instanceof DomainError && err.kind === 'invalid-argument') return err.message;
    throw err;
  }
  return 'accepted';
}

test.each([
  ['ext4', ['ro', 'noatime', 'nodev', 'nosuid', 'noexec', 'discard', 'data=ordered', 'commit=30', 'errors=remount-ro', 'barrier=1', 'journal_ioprio=3']],
  ['xfs', ['rw', 'relatime', 'inode64', 'logbsize=256k', 'allocsize=64m', 'nouuid', 'prjquota', 'logbufs=8']],
  ['nfs', ['nfsvers=4.1', 'vers=3', 'hard', 'timeo=600', 'retrans=2', 'proto=tcp', 'nconnect=4', 'sec=krb5p', 'lookupcache=positive', 'noatime']],
] as const)('%s takes its own options and the per-mount ones', (fs, flags) => {
  expect(refusal([...flags], fs)).toBe('accepted');
});

test.each([
  ['ext4', 'bind'],
  ['ext4', 'rbind'],
  ['ext4', 'remount'],
  ['ext4', 'move'],
  ['ext4', 'make-shared'],
  ['ext4', 'loop'],
  ['ext4', 'offset=4096'],
  ['ext4', 'x-mount.mkdir'],
  ['ext4', 'errors=panic'],
  ['ext4', 'noatime,bind'],
  ['ext4', 'data=journal;id'],
  ['ext4', 'commit=1e9'],
  ['ext4', 'inode64'],
  ['ext4', 'discard=1'],
  ['ext4', 'noatime='],
  ['ext4', ''],
  ['ext4', '../../etc'],
  ['ext4', 'context=system_u:object_r:etc_t:s0'],
  ['ext4', 'constructor'],
  ['xfs', 'data=ordered'],
  ['xfs', 'logbufs=9'],
  ['nfs', 'addr=10.0.0.1'],
  ['nfs', 'clientaddr=10.0.0.1'],
  ['nfs', 'mountaddr=10.0.0.1'],
  ['nfs', 'nfsvers=9'],
  ['nfs', 'discard'],
] as const)('%s refuses %j, naming the field and the flag', (fs, flag) => {
  expect(refusal(['noatime', flag], fs)).toBe(`volume_capability.mount.mount_flags[1] ${JSON.stringify(flag)} is not a mount option Ferry allows for ${fs}`);
});

test('a long flag is shown cut short', () => {
  expect(refusal(['x'.repeat(100)], 'ext4')).toMatch(/"x{64}… \(100 characters\)"/);
});

test('isVfsFlag: per-mount flags only (what a bind takes)', () => {
  expect(['ro', 'noatime', 'nodev', 'nosuid', 'noexec'].every(isVfsFlag)).toBe(true);
  expect(['discard', 'data=ordered', 'bind', 'noatime=1'].some(isVfsFlag)).toBe(false);
});
