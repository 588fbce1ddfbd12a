import { performance } from 'node:perf_hooks';

/**
 * The demo's output: one short line per step as it finishes, with the time since the start and the step's own
 * duration, and every failure kept for the summary.
 *
 *     4.12s  ok    NodeStageVolume on node01: formatted ext4, mounted at …  (812 ms)
 */
export class Reporter {
  private readonly started = performance.now();
  readonly failures: string[] = [];
  steps = 0;

  constructor(private readonly write: (line: string) => void) {}

  /** Seconds since the start, for the summary. */
  get elapsedSeconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** A line of its own (headings, notes), indented like the step text. */
  note(text: string): void {
    this.write(`${' '.repeat(14)}${text}`);
  }

  raw(text: string): void {
    this.write(text);
  }

  /** Runs one step; prints ok (with what `describe` makes of the result) or FAIL with the error, and rethrows it. */
  async step<T>(label: string, run: () => Promise<T>, describe?: (value: T) => string | undefined): Promise<T> {
    const begun = performance.now();
    this.steps++;
    let value: T;
    try {
      value = await run();
    } catch (err) {
      this.fail(label, err, performance.now() - begun);
      throw err;
    }
    const detail = describe?.(value);
    this.print('ok', `${label}${detail ? `: ${detail}` : ''}`, performance.now() - begun);
    return value;
  }

  /** A check that needs no waiting: ok or FAIL, recorded. */
  check(ok: boolean, passed: string, failed: string): boolean {
    this.steps++;
    if (ok) this.print('ok', passed);
    else {
      this.print('FAIL', failed);
      this.failures.push(failed);
    }
    return ok;
  }

  fail(label: string, err: unknown, ms?: number): void {
    const message = err instanceof Error ? err.message : String(err);
    const [first, ...rest] = message.split('\n');
    this.print('FAIL', `${label}: ${first ?? ''}`, ms);
    for (const line of rest) this.write(`${' '.repeat(16)}${line}`);
    this.failures.push(`${label}: ${first ?? ''}`);
  }

  private print(status: 'ok' | 'FAIL', text: string, ms?: number): void {
    const at = `${this.elapsedSeconds.toFixed(2)}s`.padStart(8);
    this.write(`${at}  ${status.padEnd(4)}  ${text}${ms === undefined ? '' : `  (${formatMs(ms)})`}`);
  }
}

export function formatMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
