import { mkdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exec } from '../../src/util/exec.js';
import { isMountPoint } from './mounts.js';
import { listProcs, withDescendants } from './procs.js';
import type { RunRecords } from './records.js';

/**
 * A node's own network and mount namespaces: what makes two "machines" out of one.
 *
 * - Network: the node has its own interfaces and IP (see network.ts), so host-network pods on different nodes (the
 *   node plugins of one DaemonSet, with their fixed health and metrics ports) do not collide, and the API server
 *   reaches each kubelet at its own address.
 * - Mount: the node sees its own directories at the standard paths (/var/lib/kubelet, /var/lib/containerd,
 *   /run/containerd, ...), bind-mounted from <run>/<node>/root/..., so one DaemonSet spec with kubeletDir
 *   /var/lib/kubelet fits both nodes. Everything else (the host's /, /dev, /sys, loop devices) is shared.
 *
 * Mount propagation, which the CSI node plugin's Bidirectional mounts need:
 * - `/` is made rshared on the host first (as on any systemd machine);
 * - <run>/<node> is a bind mount of itself with its own peer group, created before any node namespace exists;
 * - in the node's namespace `/` is made a slave (so the node's binds at /var/lib/kubelet etc. stay in the node) and
 *   then shared again, with a peer group of its own (so a Bidirectional hostPath anywhere on the node's / is allowed,
 *   and its mounts reach the node but not the host);
 * - each node path is bound from <run>/<node>/root/<path>: a bind of a shared mount joins its peer group, so a mount
 *   made under the node's /var/lib/kubelet shows on the host under <run>/<node>/root/var/lib/kubelet, and back.
 *   Teardown therefore sees, and unmounts, every mount made under the node paths from the host. A mount made
 *   elsewhere on the node's / lives in the node's mount namespace only and goes away with it.
 */
export interface NodeNamespaces {
  netFile: string;
  mntFile: string;
  /** Its own host name (the node's name), as a machine has: host-network pods' identities (leader election) use it. */
  utsFile: string;
}

/** Paths every node has its own copy of. The CNI netns dir too: pod network namespaces are node-local. */
export const NODE_PATHS = [
  '/var/lib/kubelet',
  '/var/lib/containerd',
  '/run/containerd',
  '/var/log/pods',
  '/var/log/containers',
  '/etc/cni/net.d',
  '/run/netns',
] as const;

/**
 * `nsenter` arguments that run a command inside the node: its network, mount and UTS namespaces, and its PID namespace
 * (node-init.ts) once the node has booted. With `--pid` nsenter forks: the command is nsenter's child.
 */
export function nsenterArgs(ns: NodeNamespaces, pidFile?: string): string[] {
  const pid = pidFile === undefined ? [] : [`--pid=${pidFile}`];
  return [`--net=${ns.netFile}`, `--mount=${ns.mntFile}`, `--uts=${ns.utsFile}`, ...pid, '--'];
}

/** `mount --make-rshared /`, recorded so that teardown can undo it, unless / is already shared. */
export async function ensureRootShared(records: RunRecords): Promise<void> {
  const { stdout } = await exec('findmnt', ['-n', '-o', 'PROPAGATION', '/']);
  if (stdout.trim() === 'shared') return;
  records.add({ kind: 'rshared' });
  await exec('mount', ['--make-rshared', '/']);
}

/**
 * <dir> as a bind mount of itself. `propagation` "private" holds namespace files (a mount namespace cannot be pinned
 * on a shared mount); "shared" gives a node directory its own peer group.
 */
export async function selfBind(dir: string, propagation: 'private' | 'shared'): Promise<void> {
  mkdirSync(dir, { recursive: true });
  if (!isMountPoint(dir)) await exec('mount', ['--bind', dir, dir]);
  await exec('mount', ['--make-private', dir]);
  if (propagation === 'shared') await exec('mount', ['--make-shared', dir]);
}

/** Creates the mount points the node paths need on the host (recorded, removed at teardown when empty). */
export function ensureMountPoints(records: RunRecords, paths: readonly string[]): void {
  for (const p of paths) {
    // Record the topmost directory that does not exist yet: that is what teardown removes.
    let top: string | undefined;
    for (let dir = p; dir !== '/'; dir = path.dirname(dir)) {
      try {
        statSync(dir);
        break;
      } catch {
        top = dir;
      }
    }
    if (top !== undefined) records.add({ kind: 'dir', path: top });
    mkdirSync(p, { recursive: true });
  }
}

/**
 * Creates the node's namespaces, pinned by bind mounts on files in `nsDir` (which must be a private mount), and its
 * private binds of `paths` from `nodeRoot`. The namespaces outlive every process in them, so a node can be killed and
 * revived with the same identity.
 */
export async function createNodeNamespaces(
  records: RunRecords,
  node: string,
  nsDir: string,
  nodeRoot: string,
  paths: readonly string[],
): Promise<NodeNamespaces> {
  const netFile = path.join(nsDir, `${node}.net`);
  const mntFile = path.join(nsDir, `${node}.mnt`);
  const utsFile = path.join(nsDir, `${node}.uts`);
  writeFileSync(netFile, '');
  writeFileSync(mntFile, '');
  writeFileSync(utsFile, '');
  const binds: string[] = [];
  for (const p of paths) {
    const source = path.join(nodeRoot, p);
    mkdirSync(source, { recursive: true });
    binds.push(`mount --bind '${source}' '${p}'`);
  }
  // One shell inside the new namespaces; its arguments are our own paths (no spaces or quotes in them).
  // /proc a slave of the host's: the node mounts a /proc of its own PID namespace over it (node-init.ts), which must
  // not reach the host's.
  const script = ['set -e', `hostname '${node}'`, 'mount --make-slave /', 'mount --make-shared /', 'mount --make-rslave /proc', ...binds].join('\n');
  await exec('unshare', [`--net=${netFile}`, `--mount=${mntFile}`, `--uts=${utsFile}`, '--propagation', 'unchanged', '--', 'sh', '-c', script], {
    timeoutMs: 30_000,
  });
  const ns = { netFile, mntFile, utsFile };
  records.add({ kind: 'node-ns', node, netFile, mntFile, netIno: statSync(netFile).ino, mntIno: statSync(mntFile).ino });
  return ns;
}

/** The inode number of a process's namespace (`net` or `mnt`), or undefined when the process is gone. */
export function nsInode(pid: number, kind: 'net' | 'mnt'): number | undefined {
  try {
    const m = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${kind}`));
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * Every process of a node: whatever runs in its network or mount namespace (kubelet, containerd, shims, host-network
 * containers, commands run inside the node), and everything below those (containers with namespaces of their own).
 */
export function nodeProcesses(ids: { netIno: number; mntIno: number }): Set<number> {
  const procs = listProcs();
  const roots = procs.filter((p) => nsInode(p.pid, 'net') === ids.netIno || nsInode(p.pid, 'mnt') === ids.mntIno).map((p) => p.pid);
  return withDescendants(roots, procs);
}
