import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Logger } from './log.js';
import { bootId, groupMembers, processInfo, type ProcessInfo } from './processes.js';

/**
 * A record, on disk, of every process group util/exec has running: one small file per group, written when the
 * child starts and removed when it ends. A plugin killed with SIGKILL runs no exit hook; its direct children die with
 * it (exec starts them with a parent-death signal), but what they forked (mount → mount.nfs) lives in their group
 * and would go on touching the device. The next instance reads the files left behind and kills those groups before
 * it serves a call.
 *
 * Writes are synchronous on purpose: the record is on disk before exec awaits anything, and a removal never
 * overtakes the write it undoes. (A crash in the instant between the spawn and the record leaves that one group
 * unrecorded; its leader still dies of the parent-death signal.)
 */
const recordSchema = z.object({
  pgid: z.number().int().positive(),
  startTime: z.string(),
  bootId: z.string(),
  command: z.string(),
});

type ChildRecord = z.infer<typeof recordSchema>;

export interface SweptGroup {
  pgid: number;
  command: string;
  /** Members killed. */
  killed: number;
  /** Members still alive when the sweep gave up waiting (uninterruptible I/O): their devices stay busy. */
  survivors: ProcessInfo[];
}

const SWEEP_WAIT_MS = 10_000;

/** The ledger's folder inside the node plugin's state directory. */
export const CHILD_LEDGER_DIR = 'children';

export class ChildLedger {
  constructor(readonly dir: string) {}

  private file(pgid: number): string {
    return path.join(this.dir, `${pgid}.json`);
  }

  /** Called by exec right after a spawn. */
  record(pgid: number, command: string): void {
    const info = processInfo(pgid);
    if (!info) return; // already gone
    const record: ChildRecord = { pgid, startTime: info.startTime, bootId: bootId(), command };
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileSync(this.file(pgid), JSON.stringify(record));
  }

  /** Called by exec when the child has ended. */
  forget(pgid: number): void {
    rmSync(this.file(pgid), { force: true });
  }

  private leftBehind(): ChildRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const records: ChildRecord[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const file = path.join(this.dir, name);
      let parsed: ChildRecord | undefined;
      try {
        const result = recordSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
        parsed = result.success ? result.data : undefined;
      } catch {
        parsed = undefined;
      }
      // A file cut short by the crash that killed its writer: its group, if any, was never recorded whole.
      if (parsed) records.push(parsed);
      else rmSync(file, { force: true });
    }
    return records;
  }

  /**
   * Ends every process group a previous instance left running. A group is ours when the boot is the same and either
   * its leader is the very process recorded (same pid and start time) or, the leader being gone, its members started
   * after the leader did (a group id cannot be reused while any member lives).
   */
  async sweep(log: Logger): Promise<SweptGroup[]> {
    const swept: SweptGroup[] = [];
    const thisBoot = bootId();
    for (const record of this.leftBehind()) {
      const members = record.bootId === thisBoot ? groupMembers(record.pgid).filter((p) => belongs(p, record)) : [];
      if (members.length > 0) {
        log.warn({ pgid: record.pgid, command: record.command, pids: members.map((m) => m.pid) }, 'killing what a previous instance left running');
        try {
          process.kill(-record.pgid, 'SIGKILL');
        } catch {
          // Gone in the meantime.
        }
        const survivors = await waitForGroupEnd(record, SWEEP_WAIT_MS);
        if (survivors.length > 0) {
          log.error({ pgid: record.pgid, command: record.command, survivors }, 'processes of a previous instance did not die; their devices stay busy');
        }
        swept.push({ pgid: record.pgid, command: record.command, killed: members.length, survivors });
      }
      this.forget(record.pgid);
    }
    return swept;
  }
}

function belongs(p: ProcessInfo, record: ChildRecord): boolean {
  if (p.pid === record.pgid) return p.startTime === record.startTime;
  return BigInt(p.startTime) >= BigInt(record.startTime);
}

async function waitForGroupEnd(record: ChildRecord, timeoutMs: number): Promise<ProcessInfo[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = groupMembers(record.pgid).filter((p) => belongs(p, record));
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let installed: ChildLedger | undefined;

/** The ledger exec records children in; none (the default) records nothing. Set once at start-up by the driver. */
export function installChildLedger(ledger: ChildLedger | undefined): void {
  installed = ledger;
}

export function childLedger(): ChildLedger | undefined {
  return installed;
}
