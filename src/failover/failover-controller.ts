import { setTimeout as sleep } from 'node:timers/promises';
import type { NodeFencing } from '../backends/backend.js';
import { errorMessage } from '../errors.js';
import { readHeartbeat, HEARTBEAT_LABEL, heartbeatLeaseName, type Heartbeat } from '../kube/heartbeat-lease.js';
import type { KubeApi, NodeView, Taint } from '../kube/kube-api.js';
import { OUT_OF_SERVICE_TAINT } from '../kube/node-liveness.js';
import type { Logger } from '../util/log.js';
import { decideFence, planNode, type BackendView, type NodeSignals } from './plan.js';

export type FailoverMode = 'off' | 'dry-run' | 'on';
export const FAILOVER_MODES: readonly FailoverMode[] = ['off', 'dry-run', 'on'];

/** Set on a Node Ferry fenced: when, so "clean since the fence" can be judged, and so only Ferry's own taint is removed. */
export const FENCED_AT_ANNOTATION = 'ferry.csi.io/fenced-at';
/**
 * NoSchedule, not NoExecute: Kubernetes acts on the out-of-service taint by its key alone (the attach/detach
 * controller's forced detach, the pod garbage collector), and Ferry deletes the pods that used its volumes itself,
 * each with its UID as a precondition. With NoExecute the taint-eviction controller deletes them too, by name alone
 * and behind the controller manager's client rate limit: with twenty pods its late deletions hit the StatefulSets'
 * replacements, which then had to be created and attached once more (docs/failover.md).
 */
export const FENCE_TAINT: Taint = { key: OUT_OF_SERVICE_TAINT, value: 'nodeshutdown', effect: 'NoSchedule' };

export interface FailoverOptions {
  mode: Exclude<FailoverMode, 'off'>;
  driverName: string;
  /** Where the node plugins' heartbeat Leases live. */
  namespace: string;
  intervalMs: number;
  /** Bound on one backend's observation or fence of one node. */
  storageTimeoutMs: number;
}

export interface FailoverObserver {
  /** One action on one node (metrics count it by action only). */
  failoverAction(action: string, node: string): void;
}

export interface Fencer {
  backend: string;
  fencing: NodeFencing;
}

/**
 * What this replica does this round: `lead` acts; `prepare` (a standby whose leader has stopped renewing its Lease)
 * gathers the storage side's confirmation of suspect nodes without acting on it, so that once its turn comes it
 * fences at once instead of opening a confirmation window only then; `standby` does nothing (a standby never reads
 * the volumes' I/O counters while a live leader does: two readers would split one window between them).
 */
export type FailoverRole = 'lead' | 'prepare' | 'standby';

/** How often, between rounds, a replica that does not lead looks whether it has just taken the lead. */
const LEAD_CHECK_MS = 100;

/** A confirmation of a node gathered ahead of acting (by a standby, or of a late heartbeat): what it saw, and when. */
interface Prepared {
  at: number;
  /** How long gathering it took (about the confirmation window): a standby gathers one per round, this far apart. */
  tookMs: number;
  nodeId: string;
  reasons: string[];
}

/**
 * The failover controller: finds nodes Kubernetes has lost (heartbeat expired or NotReady), asks the storage systems
 * to confirm (data client Disconnected, no I/O), then fences the node on the storage side before anything else, taints
 * it out-of-service so Kubernetes detaches its volumes at once, and deletes the pods that used Ferry volumes there
 * (what the pod garbage collector would do only once the Node is NotReady, ~50 s after death). When the node is back,
 * beating and clean, the taint comes off. Acts only while `role()` is `lead`; every action is a log line, an Event and
 * a metric.
 */
export class FailoverController {
  private stopped = false;
  private loop: Promise<void> | undefined;
  /** What was last said about each node, so a waiting node is reported once, not every round. */
  private readonly lastReport = new Map<string, string>();
  /** Nodes confirmed dead on the storage side ahead of acting: while standing by (FailoverRole), or while late. */
  private readonly prepared = new Map<string, Prepared>();

