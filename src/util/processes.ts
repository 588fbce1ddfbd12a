import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/**
 * What /proc says about processes: enough to tell one process from a later one that got the same pid (its start
 * time), to find the members of a process group, and to find who holds a device open. Linux only, like the rest of
 * the node plugin.
 */
export interface ProcessInfo {
  pid: number;
  /** Process group id. */
  pgrp: number;
  /** Clock ticks since boot at which it started (field 22 of /proc/<pid>/stat). */
  startTime: string;
  /** Its name as the kernel keeps it (at most 15 characters). */
  comm: string;
  /** R, S, D (uninterruptible: it cannot die until its I/O returns), Z, ... */
  state: string;
}

/** Parses /proc/<pid>/stat. The name sits in parentheses and may itself hold spaces or ')'. */
export function parseProcStat(pid: number, text: string): ProcessInfo | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  // After the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
  // priority nice num_threads itrealvalue starttime ...; starttime is the 20th field after the name.
  const rest = text.slice(close + 2).split(' ');
  const state = rest[0];
  const pgrp = Number(rest[2]);
  const startTime = rest[19];
  if (state === undefined || startTime === undefined || !Number.isInteger(pgrp)) return undefined;
  return { pid, pgrp, startTime, comm: text.slice(open + 1, close), state };
}

/** One process, or undefined when it is gone. */
export function processInfo(pid: number): ProcessInfo | undefined {
  try {
    return parseProcStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** Every live process (zombies excluded: they hold nothing and cannot be killed again). */
export function listProcesses(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const pid of pids()) {
    const info = processInfo(pid);
    if (info && info.state !== 'Z') out.push(info);
  }
  return out;
}

/** The live members of process group `pgrp`. */
export function groupMembers(pgrp: number): ProcessInfo[] {
  return listProcesses().filter((p) => p.pgrp === pgrp);
}

/** This boot's id: a record written before a reboot names processes that no longer exist. */
export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export interface DeviceHolder {
  pid: number;
  comm: string;
}

/**
 * The processes other than this one that hold `devicePath` (an absolute, resolved path such as /dev/loop3) open:
 * each /proc/<pid>/fd/* link names the file it has open. A process whose fds cannot be read (gone, or not ours to
 * read) is passed over.
 */
export function deviceHolders(devicePath: string): DeviceHolder[] {
  const holders: DeviceHolder[] = [];
  for (const pid of pids()) {
    if (pid === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (target === devicePath) {
        holders.push({ pid, comm: processInfo(pid)?.comm ?? '?' });
        break;
      }
    }
  }
  return holders;
}
