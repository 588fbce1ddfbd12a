import { errorMessage } from '../errors.js';
import type { Logger } from '../util/log.js';
import { CLEAN_ANNOTATION, CLEAN_AT_ANNOTATION, HEARTBEAT_LABEL, heartbeatLeaseName, NODE_ID_ANNOTATION } from './heartbeat-lease.js';
import { KubeConflictError, type KubeApi, type LeaseView } from './kube-api.js';

export interface HeartbeatOptions {
  namespace: string;
  nodeName: string;
  nodeId: string;
  driverName: string;
  intervalMs: number;
  durationSeconds: number;
  /**
   * The node plugin's own Pod: the Lease goes with it when the Pod is deleted (uninstall, upgrade), even when the
   * plugin could not delete it itself (its RBAC removed first by `helm uninstall`, say).
   */
  ownerPod?: { name: string; uid: string };
  /** Whether the node is clean right now, and since when (the stale sweeper's view). */
  cleanState: () => { clean: boolean | undefined; cleanAt: Date | undefined };
}

/** Renews this node plugin's heartbeat Lease every interval until stopped. A missed renewal is logged, not fatal. */
export class NodeHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private lease: LeaseView | undefined;
  private running: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly api: KubeApi,
    private readonly options: HeartbeatOptions,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.running ??= this.beat().finally(() => (this.running = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /**
   * Stops beating and deletes the Lease: a plugin that stops on purpose (upgrade, uninstall, drain) leaves no heartbeat
   * behind to expire and look like a dead node (an absent heartbeat proves nothing either way; NotReady still counts).
   * `deleteLease: false` leaves it to expire, as a crash does.
   */
  async stop(options: { deleteLease?: boolean } = {}): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    if (this.lease && (options.deleteLease ?? true)) {
      await this.api.deleteLease(this.lease).catch((err: unknown) => {
        this.log.warn({ err: errorMessage(err) }, 'heartbeat Lease not deleted at shutdown');
      });
      this.lease = undefined;
    }
  }

  /** One renewal; public for tests and for the first beat before serving. */
  async beat(): Promise<void> {
    const { namespace, nodeName } = this.options;
    const name = heartbeatLeaseName(nodeName);
    try {
      const state = this.options.cleanState();
      const now = new Date();
      const write = {
        ...(this.options.ownerPod ? { ownerPod: this.options.ownerPod } : {}),
        holder: nodeName,
        durationSeconds: this.options.durationSeconds,
        acquireTime: this.lease?.acquireTime ?? now,
        renewTime: now,
        transitions: this.lease?.transitions ?? 0,
        labels: { [HEARTBEAT_LABEL]: this.options.driverName },
        annotations: {
          [NODE_ID_ANNOTATION]: this.options.nodeId,
          [CLEAN_ANNOTATION]: state.clean === undefined ? 'unknown' : String(state.clean),
          ...(state.cleanAt ? { [CLEAN_AT_ANNOTATION]: state.cleanAt.toISOString() } : {}),
        },
      };
      this.lease ??= await this.api.getLease(namespace, name);
      try {
        this.lease = this.lease ? await this.api.replaceLease(this.lease, write) : await this.api.createLease(namespace, name, write);
      } catch (err) {
        // Someone else wrote it (our own earlier life, or an operator): take the current version and try once more.
        if (!(err instanceof KubeConflictError)) throw err;
        const current = await this.api.getLease(namespace, name);
        this.lease = current ? await this.api.replaceLease(current, write) : await this.api.createLease(namespace, name, write);
      }
      if (this.failing) this.log.info({ lease: `${namespace}/${name}` }, 'heartbeat renewed again');
      this.failing = false;
    } catch (err) {
      this.lease = undefined;
      if (!this.failing) this.log.warn({ lease: `${namespace}/${name}`, err: errorMessage(err) }, 'heartbeat not renewed');
      this.failing = true;
    }
  }
}
