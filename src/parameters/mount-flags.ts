import { DomainError } from '../errors.js';

/**
 * The mount flags a volume capability (a PV's mountOptions) may carry, per filesystem: checked before `mount` runs on a
 * node (NodeStage, NodePublish) and where the controller first sees a capability (CreateVolume,
 * ValidateVolumeCapabilities, ControllerPublish, GetCapacity), so a flag the node would refuse fails early.
 *
 * Only options that change how this one filesystem behaves are allowed. Anything that makes mount(8) act on something
 * else (bind, rbind, move, remount, loop, offset, x-mount.*), change propagation (make-*, shared, private), name
 * another server (addr=, clientaddr=), relabel (context=), or stop the host (errors=panic) is refused, and so is any
 * option not listed: mount(8) joins the flags with commas, so each flag must be one option exactly.
 */
export type MountFlagFilesystem = 'ext4' | 'xfs' | 'nfs';

type Rule = true | RegExp;

const NUMBER = /^[0-9]{1,10}$/;
const SIZE = /^[0-9]{1,10}[kKmMgG]?$/;

/** Per-mount (VFS) flags: also what a publish's bind mount takes. */
const VFS: Record<string, Rule> = {
  ro: true,
  rw: true,
  defaults: true,
  noatime: true,
  atime: true,
  relatime: true,
  norelatime: true,
  strictatime: true,
  nostrictatime: true,
  nodiratime: true,
  diratime: true,
  lazytime: true,
  nolazytime: true,
  nosuid: true,
  nodev: true,
  noexec: true,
  sync: true,
  async: true,
  dirsync: true,
};

const EXT4: Record<string, Rule> = {
  discard: true,
  nodiscard: true,
  barrier: /^[01]$/,
  nobarrier: true,
  data: /^(ordered|writeback|journal)$/,
  commit: NUMBER,
  errors: /^(continue|remount-ro)$/,
  auto_da_alloc: true,
  noauto_da_alloc: true,
  delalloc: true,
  nodelalloc: true,
  journal_checksum: true,
  nojournal_checksum: true,
  user_xattr: true,
  nouser_xattr: true,
  acl: true,
  noacl: true,
  quota: true,
  noquota: true,
  usrquota: true,
  grpquota: true,
  prjquota: true,
  stripe: NUMBER,
  max_batch_time: NUMBER,
  min_batch_time: NUMBER,
  journal_ioprio: /^[0-7]$/,
  init_itable: NUMBER,
  noinit_itable: true,
  inode_readahead_blks: NUMBER,
  i_version: true,
  nombcache: true,
  dioread_nolock: true,
  dioread_lock: true,
  block_validity: true,
  noblock_validity: true,
};

const XFS: Record<string, Rule> = {
  discard: true,
  nodiscard: true,
  noquota: true,
  quota: true,
  uquota: true,
  usrquota: true,
  gquota: true,
  grpquota: true,
  pquota: true,
  prjquota: true,
  uqnoenforce: true,
  gqnoenforce: true,
  pqnoenforce: true,
  qnoenforce: true,
  inode32: true,
  inode64: true,
  largeio: true,
  nolargeio: true,
  logbufs: /^[2-8]$/,
  logbsize: SIZE,
  allocsize: SIZE,
  attr2: true,
  noattr2: true,
  filestreams: true,
  swalloc: true,
  wsync: true,
  noalign: true,
  sunit: NUMBER,
  swidth: NUMBER,
  ikeep: true,
  noikeep: true,
  nouuid: true,
};

const NFS: Record<string, Rule> = {
  vers: /^(3|4|4\.0|4\.1|4\.2)$/,
  nfsvers: /^(3|4|4\.0|4\.1|4\.2)$/,
  minorversion: /^[0-2]$/,
  hard: true,
  soft: true,
  softreval: true,
  nosoftreval: true,
  timeo: NUMBER,
  retrans: NUMBER,
  retry: NUMBER,
  rsize: NUMBER,
  wsize: NUMBER,
  proto: /^(tcp|tcp6|udp|udp6|rdma|rdma6)$/,
  mountproto: /^(tcp|tcp6|udp|udp6)$/,
  port: NUMBER,
  mountport: NUMBER,
  mountvers: /^[1-3]$/,
  nconnect: /^([1-9]|1[0-6])$/,
  actimeo: NUMBER,
  acregmin: NUMBER,
  acregmax: NUMBER,
  acdirmin: NUMBER,
  acdirmax: NUMBER,
  ac: true,
  noac: true,
  lookupcache: /^(all|none|pos|positive)$/,
  cto: true,
  nocto: true,
  lock: true,
  nolock: true,
  local_lock: /^(none|all|flock|posix)$/,
  sec: /^(sys|krb5|krb5i|krb5p|none)$/,
  sharecache: true,
  nosharecache: true,
  resvport: true,
  noresvport: true,
  rdirplus: true,
  nordirplus: true,
  intr: true,
  nointr: true,
  fsc: true,
  nofsc: true,
};

const BY_FILESYSTEM: Record<MountFlagFilesystem, Record<string, Rule>> = { ext4: EXT4, xfs: XFS, nfs: NFS };

function allowed(rules: Record<string, Rule>, flag: string): boolean {
  const eq = flag.indexOf('=');
  const key = eq < 0 ? flag : flag.slice(0, eq);
  if (!Object.hasOwn(rules, key)) return false;
  const rule = rules[key];
  if (rule === true) return eq < 0;
  return eq >= 0 && rule !== undefined && rule.test(flag.slice(eq + 1));
}

/** Whether `flag` is a per-mount flag (one a bind mount applies; the filesystem's own options were set at stage). */
export function isVfsFlag(flag: string): boolean {
  return allowed(VFS, flag);
}

/** Throws invalid-argument naming `field` and the first flag `fs` does not allow. */
export function checkMountFlags(flags: readonly string[], fs: MountFlagFilesystem, field: string): void {
  flags.forEach((flag, i) => {
    if (!allowed(VFS, flag) && !allowed(BY_FILESYSTEM[fs], flag)) {
      const shown = flag.length > 64 ? `${flag.slice(0, 64)}… (${flag.length} characters)` : flag;
      throw new DomainError('invalid-argument', `${field}[${i}] ${JSON.stringify(shown)} is not a mount option Ferry allows for ${fs}`);
    }
  });
}
