import type { ChildService } from '../../src/harness/child.js';
import { startDaemon, waitFor } from './daemon.js';
import { nsenterArgs, type NodeNamespaces } from './namespaces.js';
import type { RunRecords } from './records.js';

/**
 * A node's PID namespace, with an init of its own as PID 1, and the node's /proc showing that namespace.
 *
 * Why: tools that look at "the host" from a privileged pod go through /proc/1. Kubernetes' storage suite runs its host
 * commands as `nsenter --mount=/rootfs/proc/1/ns/mnt` in a pod with the node's `/` at /rootfs; with the nodes in the
 * host's PID namespace that is the host's mount namespace, where the node's /var/lib/kubelet does not exist. With a PID
 * namespace per node, whose PID 1 lives in the node's mount namespace, /proc/1 is the node's as on a real machine.
 *
 * Everything the node runs (containerd, kubelet, commands run "on the node") enters this namespace, because the node's
 * /proc is this namespace's: a process outside it would find no /proc/self there. The namespace dies with its init,
 * so a killed node (node.ts) gets a new one when it boots again.
 *
 * PID 1 is perl (always on Debian), because PID 1 must reap: containerd's shims are re-parented to it and would stay
 * zombies under a `sleep`.
 */
export interface NodeInit {
  service: ChildService;
  /** The namespace file that `nsenter --pid` joins. */
  pidFile: string;
}

const READY = 'node-init: /proc mounted';

/**
 * In the node's mount namespace: take down every /proc there (at first boot the copy of the host's, which
 * createNodeNamespaces made a slave so that nothing mounted here reaches the host; after a revive the dead namespace's)
 * and mount this namespace's. busybox's umount, because util-linux's needs /proc/self, which a dead namespace's /proc
 * no longer has.
 */
const INIT_SCRIPT = [
  'set -e',
  'while busybox umount -l /proc 2>/dev/null; do :; done',
  'mount -t proc proc /proc',
  `echo '${READY}'`,
  `exec perl -e 'while (1) { sleep 1 if wait() == -1 }'`,
].join('\n');

export async function startNodeInit(records: RunRecords, node: string, ns: NodeNamespaces, logFile: string): Promise<NodeInit> {
  const service = await startDaemon(records, {
    name: `${node}/init`,
    node,
    command: 'nsenter',
    // nsenter execs unshare, so the recorded pid is unshare's; its pid_for_children is the node's PID namespace.
    args: [...nsenterArgs(ns), 'unshare', '--pid', '--fork', '--', 'sh', '-c', INIT_SCRIPT],
    logFile,
  });
  await waitFor(`${node}'s init to mount its /proc`, async () => service.tail(5).some((line) => line.includes(READY)), {
    services: [service],
    timeoutMs: 10_000,
    intervalMs: 50,
  });
  return { service, pidFile: `/proc/${service.pid}/ns/pid_for_children` };
}
