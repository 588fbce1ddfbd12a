import { readdirSync, readFileSync } from 'node:fs';

/**
 * The process table, read from /proc: what the cluster's teardown needs to find and kill what it started, including
 * what it did not start directly (containerd's shims daemonize away from containerd, and the containers hang below
 * the shims).
 *
 * A pid alone is not an identity: after a crash and a reboot-free day the number may belong to someone else. So every
 * recorded pid comes with the process's start time (field 22 of /proc/PID/stat, in clock ticks since boot), and
 * nothing is killed unless both match.
 */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** One letter: R, S, D, Z (zombie: already dead, only waiting to be reaped), ... */
  state: string;
  startTime: number;
  /** NUL-separated arguments joined with spaces; empty for kernel threads. */
  cmdline: string;
}

function parseStat(pid: number, stat: string): Omit<ProcInfo, 'cmdline'> | undefined {
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses: split after the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = stat.slice(close + 2).split(' ');
  const state = rest[0] ?? '?';
  const ppid = Number(rest[1]);
  const startTime = Number(rest[19]);
  if (!Number.isFinite(ppid) || !Number.isFinite(startTime)) return undefined;
  return { pid, ppid, state, startTime };
}

/** One process, or undefined when it no longer exists. */
export function procInfo(pid: number): ProcInfo | undefined {
  try {
    const parsed = parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
    if (!parsed) return undefined;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    } catch {
      // Exited between the two reads: the stat is enough.
    }
    return { ...parsed, cmdline };
  } catch {
    return undefined;
  }
}

/** Every process on the machine (a snapshot; processes come and go while it is taken). */
export function listProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = procInfo(Number(entry));
    if (info) out.push(info);
  }
  return out;
}

/** Alive and still the process we recorded (same start time); zombies count as dead. */
export function isSameProcess(pid: number, startTime: number): boolean {
  const info = procInfo(pid);
  return info !== undefined && info.startTime === startTime && info.state !== 'Z';
}

/** The start time of a live process, for its record. */
export function startTimeOf(pid: number): number {
  const info = procInfo(pid);
  if (!info) throw new Error(`process ${pid} is gone`);
  return info.startTime;
}

/** `roots` and every process below them (children, grandchildren, ...), zombies left out. */
export function withDescendants(roots: Iterable<number>, procs: readonly ProcInfo[] = listProcs()): Set<number> {
  const children = new Map<number, number[]>();
  for (const p of procs) {
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const live = new Set(procs.filter((p) => p.state !== 'Z').map((p) => p.pid));
  const out = new Set<number>();
  const queue = [...roots];
  while (queue.length > 0) {
    const pid = queue.pop() as number;
    if (out.has(pid)) continue;
    if (live.has(pid)) out.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** SIGKILL, ignoring processes that are already gone. */
export function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * Kills `find()`'s processes (re-evaluated each round, since a dying parent's children are re-parented and a shim may
 * fork while we work) until it returns none, or `timeoutMs` passes. Every round stops the whole set first (SIGSTOP),
 * then kills it, so that nothing in the set can fork a replacement between two kills. Returns what survived.
 */
export async function killAll(find: () => Set<number>, timeoutMs = 10_000): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const pids = [...find()].filter((pid) => pid !== process.pid);
    if (pids.length === 0) return [];
    if (Date.now() > until) return pids;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGSTOP');
      } catch {
        // Gone already.
      }
    }
    for (const pid of pids) killPid(pid);
    await new Promise((r) => setTimeout(r, 100));
  }
}
