import { readFile } from 'node:fs/promises';

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

export interface Row {
  name: string;
  samples: readonly number[];
}

/** The latency table: one row per RPC, milliseconds. */
export function latencyTable(rows: readonly Row[]): string[] {
  const width = Math.max(...rows.map((r) => r.name.length), 'RPC'.length);
  const cell = (n: number): string => (Number.isNaN(n) ? '-' : n.toFixed(1)).padStart(9);
  const lines = [`${'RPC'.padEnd(width)}  ${'calls'.padStart(6)}${['p50', 'p95', 'p99', 'max'].map((h) => `${h} ms`.padStart(9)).join('')}`];
  for (const row of rows) {
    lines.push(
      `${row.name.padEnd(width)}  ${String(row.samples.length).padStart(6)}${[50, 95, 99, 100].map((p) => cell(percentile(row.samples, p))).join('')}`,
    );
  }
  return lines;
}

export interface PairedRow {
  name: string;
  driver: readonly number[];
  floor: readonly number[];
}

/**
 * The driver against the floor, per RPC: both p50 and p99, the driver's own share (driver less floor, at the same
 * percentile) and the ratio driver / floor.
 */
export function overheadTable(rows: readonly PairedRow[]): string[] {
  const width = Math.max(...rows.map((r) => r.name.length), 'RPC'.length);
  const ms = (n: number): string => (Number.isNaN(n) ? '-' : n.toFixed(1)).padStart(9);
  const ratio = (a: number, b: number): string => (Number.isNaN(a) || Number.isNaN(b) || b === 0 ? '-' : `${(a / b).toFixed(2)}x`).padStart(9);
  const heads = ['driver', 'floor', 'own', 'ratio'];
  const lines = [`${''.padEnd(width)}  ${'p50 ms'.padStart(36)}${'p99 ms'.padStart(36)}`, `${'RPC'.padEnd(width)}  ${[...heads, ...heads].map((h) => h.padStart(9)).join('')}`];
  for (const row of rows) {
    const cells = [50, 99].flatMap((p) => {
      const d = percentile(row.driver, p);
      const f = percentile(row.floor, p);
      return [ms(d), ms(f), ms(d - f), ratio(d, f)];
    });
    lines.push(`${row.name.padEnd(width)}  ${cells.join('')}`);
  }
  return lines;
}

/** A field of /proc/<pid>/status in bytes (VmRSS, VmHWM: the kernel writes them in kB). */
export async function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** User plus system CPU seconds of a process so far, from /proc/<pid>/stat (USER_HZ is 100 on Linux). */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing parenthesis.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / 100 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples VmRSS of some processes every `intervalMs`; keeps the highest value of each. */
export class RssSampler {
  private readonly peaks = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: readonly number[],
    intervalMs = 100,
  ) {
    this.timer = setInterval(() => void this.sample(), intervalMs);
    this.timer.unref();
  }

  async sample(): Promise<void> {
    for (const pid of this.pids) {
      const rss = await statusBytes(pid, 'VmRSS');
      if (rss !== undefined && rss > (this.peaks.get(pid) ?? 0)) this.peaks.set(pid, rss);
    }
  }

  peak(pid: number): number | undefined {
    return this.peaks.get(pid);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
