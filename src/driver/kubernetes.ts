import os from 'node:os';
import type { Backend, VolumeClassSource } from '../backends/backend.js';
import { FailoverController } from '../failover/failover-controller.js';
import { PersistentVolumeEvents } from '../kube/event-recorder.js';
import type { KubeApi } from '../kube/kube-api.js';
import { LeaderElector } from '../kube/leader-election.js';
import { NodeHeartbeat } from '../kube/node-heartbeat.js';
import { KubeNodeLiveness } from '../kube/node-liveness.js';
import type { NodeLivenessSource, PreemptionRecorder } from '../preemption/recorder.js';
import type { DriverMetrics } from '../server/metrics.js';
import type { Logger } from '../util/log.js';
import type { KubeOptions } from './kube-options.js';
import { UsageError } from './usage-error.js';

/** Ferry's Kubernetes side: built only when the API is configured; everything here stops with `stop()`. */
export class KubernetesParts {
  private heartbeat: NodeHeartbeat | undefined;
  private elector: LeaderElector | undefined;
  private failover: FailoverController | undefined;
  readonly events: PreemptionRecorder;
  readonly liveness: NodeLivenessSource;
  /** A volume's QoS class, from its PersistentVolume (any controller replica reads the same). */
  readonly volumeClasses: VolumeClassSource;

  private constructor(
    private readonly api: KubeApi,
    private readonly options: KubeOptions,
    private readonly driverName: string,
    private readonly log: Logger,
  ) {
    this.events = new PersistentVolumeEvents(api, driverName, log.child({ component: 'events' }));
    this.liveness = new KubeNodeLiveness(api, driverName, options.namespace);
    this.volumeClasses = { mutableParametersOf: (volumeHandle) => api.volumeAttributesOf(driverName, volumeHandle) };
  }

  static async create(options: KubeOptions, driverName: string, log: Logger): Promise<KubernetesParts | undefined> {
    if (!options.enabled) return undefined;
    // Loaded only here: @kubernetes/client-node and its generated models are ~70 MiB of RSS and ~0.9 s of start-up,
    // paid for nothing by a driver without Kubernetes (docs/benchmarks.md, "Where memory and CPU go").
    const { ClientNodeKubeApi, loadKubeConfig } = await import('../kube/client-node-kube-api.js');
    const api = new ClientNodeKubeApi(loadKubeConfig(options.kubeconfig));
    return new KubernetesParts(api, options, driverName, log.child({ component: 'kubernetes' }));
  }

  /** Node plugin: the heartbeat Lease, first renewed before the plugin serves. */
  async startHeartbeat(nodeId: string, cleanState: () => { clean: boolean | undefined; cleanAt: Date | undefined }): Promise<void> {
    const nodeName = this.options.nodeName;
    if (!nodeName) throw new UsageError('--node-name (or NODE_NAME) is required for the node plugin when Kubernetes is on');
    this.heartbeat = new NodeHeartbeat(
      this.api,
      {
        namespace: this.options.namespace,
        nodeName,
        nodeId,
        driverName: this.driverName,
        intervalMs: this.options.heartbeatIntervalMs,
        durationSeconds: this.options.heartbeatDurationSeconds,
        ...ownPod(),
        cleanState,
      },
      this.log.child({ component: 'heartbeat' }),
    );
    await this.heartbeat.start();
  }

  /** Controller: the failover controller, behind Lease-based leader election (one replica acts at a time). */
  startFailover(backends: readonly Backend[], metrics: DriverMetrics): void {
    const mode = this.options.failover;
    if (mode === 'off') return;
    const log = this.log.child({ component: 'failover' });
    // The pod's name where the chart sets it (a host-network pod's host name is its node's, shared by replicas).
    const identity = `${process.env.POD_NAME ?? os.hostname()}_${process.pid}`;
    this.elector = new LeaderElector(
      this.api,
      {
        namespace: this.options.namespace,
        leaseName: `${this.driverName.replace(/[^a-z0-9.-]/g, '-')}-failover`,
        identity,
        // The flags' (client-go's defaults: 15 s, 10 s, 2 s); the chart sets shorter ones (docs/failover.md).
        ...this.options.leaderElection,
        ...ownPod(),
      },
      log,
    );
    const elector = this.elector;
    const fencers = backends.flatMap((b) => (b.nodeFencing ? [{ backend: b.name, fencing: b.nodeFencing }] : []));
    this.failover = new FailoverController(
      this.api,
      fencers,
      () => {
        const leading = elector.isLeader();
        metrics.failoverLeading(leading);
        return leading ? 'lead' : elector.leaderSilent() ? 'prepare' : 'standby';
      },
      { mode, driverName: this.driverName, namespace: this.options.namespace, intervalMs: this.options.failoverIntervalMs, storageTimeoutMs: 60_000 },
      log,
      metrics,
    );
    elector.start();
    this.failover.start();
    log.info({ mode, identity, backends: fencers.map((f) => f.backend) }, 'failover controller started');
  }

  async stop(): Promise<void> {
    await this.failover?.stop();
    await this.elector?.stop();
    await this.heartbeat?.stop();
  }
}

/** This process's Pod, set by the chart from the downward API: the owner of the Leases it writes. */
function ownPod(): { ownerPod?: { name: string; uid: string } } {
  const name = process.env.POD_NAME;
  const uid = process.env.POD_UID;
  return name && uid ? { ownerPod: { name, uid } } : {};
}
