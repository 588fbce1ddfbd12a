import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { ChildService } from '../../src/harness/child.js';
import {
  startApiserver,
  controllerManagerMetrics,
  startControllerManager,
  startEtcd,
  startScheduler,
  startSnapshotController,
  APISERVER_PORT,
  type ControlPlaneContext,
} from './control-plane.js';
import { recordCgroupParents } from './cgroups.js';
import { waitFor } from './daemon.js';
import { Kubectl } from './kubectl.js';
import { writeKubeconfig } from './kubeconfig.js';
import { createNodeNamespaces, ensureMountPoints, ensureRootShared, selfBind, NODE_PATHS } from './namespaces.js';
import { connectNode, createBridge, HOST_ADDRESS, nodeAddress, SERVICE_IP } from './network.js';
import { LocalNode } from './node.js';
import { makePki, type Pki } from './pki.js';
import { startTimeOf } from './procs.js';
import { RunRecords } from './records.js';
import { RUN_ROOT, teardownRun, teardownStale, type TeardownReport } from './teardown.js';
import { imageTarballs, snapshotCrdDir, toolsBin } from './tools.js';

/**
 * A real Kubernetes cluster on this machine: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the
 * snapshot controller as host processes, and two (or more) nodes, each a network + mount namespace with its own
 * containerd and kubelet (namespaces.ts explains why that makes them separate machines to the cluster, and what they
 * share). Images are loaded from tarballs, there is no registry; pods use hostNetwork (the node's network) and
 * imagePullPolicy Never or IfNotPresent.
 *
 *   const cluster = await LocalCluster.start();
 *   await cluster.kubectl.run(['get', 'nodes']);
 *   await cluster.killNode('node2');   // ... and cluster.reviveNode('node2')
 *   await cluster.stop();
 *
 * Everything it changes on the machine is recorded in <run dir>/records.jsonl before it is changed; stop() and the
 * standalone teardown.ts undo exactly that, also after a crash. start() first tears down runs whose owner died.
 */
export interface LocalClusterOptions {
  /** Node names (default node1, node2). */
  nodes?: readonly string[];
  /** Images to load into every node, by tarball name (images.sh); default all. The pause image is always loaded. */
  images?: readonly string[];
  /**
   * More directories each node has its own copy of (besides NODE_PATHS). Default: /var/lib/ferry, the chart's
   * node.stateHostDir, so that each node plugin keeps its own state (and nothing lands on the host's /var/lib).
   * A hostPath outside these is the host's own directory, shared by the nodes.
   */
  extraNodePaths?: readonly string[];
  /** The controller manager's --node-monitor-grace-period: how soon a dead node goes NotReady (default 20s). */
  nodeMonitorGracePeriod?: string;
  /** The controller manager's API client rate (default: Kubernetes' 20 qps, burst 30). */
  controllerManagerApi?: { qps: number; burst: number };
  /** The kubelets' nodeStatusUpdateFrequency, e.g. '2s' (default: Kubernetes' 10s). */
  kubeletNodeStatusUpdateFrequency?: string;
  /** Start a host-network busybox pod on every node (and remove it) before start() returns (default true). */
  checkPods?: boolean;
  /** When start() fails: copy the daemons' logs into this directory before tearing down (default: they go). */
  failureLogsDir?: string;
  /** Copy every daemon's log to each line of our stderr. */
  verbose?: boolean;
  /** Progress messages (default: none). */
  log?: (message: string) => void;
}

export class LocalCluster {
  /** The admin kubeconfig (system:masters), for kubectl and the tests' clients. */
  readonly kubeconfig: string;
  readonly kubectl: Kubectl;
  /** The host's address as the nodes reach it (where a test's fake backend should listen to be reachable by pods). */
  readonly hostAddress = HOST_ADDRESS;
  /** The API server as host processes reach it. */
  readonly server = `https://127.0.0.1:${APISERVER_PORT}`;
  readonly nodes = new Map<string, LocalNode>();
  private readonly daemons: ChildService[] = [];
  private stopped = false;
  private pki: Pki | undefined;

  private constructor(
    readonly runDir: string,
    /** What this run changed, for teardown (tests record their own processes here too). */
    readonly records: RunRecords,
    private readonly options: LocalClusterOptions,
  ) {
    this.kubeconfig = path.join(runDir, 'admin.kubeconfig');
    this.kubectl = new Kubectl(this.kubeconfig);
  }

