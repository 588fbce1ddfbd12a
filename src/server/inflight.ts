import { DomainError } from '../errors.js';

/**
 * Per-resource in-flight keys. A call that finds its key taken waits, up to its own deadline, for the holder
 * to finish, and then answers ABORTED: kinder to a retrying sidecar than failing at once, and never a
 * deadlock, because several keys are always taken in sorted order.
 */
export interface InflightObserver {
  /** Called once per acquisition with how long it waited and whether it got the keys. */
  onWait(seconds: number, outcome: 'acquired' | 'aborted'): void;
}

export type Release = () => void;

interface Waiter {
  /** Hands the key to this waiter: it becomes the holder without re-checking. */
  grant: () => void;
}

/** At most this long before a call's deadline a waiter gives up its place and answers (see acquire). */
const ANSWER_MARGIN_MS = 1_000;

/**
 * How long before its deadline a call must have its answer on the way: a tenth of the time it had left at `now`, at
 * most 1 s. A server that stops only at the deadline itself answers after the caller has already given up on it.
 */
export function answerMarginMs(deadline: Date, now: number = Date.now()): number {
  return Math.min(ANSWER_MARGIN_MS, Math.max(0, deadline.getTime() - now) / 10);
}

export class InflightKeys {
  private readonly holders = new Map<string, Waiter[]>();

  constructor(
    /** Wait used when a call carries no deadline. */
    private readonly defaultWaitMs = 60_000,
    private readonly observer?: InflightObserver,
  ) {}

  isHeld(key: string): boolean {
    return this.holders.has(key);
  }

  get size(): number {
    return this.holders.size;
  }

  /**
   * Takes every key (sorted, de-duplicated) or throws an `aborted` DomainError a little before `deadline` passes: a
   * tenth of the time left at the call, at most 1 s, so that the caller hears ABORTED (retry later) rather than its own
   * deadline running out on a call that was only ever queued.
   */
  async acquire(keys: readonly string[], deadline?: Date, signal?: AbortSignal): Promise<Release> {
    const sorted = [...new Set(keys)].sort();
    const started = performance.now();
    const now = Date.now();
    const deadlineMs = deadline ? deadline.getTime() - answerMarginMs(deadline, now) : now + this.defaultWaitMs;
    const taken: string[] = [];
    try {
      for (const key of sorted) {
        await this.take(key, deadlineMs, signal);
        taken.push(key);
      }
    } catch (err) {
      for (const key of taken) this.give(key);
      this.observer?.onWait((performance.now() - started) / 1000, 'aborted');
      throw err;
    }
    this.observer?.onWait((performance.now() - started) / 1000, 'acquired');
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const key of taken) this.give(key);
    };
  }

  private take(key: string, deadlineMs: number, signal?: AbortSignal): Promise<void> {
    const queue = this.holders.get(key);
    if (!queue) {
      this.holders.set(key, []);
      return Promise.resolve();
    }
    const busy = (): DomainError => new DomainError('aborted', `an operation on ${key} is already in progress`);
    const remaining = deadlineMs - Date.now();
    if (remaining <= 0 || signal?.aborted) return Promise.reject(busy());
    return new Promise<void>((resolve, reject) => {
      const giveUp = (): void => {
        clearTimeout(timer);
        const index = queue.indexOf(waiter);
        if (index >= 0) queue.splice(index, 1);
        signal?.removeEventListener('abort', giveUp);
        reject(busy());
      };
      const timer = setTimeout(giveUp, remaining);
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', giveUp);
          resolve();
        },
      };
      signal?.addEventListener('abort', giveUp, { once: true });
      queue.push(waiter);
    });
  }

  private give(key: string): void {
    const queue = this.holders.get(key);
    if (!queue) return;
    const next = queue.shift();
    if (next) next.grant();
    else this.holders.delete(key);
  }
}
