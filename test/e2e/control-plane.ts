import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ChildService } from '../../src/harness/child.js';
import { startDaemon, waitFor } from './daemon.js';
import { probe, probeStatus } from './probes.js';
import { HOST_ADDRESS, SERVICE_CIDR } from './network.js';
import type { Pki } from './pki.js';
import type { RunRecords } from './records.js';

/**
 * The control plane, as plain host processes: etcd, kube-apiserver, kube-controller-manager, kube-scheduler (and the
 * snapshot controller, which is a controller like the others). Single instances, so no leader election.
 */
export const ETCD_CLIENT_URL = 'http://127.0.0.1:2379';
const ETCD_PEER_URL = 'http://127.0.0.1:2380';
/** 443 so that the `kubernetes` Service's IP, which is a host address (network.ts), reaches it without kube-proxy. */
export const APISERVER_PORT = 443;
const CONTROLLER_MANAGER_PORT = 10257;
const SCHEDULER_PORT = 10259;

export interface ControlPlaneContext {
  records: RunRecords;
  bin: string;
  runDir: string;
  logDir: string;
  pki: Pki;
  verbose: boolean;
}

export async function startEtcd(ctx: ControlPlaneContext): Promise<ChildService> {
  const dataDir = path.join(ctx.runDir, 'etcd');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const etcd = await startDaemon(ctx.records, {
    name: 'etcd',
    command: path.join(ctx.bin, 'etcd'),
    args: [
      '--name=e2e',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${ETCD_CLIENT_URL}`,
      `--advertise-client-urls=${ETCD_CLIENT_URL}`,
      `--listen-peer-urls=${ETCD_PEER_URL}`,
      `--initial-advertise-peer-urls=${ETCD_PEER_URL}`,
      `--initial-cluster=e2e=${ETCD_PEER_URL}`,
      // A test cluster's data need not survive a power cut; fsync on every write would slow everything down.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    logFile: path.join(ctx.logDir, 'etcd.log'),
    verbose: ctx.verbose,
  });
  await waitFor(
    'etcd to be healthy',
    async () => {
      const res = await probe(`${ETCD_CLIENT_URL}/health`);
      return res.status === 200 && (JSON.parse(res.body) as { health?: string }).health === 'true';
    },
    { services: [etcd], timeoutMs: 60_000 },
  );
  return etcd;
}

export async function startApiserver(ctx: ControlPlaneContext): Promise<ChildService> {
  const { pki } = ctx;
  const apiserver = await startDaemon(ctx.records, {
    name: 'kube-apiserver',
    command: path.join(ctx.bin, 'kube-apiserver'),
    args: [
      `--etcd-servers=${ETCD_CLIENT_URL}`,
      '--bind-address=0.0.0.0',
      `--secure-port=${APISERVER_PORT}`,
      // The `kubernetes` Service's endpoint: the host's address on the cluster bridge, reachable from every node.
      `--advertise-address=${HOST_ADDRESS}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      `--client-ca-file=${pki.ca.cert}`,
      `--tls-cert-file=${pki.apiserver.cert}`,
      `--tls-private-key-file=${pki.apiserver.key}`,
      `--kubelet-client-certificate=${pki.apiserverKubeletClient.cert}`,
      `--kubelet-client-key=${pki.apiserverKubeletClient.key}`,
      // Each node has its own IP (its network namespace) and the kubelet's port is in the Node's status.
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      // The CSI node plugin is privileged.
      '--allow-privileged=true',
      '--profiling=false',
    ],
    logFile: path.join(ctx.logDir, 'kube-apiserver.log'),
    verbose: ctx.verbose,
  });
  await waitFor(
    'kube-apiserver to be ready',
    async () => (await probeStatus(`https://127.0.0.1:${APISERVER_PORT}/readyz`, { ca: pki.ca.cert, client: pki.admin })) === 200,
    { services: [apiserver], timeoutMs: 120_000 },
  );
  return apiserver;
}

