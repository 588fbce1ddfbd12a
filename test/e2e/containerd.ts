import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildService } from '../../src/harness/child.js';
import { exec } from '../../src/util/exec.js';
import { startDaemon, waitFor } from './daemon.js';
import { nsenterArgs, type NodeNamespaces } from './namespaces.js';
import type { RunRecords } from './records.js';

/**
 * A node's containerd: Debian's 1.6 with its CRI plugin, inside the node's namespaces, so it uses the standard paths
 * (/var/lib/containerd, /run/containerd, /etc/cni/net.d), which the node's mount namespace maps to its own
 * directories. Images come from docker-save tarballs (images.sh), imported over its socket: there is no registry.
 */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
/** The socket inside the node. */
export const CONTAINERD_SOCKET = '/run/containerd/containerd.sock';
const CONTAINERD = '/usr/bin/containerd';

export interface ContainerdPaths {
  /** Where the node's / is seen from the host: <run>/<node>/root. */
  nodeRoot: string;
  /** Where its config file goes (a host path, visible in the node as the same path). */
  configFile: string;
  logFile: string;
}

/** The socket as the host reaches it (through the node's directory). */
export function hostSocket(paths: ContainerdPaths): string {
  return path.join(paths.nodeRoot, CONTAINERD_SOCKET);
}

export function writeContainerdConfig(paths: ContainerdPaths, subnet: string): void {
  // cgroup v1 without systemd: cgroupfs. Debian's CNI plugins are in /usr/lib/cni, not the default /opt/cni/bin.
  const config = `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${CONTAINERD_SOCKET}"

[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # We are root without CAP_SYS_RESOURCE here, so no process may lower its oom_score_adj (runc fails on the sandbox's
  # -998, critical pods' -997): clamp every container's to at least containerd's own, as for rootless containerd.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
`;
  writeFileSync(paths.configFile, config);
  // A bridge inside the node's network namespace with a subnet of its own: containerd's CRI plugin needs an eth0 with
  // an address for a pod that has its own network namespace (Kubernetes' storage suite makes only such pods; ours use
  // hostNetwork). No route between nodes and no kube-proxy: a pod reaches its own node and the host, where the API
  // server answers at the Service IP (network.ts routes the pod subnets), and nothing more. IPAM state lives in the node's own /run/containerd (two nodes, one host); lo is containerd's own.
  const cniDir = path.join(paths.nodeRoot, 'etc/cni/net.d');
  mkdirSync(cniDir, { recursive: true });
  const network = {
    cniVersion: '1.0.0',
    name: 'e2e-pods',
    plugins: [
      {
        type: 'bridge',
        bridge: 'e2e-pods',
        isGateway: true,
        ipMasq: false,
        ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: '/run/containerd/cni-ipam' },
      },
    ],
  };
  writeFileSync(path.join(cniDir, '10-e2e-pods.conflist'), `${JSON.stringify(network, null, 2)}\n`);
}

export async function startContainerd(
  records: RunRecords,
  node: string,
  ns: NodeNamespaces,
  pidFile: string,
  paths: ContainerdPaths,
  verbose: boolean,
): Promise<ChildService> {
  const containerd = await startDaemon(records, {
    name: `${node}/containerd`,
    node,
    command: 'nsenter',
    // With --pid nsenter forks: the recorded pid is nsenter's, containerd its child (a node dies by SIGKILL to all
    // its processes, node.ts, never by a signal to this pid alone).
    args: [...nsenterArgs(ns, pidFile), CONTAINERD, '--config', paths.configFile],
    logFile: paths.logFile,
    verbose,
  });
  const socket = hostSocket(paths);
  await waitFor(
    `${node}'s containerd to answer`,
    async () => existsSync(socket) && (await exec('ctr', ['-a', socket, 'version'], { timeoutMs: 5_000 })).exitCode === 0,
    { services: [containerd], timeoutMs: 60_000 },
  );
  return containerd;
}

/** Imports docker-save tarballs into the node's k8s.io namespace (where the CRI plugin looks), unpacked for overlayfs. */
export async function importImages(paths: ContainerdPaths, tarballs: readonly string[]): Promise<void> {
  const socket = hostSocket(paths);
  for (const tarball of tarballs) {
    await exec('ctr', ['-a', socket, '-n', 'k8s.io', 'images', 'import', tarball], { timeoutMs: 600_000 });
  }
}