  /** Brings the whole cluster up; on any failure it tears down what it had started and rethrows. */
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const log = options.log ?? (() => undefined);
    for (const report of await teardownStale()) {
      log(`tore down stale run ${report.runDir}${report.problems.length > 0 ? `: ${report.problems.join('; ')}` : ''}`);
    }
    mkdirSync(RUN_ROOT, { recursive: true });
    // Short: kubelet plugin sockets end up below it and a unix socket path has at most 107 characters.
    const runDir = mkdtempSync(path.join(RUN_ROOT, 'r'));
    const records = new RunRecords(runDir);
    records.add({ kind: 'owner', pid: process.pid, startTime: startTimeOf(process.pid) });
    const cluster = new LocalCluster(runDir, records, options);
    try {
      await cluster.boot();
      return cluster;
    } catch (error) {
      const keep = options.failureLogsDir === undefined ? {} : { keepLogsIn: options.failureLogsDir };
      await cluster.stop(keep).catch(() => undefined);
      throw error;
    }
  }

  node(name: string): LocalNode {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node ${name} (nodes: ${[...this.nodes.keys()].join(', ')})`);
    return node;
  }

  /** The node dies: its kubelet, containerd, shims and containers are SIGKILLed. */
  killNode(name: string): Promise<void> {
    return this.node(name).kill();
  }

  /** The node boots again with the same directories (and images); resolves when its kubelet is healthy. */
  reviveNode(name: string): Promise<void> {
    return this.node(name).revive();
  }

  /** The controller manager's Prometheus metrics (text): what its controllers asked of the API server, and waited for. */
  async controllerManagerMetrics(): Promise<string> {
    if (this.pki === undefined) throw new Error('the cluster has not started');
    return controllerManagerMetrics(this.pki);
  }

  /** Waits until the Node's Ready condition is `status` ("True", or "False"/"Unknown" after killNode). */
  async waitForNodeReady(name: string, status: 'True' | 'False' | 'Unknown' = 'True', timeoutMs = 120_000): Promise<void> {
    await waitFor(
      `node ${name} Ready=${status}`,
      async () => {
        const node = await this.kubectl.getJson<{ status?: { conditions?: { type: string; status: string }[] } }>(['node', name]);
        return node.status?.conditions?.find((c) => c.type === 'Ready')?.status === status;
      },
      { timeoutMs, intervalMs: 1_000 },
    );
  }

  /**
   * Stops everything and removes every trace (teardown.ts). Safe to call twice, and after a failed start.
   * `keepLogsIn`: copy the daemons' logs there first (for a failed test's report).
   */
  async stop(options: { keepLogsIn?: string } = {}): Promise<TeardownReport> {
    if (options.keepLogsIn !== undefined) this.copyLogs(options.keepLogsIn);
    this.stopped = true;
    const report = await teardownRun(this.runDir);
    // Our ChildServices see their processes die; wait (a little) until they have closed their pipes and logs.
    const reaped = Promise.all([...this.daemons.map((d) => d.exited), ...[...this.nodes.values()].map((n) => n.exited())]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([reaped, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    if (report.problems.length > 0) throw new Error(`teardown of ${this.runDir} incomplete:\n  ${report.problems.join('\n  ')}`);
    return report;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  private copyLogs(dest: string): void {
    const sources: [string, string][] = [[path.join(this.runDir, 'logs'), 'control-plane']];
    for (const node of this.nodes.values()) sources.push([node.logDir, node.name]);
    mkdirSync(dest, { recursive: true });
    for (const [from, name] of sources) if (existsSync(from)) cpSync(from, path.join(dest, name), { recursive: true });
  }

  private async boot(): Promise<void> {
    const log = this.options.log ?? (() => undefined);
    const names = this.options.nodes ?? ['node1', 'node2'];
    const verbose = this.options.verbose ?? false;
    const started = Date.now();
    const step = (what: string) => log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${what}`);

    step('binaries and images');
    const bin = await toolsBin();
    const wanted = this.options.images === undefined ? undefined : [...new Set(['pause', ...this.options.images])];
    const images = await imageTarballs(wanted);

    step('namespaces and network');
    const { records, runDir } = this;
    await ensureRootShared(records);
    await selfBind(path.join(runDir, 'ns'), 'private');
    const nodePaths = [...NODE_PATHS, ...(this.options.extraNodePaths ?? ['/var/lib/ferry'])];
    ensureMountPoints(records, nodePaths);
    // Every node dir gets its peer group before any node namespace exists (namespaces.ts).
    for (const name of names) await selfBind(path.join(runDir, name), 'shared');
    const namespaces = [];
    for (const name of names) {
      namespaces.push(await createNodeNamespaces(records, name, path.join(runDir, 'ns'), path.join(runDir, name, 'root'), nodePaths));
    }
    await createBridge(records);
    recordCgroupParents(records);
    for (const [i, name] of names.entries()) await connectNode(records, name, namespaces[i]!.netFile, nodeAddress(i));

    step('certificates');
    const pki = await makePki(path.join(runDir, 'pki'), {
      apiserverIps: ['127.0.0.1', HOST_ADDRESS, SERVICE_IP, ...names.map((_, i) => nodeAddress(i))],
      nodes: names,
    });
    this.pki = pki;
    const kubeconfigs = this.writeKubeconfigs(pki, names);
    const logDir = path.join(runDir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const ctx: ControlPlaneContext = { records, bin, runDir, logDir, pki, verbose };

    for (const [i, name] of names.entries()) {
      this.nodes.set(
        name,
        new LocalNode(records, {
          name,
          address: nodeAddress(i),
          dir: path.join(runDir, name),
          ns: namespaces[i]!,
          bin,
          kubeconfig: kubeconfigs.nodes[name]!,
          caCert: pki.ca.cert,
          verbose,
          ...(this.options.kubeletNodeStatusUpdateFrequency ? { nodeStatusUpdateFrequency: this.options.kubeletNodeStatusUpdateFrequency } : {}),
        }),
      );
    }

    // The control plane and the nodes' runtimes (with their image imports, the slow part) come up side by side.
    step('control plane, containerds, image imports');
    const controlPlane = (async () => {
      this.daemons.push(await startEtcd(ctx));
      this.daemons.push(await startApiserver(ctx));
      step('API server ready');
      this.daemons.push(await startControllerManager(ctx, {
        kubeconfig: kubeconfigs.controllerManager,
        nodeMonitorGracePeriod: this.options.nodeMonitorGracePeriod ?? '20s',
        kubeApi: this.options.controllerManagerApi,
      }));
      this.daemons.push(await startScheduler(ctx, kubeconfigs.scheduler));
      await this.installSnapshotCrds(bin);
      this.daemons.push(await startSnapshotController(ctx, this.kubeconfig));
      step('controllers running');
    })();
    const runtimes = Promise.all(
      [...this.nodes.values()].map(async (node) => {
        await node.startContainerd();
        await node.importImages(images.map((i) => i.file));
      }),
    ).then(() => step(`images loaded (${images.map((i) => i.ref).join(', ')})`));
    await Promise.all([controlPlane, runtimes]);

    step('kubelets');
    await Promise.all([...this.nodes.values()].map((node) => node.startKubelet()));
    for (const name of names) await this.waitForNodeReady(name);
    step('nodes Ready');
    await this.waitForDefaultServiceAccount();
    if (this.options.checkPods ?? true) {
      await this.checkPods(names);
      step('a pod ran on every node');
    }
  }

  private writeKubeconfigs(pki: Pki, names: readonly string[]) {
    const dir = path.join(this.runDir, 'kubeconfigs');
    mkdirSync(dir, { recursive: true });
    writeKubeconfig(this.kubeconfig, this.server, pki.ca.cert, pki.admin, 'admin');
    const controllerManager = path.join(dir, 'controller-manager.kubeconfig');
    writeKubeconfig(controllerManager, this.server, pki.ca.cert, pki.controllerManager, 'system:kube-controller-manager');
    const scheduler = path.join(dir, 'scheduler.kubeconfig');
    writeKubeconfig(scheduler, this.server, pki.ca.cert, pki.scheduler, 'system:kube-scheduler');
    const nodes: Record<string, string> = {};
    for (const name of names) {
      nodes[name] = path.join(dir, `${name}.kubeconfig`);
      // Nodes reach the API server at the host's bridge address (their 127.0.0.1 is their own).
      writeKubeconfig(nodes[name], `https://${HOST_ADDRESS}:${APISERVER_PORT}`, pki.ca.cert, pki.nodes[name]!, `system:node:${name}`);
    }
    return { controllerManager, scheduler, nodes };
  }

  private async installSnapshotCrds(bin: string): Promise<void> {
    const dir = snapshotCrdDir(bin);
    // Only the CRDs themselves (the directory may also hold a kustomization.yaml).
    const files = readdirSync(dir).filter((f) => /^[a-z0-9.]+_[a-z]+\.yaml$/.test(f));
    if (files.length === 0) throw new Error(`no snapshot CRDs in ${dir}`);
    for (const f of files) await this.kubectl.run(['apply', '--server-side', '-f', path.join(dir, f)]);
    await this.kubectl.run(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  }

  /** Pods cannot be created before the `default` ServiceAccount exists (the controller manager makes it). */
  private async waitForDefaultServiceAccount(): Promise<void> {
    await waitFor(
      'the default ServiceAccount',
      async () => (await this.kubectl.run(['get', 'serviceaccount', 'default', '-n', 'default'], { okExitCodes: [1] })).exitCode === 0,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  }

  /** A host-network busybox pod per node: proves scheduling, the image import, the runtime, logs and exec. */
  private async checkPods(names: readonly string[]): Promise<void> {
    const pods = names.map((n) => `e2e-check-${n}`);
    const manifest = names
      .map((node, i) =>
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: pods[i], namespace: 'default' },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': node },
            hostNetwork: true,
            restartPolicy: 'Never',
            terminationGracePeriodSeconds: 0,
            containers: [{ name: 'check', image: 'busybox:1.36', imagePullPolicy: 'Never', command: ['sh', '-c', 'echo ready; exec sleep 3600'] }],
          },
        }),
      )
      .join('\n');
    await this.kubectl.apply(manifest);
    await this.kubectl.run(['wait', '--for=condition=Ready', '--timeout=120s', ...pods.map((p) => `pod/${p}`)], { timeoutMs: 130_000 });
    for (const pod of pods) {
      // Through the API server to the kubelet of the pod's node: logs and exec work.
      await waitFor(`${pod}'s log`, async () => (await this.kubectl.run(['logs', pod])).stdout.includes('ready'), { timeoutMs: 30_000 });
      await this.kubectl.run(['exec', pod, '--', 'true']);
    }
    await this.kubectl.run(['delete', 'pod', '--wait=true', '--timeout=60s', ...pods], { timeoutMs: 70_000 });
  }
}