  constructor(
    private readonly api: KubeApi,
    private readonly fencers: readonly Fencer[],
    private readonly role: () => FailoverRole,
    private readonly options: FailoverOptions,
    private readonly log: Logger,
    private readonly observer: FailoverObserver,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const ledThisRound = this.role() === 'lead';
        await this.reconcile().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'failover: round failed'));
        await this.pause(ledThisRound);
      }
    })();
  }

  /**
   * One interval between rounds, cut short when this replica has taken the lead since the last round began (even
   * during it): what it prepared is acted on now.
   */
  private async pause(ledLastRound: boolean): Promise<void> {
    const until = Date.now() + this.options.intervalMs;
    while (!this.stopped && Date.now() < until) {
      if (!ledLastRound && this.role() === 'lead') return;
      await sleep(Math.min(LEAD_CHECK_MS, until - Date.now()));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** One pass over every node. Public for tests. */
  async reconcile(now = new Date()): Promise<void> {
    const role = this.role();
    if (role === 'standby') {
      this.prepared.clear();
      return;
    }
    const [nodes, nodeIds, leases] = await Promise.all([
      this.api.listNodes(),
      this.api.csiNodeIds(this.options.driverName),
      this.api.listLeases(this.options.namespace, `${HEARTBEAT_LABEL}=${this.options.driverName}`),
    ]);
    const heartbeats = new Map(leases.map((l) => [l.name, readHeartbeat(l, now)] as const));
    for (const node of nodes) {
      const heartbeat = heartbeats.get(heartbeatLeaseName(node.name));
      const nodeId = nodeIds.get(node.name) ?? heartbeat?.nodeId;
      if (nodeId === undefined) continue; // not a node Ferry serves
      const round = role === 'lead' ? this.reconcileNode(node, nodeId, heartbeat) : this.prepareNode(node, nodeId, heartbeat);
      await round.catch((err: unknown) => {
        this.observer.failoverAction('failed', node.name);
        this.log.error({ node: node.name, err: errorMessage(err) }, 'failover: node not handled this round');
      });
    }
  }

  /**
   * A node's storage confirmation gathered and kept, never acted on and never an Event: by a standby about to lead (of
   * a suspect node), or by the leader of a node whose heartbeat is late. The round that acts on the node then need not
   * wait a confirmation window of its own.
   */
  private async prepareNode(node: NodeView, nodeId: string, heartbeat: Heartbeat | undefined): Promise<void> {
    const plan = planNode(this.signals(node, heartbeat));
    if (plan.action !== 'check-storage' && !(plan.action === 'none' && heartbeat?.late === true)) {
      this.prepared.delete(node.name);
      return;
    }
    // Confirmed a round ago: continued (the state again, the I/O since), so a round takes no window once the first has.
    const continuing = this.freshPrepared(node.name, nodeId) !== undefined;
    const started = Date.now();
    const decision = decideFence(await Promise.all(this.fencers.map((f) => this.observe(f, nodeId, continuing))));
    if (!decision.fence) {
      this.prepared.delete(node.name);
      return;
    }
    if (!this.prepared.has(node.name)) this.log.info({ node: node.name, nodeId }, 'failover: the storage side confirms the node dead ahead of acting on it');
    this.prepared.set(node.name, { at: Date.now(), tookMs: Date.now() - started, nodeId, reasons: decision.reasons });
  }

  /**
   * A confirmation gathered ahead, still fresh enough to continue: no older than two rounds of gathering (each one
   * confirmation window and one interval; at least 3 s), so the latest of a replica that gathers every round always is.
   */
  private freshPrepared(nodeName: string, nodeId: string): Prepared | undefined {
    const prepared = this.prepared.get(nodeName);
    if (prepared === undefined || prepared.nodeId !== nodeId) return undefined;
    const maxAgeMs = Math.max(3_000, 2 * (prepared.tookMs + this.options.intervalMs));
    return Date.now() - prepared.at <= maxAgeMs ? prepared : undefined;
  }

  /** The fresh confirmation gathered ahead, if any, used up: the round that acts on it gathers its own next time. */
  private takePrepared(nodeName: string, nodeId: string): Prepared | undefined {
    const prepared = this.freshPrepared(nodeName, nodeId);
    this.prepared.delete(nodeName);
    return prepared;
  }

  private signals(node: NodeView, heartbeat: Heartbeat | undefined): NodeSignals {
    const fencedAt = node.annotations[FENCED_AT_ANNOTATION];
    return {
      heartbeat: heartbeat === undefined ? 'absent' : heartbeat.expired ? 'expired' : 'fresh',
      nodeReady: node.ready,
      fencedByFerry: fencedAt !== undefined,
      cleanSinceFence: fencedAt !== undefined && heartbeat?.clean === true && heartbeat.cleanAt !== undefined && heartbeat.cleanAt > new Date(fencedAt),
    };
  }

  private async reconcileNode(node: NodeView, nodeId: string, heartbeat: Heartbeat | undefined): Promise<void> {
    const plan = planNode(this.signals(node, heartbeat));
    switch (plan.action) {
      case 'none':
        this.lastReport.delete(node.name);
        // A late heartbeat: the storage side is asked now, so that the round in which it expires can act at once.
        if (heartbeat?.late) await this.prepareNode(node, nodeId, heartbeat);
        else this.prepared.delete(node.name);
        return;
      case 'keep-fenced':
        this.reportOnce(node.name, `fenced, waiting for ${plan.waitingFor.join(', ')}`);
        // Pods created on it since (or not deleted last round) still hold the volumes in Kubernetes' eyes.
        if (this.options.mode === 'on' && node.ready !== true) await this.deletePods(node.name);
        return;
      case 'unfence':
        await this.unfence(node, plan.why);
        return;
      case 'check-storage':
        await this.checkAndFence(node, nodeId, plan.why);
        return;
    }
  }

  private async checkAndFence(node: NodeView, nodeId: string, suspicion: string[]): Promise<void> {
    // Confirmed moments ago (while standing by, or while its heartbeat was late): the connection is looked at again and
    // the I/O since that look counted, with no new window (that confirmation's and this one join without a gap).
    const prepared = this.takePrepared(node.name, nodeId);
    const views = await Promise.all(this.fencers.map((f) => this.observe(f, nodeId, prepared !== undefined)));
    const decision = decideFence(views);
    if (prepared && decision.fence) decision.reasons.push(`confirmed ${Date.now() - prepared.at} ms before, ahead of acting`);
    if (!decision.fence) {
      const said = `suspect (${suspicion.join(', ')}) but not fenced: ${decision.missing.join('; ')}`;
      if (this.reportOnce(node.name, said)) {
        this.observer.failoverAction('refused', node.name);
        await this.event(node.name, 'Normal', 'FailoverWaiting', said);
      }
      return;
    }
    const why = [...suspicion, ...decision.reasons];
    if (this.options.mode === 'dry-run') {
      const said = `would fence node ${node.name} (node id ${nodeId}): ${why.join('; ')}`;
      if (this.reportOnce(node.name, said)) {
        this.observer.failoverAction('would-fence', node.name);
        this.log.warn({ node: node.name, nodeId, why }, 'failover (dry-run): would fence and taint the node');
        await this.event(node.name, 'Warning', 'FailoverDryRun', said);
      }
      return;
    }
    // Storage first: once the mappings are gone the host cannot write, whatever it does next. Only then tell Kubernetes.
    const fenced: string[] = [];
    for (const f of this.fencers) {
      fenced.push(...(await f.fencing.fenceNode(nodeId, this.ctx())).map((v) => `${f.backend}:${v}`));
    }
    await this.api.updateNodeMarks(node.name, (current) => ({
      // An out-of-service taint of this effect already there (an operator's) says the same and stays as it is: a
      // node holds one taint per key and effect, and Ferry removes only its own value later.
      taints: current.taints.some((t) => t.key === FENCE_TAINT.key && t.effect === FENCE_TAINT.effect) ? current.taints : [...current.taints, FENCE_TAINT],
      annotations: { [FENCED_AT_ANNOTATION]: new Date().toISOString() },
    }));
    this.observer.failoverAction('fenced', node.name);
    this.lastReport.delete(node.name);
    this.log.warn({ node: node.name, nodeId, why, volumes: fenced }, 'failover: node fenced on the storage side and tainted out-of-service');
    await this.event(node.name, 'Warning', 'NodeFenced', `fenced by Ferry: ${fenced.length} volume mapping(s) removed, taint ${FENCE_TAINT.key} added; ${why.join('; ')}`);
    await this.deletePods(node.name);
  }

  private async deletePods(nodeName: string): Promise<void> {
    const pods = await this.api.podsUsingDriver(nodeName, this.options.driverName);
    // All at once: the node is fenced already, and each pod's replacement waits for its own deletion only.
    const results = await Promise.allSettled(
      pods.map(async (pod) => {
        await this.api.forceDeletePod(pod);
        this.observer.failoverAction('pod-deleted', nodeName);
        this.log.warn({ node: nodeName, pod: `${pod.namespace}/${pod.name}` }, 'failover: deleted a pod of the fenced node so its volumes can move');
        await this.event(pod.name, 'Warning', 'PodDeletedByFailover', `deleted: its node ${nodeName} is fenced`, pod.namespace, pod.uid);
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async unfence(node: NodeView, why: string[]): Promise<void> {
    const changed = await this.api.updateNodeMarks(node.name, (current) => {
      if (current.annotations[FENCED_AT_ANNOTATION] === undefined) return undefined;
      return {
        // Only the taint Ferry put there (NoExecute: as Ferry set it before 2026-12-06); an operator's own
        // out-of-service taint (another value) stays.
        taints: current.taints.filter((t) => !(t.key === FENCE_TAINT.key && t.value === FENCE_TAINT.value && (t.effect === FENCE_TAINT.effect || t.effect === 'NoExecute'))),
        annotations: { [FENCED_AT_ANNOTATION]: null },
      };
    });
    if (!changed) return;
    this.observer.failoverAction('unfenced', node.name);
    this.lastReport.delete(node.name);
    this.log.info({ node: node.name, why }, 'failover: node is back and clean; out-of-service taint removed');
    await this.event(node.name, 'Normal', 'NodeUnfenced', `out-of-service taint removed: ${why.join(', ')}`);
  }

  private async observe(fencer: Fencer, nodeId: string, continuing: boolean): Promise<BackendView> {
    try {
      const view = await fencer.fencing.observeNode(nodeId, this.ctx(), { continuing });
      return view.known ? { backend: fencer.backend, known: true, evidence: view.evidence, volumes: view.volumes.length } : { backend: fencer.backend, known: false };
    } catch (err) {
      return { backend: fencer.backend, error: errorMessage(err) };
    }
  }

  private ctx(): { signal: AbortSignal; log: Logger } {
    return { signal: AbortSignal.timeout(this.options.storageTimeoutMs), log: this.log };
  }

  /** Logs a node's state when it changed since the last round; answers whether it did. */
  private reportOnce(nodeName: string, said: string): boolean {
    if (this.lastReport.get(nodeName) === said) return false;
    this.lastReport.set(nodeName, said);
    this.log.info({ node: nodeName }, `failover: node ${nodeName} ${said}`);
    return true;
  }

  private async event(name: string, type: 'Normal' | 'Warning', reason: string, message: string, namespace?: string, uid?: string): Promise<void> {
    const target = namespace ? { kind: 'Pod' as const, name, namespace, ...(uid ? { uid } : {}) } : { kind: 'Node' as const, name };
    await this.api.createEvent({ target, type, reason, message }).catch((err: unknown) => {
      this.log.warn({ reason, err: errorMessage(err) }, 'could not record a Kubernetes Event');
    });
  }
}
