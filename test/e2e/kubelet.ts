import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import type { ChildService } from '../../src/harness/child.js';
import { startDaemon, waitFor } from './daemon.js';
import { CONTAINERD_SOCKET } from './containerd.js';
import { nsenterArgs, type NodeNamespaces } from './namespaces.js';
import { probeStatus } from './probes.js';
import type { RunRecords } from './records.js';

/**
 * A node's kubelet, inside the node's namespaces: its root dir is the standard /var/lib/kubelet (the node's own, see
 * namespaces.ts), it serves on the node's IP, and it talks to the node's containerd.
 */
export const KUBELET_PORT = 10250;
const HEALTHZ_PORT = 10248;

export interface KubeletSpec {
  node: string;
  address: string;
  configFile: string;
  kubeconfig: string;
  caCert: string;
  logFile: string;
  verbose: boolean;
  /**
   * How often the kubelet computes its Node's status (default: Kubernetes' 10s). The status carries volumesInUse, and
   * the kubelet mounts an attached volume only once it has reported it there: after a failover this loop alone
   * costs 0 to one period. Patched to the API server only when the status changed.
   */
  nodeStatusUpdateFrequency?: string;
}

export function writeKubeletConfig(spec: KubeletSpec): void {
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: spec.address,
    port: KUBELET_PORT,
    readOnlyPort: 0,
    // On the node's IP so that the host can probe it (the node's 127.0.0.1 is its own).
    healthzBindAddress: spec.address,
    healthzPort: HEALTHZ_PORT,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: spec.caCert },
    },
    authorization: { mode: 'Webhook' },
    // This machine: cgroup v1, no systemd as PID 1, no swap accounting, the host's cgroups shared by two kubelets.
    cgroupDriver: 'cgroupfs',
    failCgroupV1: false,
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${CONTAINERD_SOCKET}`,
    podLogsDir: '/var/log/pods',
    // Never evict for a full disk or low memory on a shared test machine, and never collect our imported images:
    // there is no registry to pull them back from.
    evictionHard: {
      'memory.available': '1Mi',
      'nodefs.available': '1%',
      'nodefs.inodesFree': '1%',
      'imagefs.available': '1%',
      'imagefs.inodesFree': '1%',
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    clusterDomain: 'cluster.local',
    resolvConf: '/etc/resolv.conf',
    // No systemd inhibitor locks here.
    shutdownGracePeriod: '0s',
    shutdownGracePeriodCriticalPods: '0s',
    ...(spec.nodeStatusUpdateFrequency ? { nodeStatusUpdateFrequency: spec.nodeStatusUpdateFrequency } : {}),
  };
  writeFileSync(spec.configFile, stringify(config));
}

export async function startKubelet(records: RunRecords, bin: string, ns: NodeNamespaces, pidFile: string, spec: KubeletSpec): Promise<ChildService> {
  const kubelet = await startDaemon(records, {
    name: `${spec.node}/kubelet`,
    node: spec.node,
    command: 'nsenter',
    args: [
      ...nsenterArgs(ns, pidFile),
      `${bin}/kubelet`,
      `--config=${spec.configFile}`,
      `--kubeconfig=${spec.kubeconfig}`,
      `--hostname-override=${spec.node}`,
      `--node-ip=${spec.address}`,
      '--v=1',
    ],
    logFile: spec.logFile,
    verbose: spec.verbose,
  });
  await waitFor(
    `${spec.node}'s kubelet to be healthy`,
    async () => (await probeStatus(`http://${spec.address}:${HEALTHZ_PORT}/healthz`)) === 200,
    { services: [kubelet], timeoutMs: 90_000 },
  );
  return kubelet;
}
