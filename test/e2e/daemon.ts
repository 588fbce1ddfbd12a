import { ChildService, describeExit } from '../../src/harness/child.js';
import { startTimeOf } from './procs.js';
import type { RunRecords } from './records.js';

/**
 * Starting the cluster's long-running processes: each a ChildService (own process group, log file, killed when we
 * exit), and each recorded with its start time before we go on, so that teardown finds it even if we crash.
 */
export interface DaemonSpec {
  name: string;
  /** The node it belongs to (its kubelet, its containerd): killNode() stops exactly these. */
  node?: string;
  command: string;
  args: readonly string[];
  logFile: string;
  verbose?: boolean;
  env?: NodeJS.ProcessEnv;
}

export async function startDaemon(records: RunRecords, spec: DaemonSpec): Promise<ChildService> {
  const service = await ChildService.start({
    name: spec.name,
    command: spec.command,
    args: spec.args,
    logFile: spec.logFile,
    verbose: spec.verbose ?? false,
    env: spec.env,
  });
  let startTime = -1;
  try {
    startTime = startTimeOf(service.pid);
  } catch {
    // Exited already: the caller's readiness check reports why.
  }
  records.add({ kind: 'pid', name: spec.name, ...(spec.node === undefined ? {} : { node: spec.node }), pid: service.pid, startTime });
  return service;
}

/**
 * Polls `check` until it returns true. Gives up after `timeoutMs`, or at once when one of `services` has exited
 * (waiting for a dead daemon to become ready would only waste the timeout); the error carries that daemon's last lines.
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number; services?: readonly ChildService[] } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const until = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    for (const s of options.services ?? []) {
      if (!s.running) {
        const exit = s.exit ? describeExit(s.exit) : 'exited';
        throw new Error(`${s.name} ${exit} while waiting for ${what}:\n${s.tail(30).join('\n')}`);
      }
    }
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > until) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
}
