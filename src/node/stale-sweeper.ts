import { errorMessage } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { InflightKeys } from '../server/inflight.js';
import type { NodeVolumes } from './node-volumes.js';
import { cleanStaleVolumes } from './stale-cleanup.js';

/** A sweep waits this long for a volume's key before leaving the volume to the next sweep. */
const LOCK_WAIT_MS = 1_000;

export interface SweepObserver {
  staleSweep(cleaned: number, clean: boolean): void;
}

/**
 * Runs the stale-volume clean-up at start and then every interval, one sweep at a time, and says when the node
 * becomes clean: after a preemption, the returning node must let go of what it no longer holds before it is
 * trusted again.
 */
export class StaleSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private clean: boolean | undefined;
  private cleanAt: Date | undefined;

  constructor(
    private readonly volumes: NodeVolumes,
    private readonly log: Logger,
    private readonly observer: SweepObserver,
    private readonly inflight: InflightKeys,
  ) {}

  /** One sweep now (waits for a sweep already running instead of starting a second). */
  sweep(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => void this.sweep(), intervalMs);
    this.timer.unref();
  }

  /** What the last sweep found, for the node's heartbeat: clean, and when a sweep last found it so. */
  state(): { clean: boolean | undefined; cleanAt: Date | undefined } {
    return { clean: this.clean, cleanAt: this.cleanAt };
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private async run(): Promise<void> {
    try {
      const { cleaned, failed, busy } = await cleanStaleVolumes(this.volumes, this.log, (volumeId) =>
        this.inflight.acquire([volumeId], new Date(Date.now() + LOCK_WAIT_MS)).catch(() => undefined),
      );
      const clean = failed.length === 0 && busy.length === 0;
      this.observer.staleSweep(cleaned.length, clean);
      if (cleaned.length > 0) this.log.info({ volumes: cleaned }, 'cleaned up volumes no longer mapped to this node');
      if (clean && this.clean !== true) this.log.info('node is clean: nothing staged here is mapped elsewhere');
      this.clean = clean;
      if (clean) this.cleanAt = new Date();
    } catch (err) {
      this.observer.staleSweep(0, false);
      this.clean = false;
      this.log.error({ err: errorMessage(err) }, 'stale-volume sweep failed');
    }
  }
}
