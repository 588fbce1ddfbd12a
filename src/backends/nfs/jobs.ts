import { DomainError, errorMessage } from '../../errors.js';
import type { Logger } from '../../util/log.js';

interface Job {
  promise: Promise<void>;
  abort: AbortController;
}

/**
 * Long work (copying a directory, archiving or restoring one) runs detached from the call that started it, under
 * its own timeout: a sidecar whose call times out retries, and the retry waits for the same job rather than
 * starting the copy over. The result lives on the export; a job only says when it is done, or why it failed.
 */
export class Jobs {
  private readonly running = new Map<string, Job>();

  constructor(private readonly log: Logger) {}

  /** Starts `work` under `key` unless it is running already; waits for it until `signal` gives up. */
  async run(key: string, work: (signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    let job = this.running.get(key);
    if (job) {
      this.log.info({ job: key }, 'waiting for the same work, already running');
    } else {
      const abort = new AbortController();
      const promise = work(abort.signal);
      const started: Job = { promise, abort };
      job = started;
      this.running.set(key, started);
      promise.then(
        () => this.running.delete(key),
        (err: unknown) => {
          this.running.delete(key);
          this.log.warn({ job: key, err: errorMessage(err) }, 'background job failed');
        },
      );
    }
    await waitUnless(job.promise, signal);
  }

  isRunning(key: string): boolean {
    return this.running.has(key);
  }

  /** Cancels every job (their commands are killed) and waits for them to finish cleaning up. */
  async close(): Promise<void> {
    const jobs = [...this.running.values()];
    for (const job of jobs) job.abort.abort(new DomainError('aborted', 'the driver is shutting down'));
    await Promise.allSettled(jobs.map((j) => j.promise));
  }
}

/** `promise`, or the signal's reason once it fires first (the promise runs on). */
function waitUnless(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(reasonOf(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(reasonOf(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

function reasonOf(signal: AbortSignal): DomainError {
  const reason: unknown = signal.reason;
  if (reason instanceof DomainError) return reason;
  return new DomainError('aborted', 'the call was cancelled while the work goes on; call again to wait for it');
}
