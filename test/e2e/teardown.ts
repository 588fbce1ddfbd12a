import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec } from '../../src/util/exec.js';
import { containerIds, removeCgroup, removeContainerCgroups } from './cgroups.js';
import { detachLoopsUnder } from '../../src/harness/cleanup.js';
import { mountsUnder, unmountUnder } from './mounts.js';
import { nodeProcesses } from './namespaces.js';
import { deleteLink } from './network.js';
import { isSameProcess, killAll, listProcs, withDescendants } from './procs.js';
import { RunRecords, type RunRecord } from './records.js';

/**
 * Undoing a cluster run from its records alone (records.ts), so that it works the same after a clean stop, a failed
 * start, or a crash of the process that owned the run:
 *
 *   1. kill: every recorded pid still alive (same start time), every process inside a node's namespaces, every
 *      process whose command line names the run dir, and everything below all of those (shims, containers);
 *   2. unmount everything under the run dir, deepest first (node directories, container root filesystems, volumes
 *      the CSI driver mounted under a kubelet root, the files pinning the namespaces);
 *   3. delete the network interfaces, make `/` private again if we made it shared, remove our containers' cgroups and
 *      the mount points we created outside the run dir (when empty), and finally the run dir itself, but only once
 *      nothing is mounted below it.
 *
 * Run it by hand after a crash:  node --import ./test/e2e/ts-loader.mjs test/e2e/teardown.ts [RUN_DIR...]
 * (no argument: every run under /tmp/ferry-e2e whose owner process is gone).
 */
export const RUN_ROOT = process.env.FERRY_E2E_RUN_ROOT ?? '/tmp/ferry-e2e';

function ancestorsOfSelf(): Set<number> {
  const procs = new Map(listProcs().map((p) => [p.pid, p]));
  const out = new Set<number>();
  for (let pid: number | undefined = process.pid; pid !== undefined && pid > 0 && !out.has(pid); pid = procs.get(pid)?.ppid) {
    out.add(pid);
  }
  return out;
}

/** The processes a run owns, found afresh each time (see the module comment, step 1). */
export function runProcesses(runDir: string, records: readonly RunRecord[]): Set<number> {
  const roots = new Set<number>();
  for (const r of records) {
    if (r.kind === 'pid' && isSameProcess(r.pid, r.startTime)) roots.add(r.pid);
    if (r.kind === 'node-ns') for (const pid of nodeProcesses(r)) roots.add(pid);
  }
  const procs = listProcs();
  for (const p of procs) if (p.state !== 'Z' && p.cmdline.includes(runDir)) roots.add(p.pid);
  const found = withDescendants(roots, procs);
  // Never ourselves, nor whoever started us (a teardown run from inside a node's shell, say).
  for (const pid of ancestorsOfSelf()) found.delete(pid);
  return found;
}

export interface TeardownReport {
  runDir: string;
  /** What could not be undone; empty when the machine is clean. */
  problems: string[];
}

export async function teardownRun(runDir: string): Promise<TeardownReport> {
  const problems: string[] = [];
  const records = new RunRecords(runDir).read();

  const survivors = await killAll(() => runProcesses(runDir, records));
  if (survivors.length > 0) problems.push(`processes survived SIGKILL: ${survivors.join(' ')}`);

  // Read before unmounting: the node's containerd state is in its directories.
  const ids = records.flatMap((r) => (r.kind === 'node-ns' ? containerIds(path.join(runDir, r.node, 'root')) : []));

  const mounted = await unmountUnder(runDir);
  if (mounted.length > 0) problems.push(`still mounted: ${mounted.join(' ')}`);
  // The storage pool a test ran under the run dir (ferry pool): its volumes' loop devices, once nothing mounts them.
  await detachLoopsUnder(runDir).catch((e: Error) => problems.push(`loop devices: ${e.message}`));

  for (const r of [...records].reverse()) {
    if (r.kind === 'link') await deleteLink(r.name);
  }

  if (records.some((r) => r.kind === 'rshared') && otherLiveRuns(runDir).length === 0) {
    await exec('mount', ['--make-rprivate', '/']).catch((e: Error) => problems.push(`make / private: ${e.message}`));
  }

  const busy = removeContainerCgroups(ids);
  for (const r of records) if (r.kind === 'cgroup') busy.push(...removeCgroup(r.path));
  if (busy.length > 0) problems.push(`cgroups still in use: ${busy.join(' ')}`);

  for (const r of [...records].reverse()) {
    if (r.kind !== 'dir') continue;
    try {
      removeEmptyTree(r.path);
    } catch (e) {
      problems.push(`${r.path}: ${(e as Error).message}`);
    }
  }

  // `rm -rf` on a tree with something still mounted below it would delete the mounted filesystem's files.
  if (mountsUnder(runDir).length === 0) {
    await exec('rm', ['-rf', '--one-file-system', runDir], { timeoutMs: 300_000 }).catch((e: Error) => problems.push(e.message));
  } else {
    problems.push(`${runDir} left in place: something is still mounted below it`);
  }
  // The root too, when this was the last run in it.
  try {
    if (path.dirname(runDir) === RUN_ROOT) rmdirSync(RUN_ROOT);
  } catch {
    // Another run is there, or it is gone already.
  }
  return { runDir, problems };
}

/** Removes `dir` if it holds nothing but empty directories (what we created as mount points). */
function removeEmptyTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) return;
    removeEmptyTree(path.join(dir, entry.name));
  }
  if (readdirSync(dir).length === 0) rmdirSync(dir);
}

/** Run dirs under RUN_ROOT whose owner process is alive, other than `except`. */
export function otherLiveRuns(except?: string): string[] {
  return listRuns().filter((dir) => dir !== except && ownerAlive(dir));
}

export function listRuns(root = RUN_ROOT): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => path.join(root, e.name));
}

export function ownerAlive(runDir: string): boolean {
  const owner = new RunRecords(runDir).read().find((r) => r.kind === 'owner');
  return owner?.kind === 'owner' && isSameProcess(owner.pid, owner.startTime);
}

/** Tears down every run whose owner is gone (a crashed test); live runs of other processes are left alone. */
export async function teardownStale(root = RUN_ROOT): Promise<TeardownReport[]> {
  const reports: TeardownReport[] = [];
  for (const dir of listRuns(root)) {
    if (!ownerAlive(dir)) reports.push(await teardownRun(dir));
  }
  return reports;
}

async function main(argv: string[]): Promise<number> {
  const reports = argv.length > 0 ? await Promise.all(argv.map((d) => teardownRun(path.resolve(d)))) : await teardownStale();
  if (reports.length === 0) console.log(`nothing to tear down under ${RUN_ROOT}`);
  let failed = 0;
  for (const r of reports) {
    if (r.problems.length === 0) console.log(`${r.runDir}: torn down`);
    else {
      failed++;
      console.error(`${r.runDir}:\n  ${r.problems.join('\n  ')}`);
    }
  }
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
