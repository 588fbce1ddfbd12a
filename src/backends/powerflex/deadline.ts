import { isDomainError } from '../../errors.js';
/**
 * One client call's time budget: every attempt, back-off pause and (re-)login inside the call shares it, so a call
 * gives up within `requestTimeoutSeconds` however many retries it tried. The caller's own AbortSignal (a gRPC
 * deadline or a cancelled request) stops it earlier.
 */
export type StopReason =
  /** Ferry's own per-call timeout passed. */
  | { kind: 'timeout'; timeoutMs: number }
  /** The caller's signal fired; `deadline` when its reason was a TimeoutError (AbortSignal.timeout, a gRPC deadline). */
  | { kind: 'caller'; deadline: boolean };

export class Deadline {
  readonly expiresAt: number;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private stopReason: StopReason | undefined;

  constructor(
    readonly timeoutMs: number,
    private readonly callerSignal?: AbortSignal,
  ) {
    this.expiresAt = Date.now() + timeoutMs;
    this.timer = setTimeout(() => this.stop({ kind: 'timeout', timeoutMs }), timeoutMs);
    // The timer must not keep a process alive that has nothing else to do.
    this.timer.unref();
    if (callerSignal !== undefined) {
      if (callerSignal.aborted) this.onCallerAbort();
      else callerSignal.addEventListener('abort', this.onCallerAbort, { once: true });
    }
  }

  /** Aborts when the budget is spent or the caller gave up. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get reason(): StopReason | undefined {
    return this.stopReason;
  }

  remainingMs(): number {
    return Math.max(0, this.expiresAt - Date.now());
  }

  /** Releases the timer and the listener on the caller's signal. */
  dispose(): void {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }

  /** Waits for `promise`, or rejects with `onStop()` as soon as the deadline stops (the promise itself runs on). */
  race<T>(promise: Promise<T>, onStop: (reason: StopReason) => Error): Promise<T> {
    if (this.stopReason !== undefined) return Promise.reject(onStop(this.stopReason));
    return new Promise<T>((resolve, reject) => {
      const stop = (): void => reject(onStop(this.stopReason ?? { kind: 'timeout', timeoutMs: this.timeoutMs }));
      this.signal.addEventListener('abort', stop, { once: true });
      promise.then(
        (value) => {
          this.signal.removeEventListener('abort', stop);
          resolve(value);
        },
        (err: unknown) => {
          this.signal.removeEventListener('abort', stop);
          reject(err);
        },
      );
    });
  }

  /** Sleeps `ms`, or rejects with `onStop()` when the deadline stops first. */
  sleep(ms: number, onStop: (reason: StopReason) => Error): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const pause = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    return this.race(pause, onStop).finally(() => clearTimeout(timer));
  }

  private readonly onCallerAbort = (): void => {
    const reason: unknown = this.callerSignal?.reason;
    // Duck-typed: AbortSignal.timeout's reason is a DOMException, which is not an Error in every realm. The CSI
    // handler stops a call whose deadline is near with a deadline-exceeded DomainError: a deadline too, not a cancel.
    const deadline =
      (typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError') || isDomainError(reason, 'deadline-exceeded');
    this.stop({ kind: 'caller', deadline });
  };

  private stop(reason: StopReason): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    clearTimeout(this.timer);
    this.controller.abort();
  }
}
