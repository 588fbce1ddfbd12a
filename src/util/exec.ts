import { spawn } from 'node:child_process';
import { DomainError } from '../errors.js';
import { childLedger } from './child-ledger.js';
import { withParentDeathSignal } from './parent-death.js';
import { redactString } from './redact.js';
import type { Logger } from './log.js';

/**
 * The one way Ferry runs a child process: an argument array (never a shell string), a timeout on every call,
 * captured output, and redaction of credentials before anything is logged or put into an error message.
 *
 * Each child leads its own process group, and a timeout kills the whole group: a mount helper that forks
 * (mount → mount.nfs) must not leave a grandchild behind when the call gives up.
 *
 * No child outlives Ferry, even one killed with SIGKILL: the child starts with a parent-death signal (it is sent
 * SIGKILL by the kernel the moment Ferry dies; see parent-death.ts), and its group is written to the child ledger
 * (child-ledger.ts) so the next instance kills what the child forked. Both pipes are read to the end while Ferry
 * lives, so a child never blocks on its output.
 */
export interface ExecOptions {
  /** Milliseconds before the process group is killed. Required in spirit: the default is deliberately short. */
  timeoutMs?: number;
  /** Text written to standard input. */
  input?: string;
  /** Extra environment variables (merged over the parent's). */
  env?: Record<string, string>;
  /** Literal strings to hide in logs and errors (passwords handed to a command). */
  secrets?: readonly string[];
  /** Cancels the call (the process group is killed). */
  signal?: AbortSignal;
  /** Exit codes that are answers rather than failures (e.g. blkid's 2: "nothing found"). */
  okExitCodes?: readonly number[];
  logger?: Logger;
  cwd?: string;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;

export class ExecError extends DomainError {
  constructor(
    kind: 'internal' | 'deadline-exceeded' | 'aborted',
    message: string,
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    super(kind, message);
  }
}

const liveGroups = new Set<number>();
let exitHookInstalled = false;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone: nothing to kill.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A detached group would outlive us; kill what is still running when Ferry exits.
  process.once('exit', () => {
    for (const pid of liveGroups) killGroup(pid);
  });
}

export function describeCommand(file: string, args: readonly string[], secrets: readonly string[] = []): string {
  return redactString([file, ...args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' '), secrets);
}

export async function exec(file: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  const secrets = options.secrets ?? [];
  const command = describeCommand(file, args, secrets);
  const started = Date.now();
  installExitHook();

  const [spawnFile, spawnArgs] = withParentDeathSignal(file, args);
  // node:child_process directly: a wrapper library cost ~2 ms of the event loop per call and ~12 MiB of memory
  // (docs/benchmarks.md); what this needs of it is small enough to say here.
  const child = spawn(spawnFile, spawnArgs, {
    env: options.env === undefined ? process.env : { ...process.env, ...options.env },
    cwd: options.cwd,
    detached: true,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  const outcome = collect(child, options.input);
  const pid = child.pid;
  if (pid !== undefined) {
    liveGroups.add(pid);
    recordGroup(pid, command, options.logger);
  }

  let timedOut = false;
  let aborted = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (pid !== undefined) killGroup(pid);
  }, timeoutMs);
  const onAbort = (): void => {
    aborted = true;
    if (pid !== undefined) killGroup(pid);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  try {
    const result = await outcome;
    const { stdout, stderr } = result;
    const elapsed = Date.now() - started;
    options.logger?.debug({ command, exitCode: result.exitCode, ms: elapsed }, 'exec');
    if (timedOut) {
      throw new ExecError('deadline-exceeded', `${command}: timed out after ${timeoutMs} ms`, command, undefined, redactString(stderr, secrets));
    }
    if (aborted) {
      throw new ExecError('aborted', `${command}: cancelled`, command, undefined, redactString(stderr, secrets));
    }
    if (result.exitCode === undefined) {
      const why = result.signal ? `killed by ${result.signal}` : redactString(result.startError ?? 'failed to start', secrets);
      throw new ExecError('internal', `${command}: ${why}`, command, undefined, redactString(stderr, secrets));
    }
    if (spawnFile !== file && result.exitCode === SETPRIV_EXEC_FAILED && stderr.startsWith('setpriv: failed to execute')) {
      // What spawn says of a missing program (ENOENT), said of the program rather than of the wrapper.
      throw new ExecError('internal', `${command}: failed to start: ${redactString(stderr.trim(), secrets)}`, command, undefined, '');
    }
    const exitCode = result.exitCode;
    if (exitCode !== 0 && !(options.okExitCodes ?? []).includes(exitCode)) {
      const detail = redactString((stderr || stdout).trim().split('\n').slice(-5).join('; '), secrets);
      throw new ExecError('internal', `${command}: exit ${exitCode}${detail ? `: ${detail}` : ''}`, command, exitCode, redactString(stderr, secrets));
    }
    return { exitCode, stdout, stderr };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    // On a normal exit the group is left alone: a helper may start a daemon on purpose (mount.nfs → rpc.statd).
    if (pid !== undefined) {
      liveGroups.delete(pid);
      forgetGroup(pid, options.logger);
    }
  }
}

interface Outcome {
  /** Undefined when the process was killed by a signal or never started. */
  exitCode: number | undefined;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Why it did not start (spawn's error: ENOENT, EACCES). */
  startError?: string;
}

/** Feeds `input`, reads both pipes to the end, and settles once the process has exited and its pipes closed. */
function collect(child: ReturnType<typeof spawn>, input: string | undefined): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let startError: string | undefined;
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    if (child.stdin) {
      // A child that exits without reading its input closes the pipe under us: EPIPE is its answer, not ours.
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
    child.on('error', (e: Error) => {
      startError = e.message;
    });
    child.on('close', (code, signal) => {
      resolve({
        exitCode: startError === undefined && code !== null ? code : undefined,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ...(startError === undefined ? {} : { startError }),
      });
    });
  });
}

/** setpriv's exit status when it cannot execute the program it was given. */
const SETPRIV_EXEC_FAILED = 127;

function recordGroup(pgid: number, command: string, logger: Logger | undefined): void {
  try {
    childLedger()?.record(pgid, command);
  } catch (err) {
    // The command still runs; only a crash of ours during it would leave its forks unswept.
    logger?.warn({ pgid, err: String(err) }, 'could not record a child process group');
  }
}

function forgetGroup(pgid: number, logger: Logger | undefined): void {
  try {
    childLedger()?.forget(pgid);
  } catch (err) {
    logger?.warn({ pgid, err: String(err) }, 'could not remove a child process record');
  }
}