export interface ControllerManagerOptions {
  kubeconfig: string;
  /** How long a silent node stays Ready (the controller manager's --node-monitor-grace-period). */
  nodeMonitorGracePeriod: string;
  /** --kube-api-qps / --kube-api-burst of every controller's client (unset: Kubernetes' 20 / 30). */
  kubeApi?: { qps: number; burst: number };
}

/**
 * The controller manager's Prometheus metrics (text), read as the cluster's admin (its delegated authentication and
 * authorization take the admin's client certificate); its serving certificate is self-signed.
 */
export async function controllerManagerMetrics(pki: Pki): Promise<string> {
  const r = await probe(`https://127.0.0.1:${CONTROLLER_MANAGER_PORT}/metrics`, { client: pki.admin, timeoutMs: 10_000 });
  if (r.status !== 200) throw new Error(`kube-controller-manager /metrics answered ${r.status}: ${r.body.slice(0, 200)}`);
  return r.body;
}

export async function startControllerManager(ctx: ControlPlaneContext, options: ControllerManagerOptions): Promise<ChildService> {
  const { pki } = ctx;
  const kcm = await startDaemon(ctx.records, {
    name: 'kube-controller-manager',
    command: path.join(ctx.bin, 'kube-controller-manager'),
    args: [
      `--kubeconfig=${options.kubeconfig}`,
      `--authentication-kubeconfig=${options.kubeconfig}`,
      `--authorization-kubeconfig=${options.kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${CONTROLLER_MANAGER_PORT}`,
      '--leader-elect=false',
      '--controllers=*',
      // Each controller acts as its own service account, as in a real cluster (RBAC mistakes show up here too).
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.ca.cert}`,
      `--cluster-signing-cert-file=${pki.ca.cert}`,
      `--cluster-signing-key-file=${pki.ca.key}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      `--node-monitor-grace-period=${options.nodeMonitorGracePeriod}`,
      ...(options.kubeApi ? [`--kube-api-qps=${options.kubeApi.qps}`, `--kube-api-burst=${options.kubeApi.burst}`] : []),
      '--profiling=false',
    ],
    logFile: path.join(ctx.logDir, 'kube-controller-manager.log'),
    verbose: ctx.verbose,
  });
  await waitFor(
    'kube-controller-manager to be healthy',
    async () => (await probeStatus(`https://127.0.0.1:${CONTROLLER_MANAGER_PORT}/healthz`)) === 200,
    { services: [kcm], timeoutMs: 60_000 },
  );
  return kcm;
}

export async function startScheduler(ctx: ControlPlaneContext, kubeconfig: string): Promise<ChildService> {
  const scheduler = await startDaemon(ctx.records, {
    name: 'kube-scheduler',
    command: path.join(ctx.bin, 'kube-scheduler'),
    args: [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${SCHEDULER_PORT}`,
      '--leader-elect=false',
      '--profiling=false',
    ],
    logFile: path.join(ctx.logDir, 'kube-scheduler.log'),
    verbose: ctx.verbose,
  });
  await waitFor(
    'kube-scheduler to be healthy',
    async () => (await probeStatus(`https://127.0.0.1:${SCHEDULER_PORT}/healthz`)) === 200,
    { services: [scheduler], timeoutMs: 60_000 },
  );
  return scheduler;
}

/** The snapshot controller (external-snapshotter), as a host process with the admin kubeconfig. Needs the CRDs. */
export async function startSnapshotController(ctx: ControlPlaneContext, kubeconfig: string): Promise<ChildService> {
  return startDaemon(ctx.records, {
    name: 'snapshot-controller',
    command: path.join(ctx.bin, 'snapshot-controller'),
    // CSIVolumeGroupSnapshot: VolumeGroupSnapshots (groupsnapshot.storage.k8s.io/v1) are served by the CRDs the harness installs.
    args: [`--kubeconfig=${kubeconfig}`, '--leader-election=false', '--v=2', '--feature-gates=CSIVolumeGroupSnapshot=true'],
    logFile: path.join(ctx.logDir, 'snapshot-controller.log'),
    verbose: ctx.verbose,
  });
}
