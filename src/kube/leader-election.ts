import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import type { Logger } from '../util/log.js';
import { KubeConflictError, type KubeApi, type LeaseView, type LeaseWrite } from './kube-api.js';

export interface LeaderElectionOptions {
  namespace: string;
  leaseName: string;
  identity: string;
  /** How long a leader's claim stands without renewal (Kubernetes' default: 15 s). */
  leaseDurationSeconds: number;
  /** A leader that cannot renew within this long steps down (default: 10 s). */
  renewDeadlineMs: number;
  /** How often candidates try and leaders renew (default: 2 s). */
  retryPeriodMs: number;
  /**
   * The candidate's own Pod. A leader writes it as the Lease's owner, so the garbage collector deletes the Lease when
   * the leader's Pod is gone even if the leader could not delete it itself (at uninstall its Role may be deleted first).
   */
  ownerPod?: { name: string; uid: string };
}

/**
 * Lease-based leader election, as client-go's leaderelection package does it: whoever holds an unexpired Lease
 * leads; writes are compare-and-swap on the Lease's resourceVersion, so two candidates never both win a round.
 * `isLeader()` is false again as soon as a renewal misses the deadline, before anyone else can take over.
 */
export class LeaderElector {
  private leading = false;
  private lastRenew = 0;
  private lease: LeaseView | undefined;
  /** The Lease's renewTime as last read, and when (by this process's clock) it was last seen to change. */
  private seenRenewTime: number | undefined;
  private seenChangedAt = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly api: KubeApi,
    private readonly options: LeaderElectionOptions,
    private readonly log: Logger,
  ) {}

  isLeader(): boolean {
    return this.leading && Date.now() - this.lastRenew < this.options.renewDeadlineMs;
  }

  /**
   * A candidate whose leader has not renewed for more than two retry periods (as this process saw the Lease change:
   * no comparison of two hosts' clocks): the leader is most likely gone, and this candidate may be next.
   */
  leaderSilent(now = Date.now()): boolean {
    if (this.isLeader() || this.seenRenewTime === undefined) return false;
    return now - this.seenChangedAt > 2 * this.options.retryPeriodMs;
  }

  start(): void {
    this.loop = this.run();
  }

  /**
   * Stops campaigning; a leader deletes the Lease (if nobody took it meanwhile) so the next one need not wait for it
   * to expire, and an uninstalled driver leaves no Lease behind.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    if (this.leading && this.lease) {
      // Best effort: the owner reference removes the Lease with the Pod if this fails (RBAC already gone, API down).
      await this.api.deleteLease(this.lease).catch((error: unknown) => {
        this.log.warn({ lease: this.options.leaseName, error: errorMessage(error) }, 'leader election: could not delete the Lease at shutdown');
      });
    }
    this.leading = false;
  }

  /** One round: acquire or renew. Public for tests. */
  async tryAcquireOrRenew(now = new Date()): Promise<boolean> {
    const { namespace, leaseName, identity } = this.options;
    const current = await this.api.getLease(namespace, leaseName);
    const renewed = current?.renewTime?.getTime();
    if (renewed !== this.seenRenewTime) {
      this.seenRenewTime = renewed;
      this.seenChangedAt = Date.now();
    }
    if (!current) {
      this.lease = await this.api.createLease(namespace, leaseName, this.write(now, undefined));
      return true;
    }
    const heldByOther = current.holder !== undefined && current.holder !== '' && current.holder !== identity;
    const expiresAt = (current.renewTime?.getTime() ?? 0) + (current.durationSeconds ?? 0) * 1000;
    if (heldByOther && expiresAt > now.getTime()) return false;
    this.lease = await this.api.replaceLease(current, this.write(now, current));
    return true;
  }

  private write(now: Date, current: LeaseView | undefined): LeaseWrite {
    const mine = current?.holder === this.options.identity;
    return {
      holder: this.options.identity,
      durationSeconds: this.options.leaseDurationSeconds,
      acquireTime: mine && current?.acquireTime ? current.acquireTime : now,
      renewTime: now,
      transitions: (current?.transitions ?? 0) + (current && !mine ? 1 : 0),
      labels: current?.labels ?? {},
      annotations: current?.annotations ?? {},
      ...(this.options.ownerPod ? { ownerPod: this.options.ownerPod } : {}),
    };
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let won = false;
      try {
        won = await this.tryAcquireOrRenew();
      } catch (err) {
        if (!(err instanceof KubeConflictError)) this.log.warn({ err: errorMessage(err) }, 'leader election: round failed');
      }
      if (won) this.lastRenew = Date.now();
      const leadingNow = won || this.isLeader();
      if (leadingNow !== this.leading) {
        this.log.info({ identity: this.options.identity, lease: `${this.options.namespace}/${this.options.leaseName}` }, leadingNow ? 'leader election: now leading' : 'leader election: no longer leading');
      }
      this.leading = leadingNow;
      await sleep(this.options.retryPeriodMs);
    }
  }
}
