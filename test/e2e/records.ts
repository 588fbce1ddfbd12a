import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * What a cluster run changed on the machine, one JSON object a line in <run dir>/records.jsonl, appended (and
 * flushed) before or right after each change. Teardown reads it back, so it can undo a run whose process died half-way:
 * the file is the only state that must survive a crash, and appending a line is the least that can go wrong.
 */
export type RunRecord =
  /** The process that owns the run: while it lives, nobody else tears the run down. */
  | { kind: 'owner'; pid: number; startTime: number }
  /** A process we started (a daemon, or the tool that set up a namespace). */
  | { kind: 'pid'; name: string; node?: string; pid: number; startTime: number }
  /** A node's namespaces: files holding them (bind mounts of /proc/PID/ns/...) and their inode numbers. */
  | { kind: 'node-ns'; node: string; netFile: string; mntFile: string; netIno: number; mntIno: number }
  /** A network interface on the host (veth, bridge): deleted at teardown. */
  | { kind: 'link'; name: string }
  /** A directory we created outside the run dir (as a mount point): removed at teardown if empty. */
  | { kind: 'dir'; path: string }
  /** A cgroup directory that did not exist before the run (runc's parent cgroup): removed at teardown. */
  | { kind: 'cgroup'; path: string }
  /** We made `/` shared (`mount --make-rshared /`): teardown makes it private again. */
  | { kind: 'rshared' };

export const RECORDS_FILE = 'records.jsonl';

export class RunRecords {
  readonly file: string;

  constructor(readonly runDir: string) {
    this.file = path.join(runDir, RECORDS_FILE);
  }

  add(record: RunRecord): void {
    // Synchronous on purpose: the line must be on disk before the caller goes on to make the change it describes.
    appendFileSync(this.file, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  }

  /** Every record, oldest first. A torn last line (a crash mid-write) is skipped. */
  read(): RunRecord[] {
    if (!existsSync(this.file)) return [];
    const out: RunRecord[] = [];
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        out.push(JSON.parse(line) as RunRecord);
      } catch {
        // Incomplete line: the change it announced was not made yet either.
      }
    }
    return out;
  }
}
