import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * A long-running `ferry` child process (the pool, a driver) of `ferry demo` or the provisioning benchmark.
 *
 * util/exec runs commands to completion and hands back their output; a service that runs for the whole demo and
 * streams its log is not that, so this module (and only this one) spawns directly. The rules stay those of util/exec:
 * an argument array, never a shell; output captured (to a log file, plus the terminal with --verbose).
 *
 * Each child leads its own process group, so a Ctrl-C in the terminal reaches the demo alone and the demo tears
 * down in order (CSI calls first, processes last). Whatever is still running when this process exits is killed.
 */
export interface ChildOptions {
  /** Short name for log prefixes and messages: "pool", "controller", "node01". */
  name: string;
  /** The program (process.execPath) and its arguments (the CLI entry first). */
  command: string;
  args: readonly string[];
  /** Everything the child writes (stdout and stderr) is appended here. */
  logFile: string;
  /** Also copy every line to our stderr, prefixed with the name. */
  verbose: boolean;
  /** Each complete line of the child's stdout (its JSON log). */
  onLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const TAIL_LINES = 200;
const live = new Set<ChildService>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.killNow();
  });
}

export function describeExit(exit: ChildExit): string {
  return exit.signal !== null ? `killed by ${exit.signal}` : `exit status ${exit.code ?? '?'}`;
}

export class ChildService {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<ChildExit>;
  private exitInfo: ChildExit | undefined;
  private readonly recent: string[] = [];
  private readonly log: WriteStream;

  private constructor(
    private readonly child: ChildProcess,
    private readonly options: ChildOptions,
  ) {
    this.name = options.name;
    if (child.pid === undefined) throw new Error(`${options.name}: could not start ${options.command}`);
    this.pid = child.pid;
    this.log = createWriteStream(options.logFile, { flags: 'a', mode: 0o600 });
    // A log that cannot be written (its directory removed under us) must not take the demo down with it.
    this.log.on('error', () => undefined);
    // 'close', not 'exit': by then both pipes are drained, so the log file and the tail are complete.
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exitInfo = { code, signal };
        live.delete(this);
        this.log.end(() => resolve({ code, signal }));
      });
    });
    this.follow(child.stdout, true);
    this.follow(child.stderr, false);
  }

  static start(options: ChildOptions): Promise<ChildService> {
    installExitHook();
    const child = spawn(options.command, [...options.args], {
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        child.off('error', reject);
        // After a successful spawn, 'error' means a signal could not be sent: the exit tells the rest.
        child.on('error', () => undefined);
        const service = new ChildService(child, options);
        live.add(service);
        resolve(service);
      });
    });
  }

  /** Still running (not yet reaped). */
  get running(): boolean {
    return this.exitInfo === undefined;
  }

  get exit(): ChildExit | undefined {
    return this.exitInfo;
  }

  /** The last lines the child wrote (both streams), for error messages. */
  tail(lines = 20): string[] {
    return this.recent.slice(-lines);
  }

  /** SIGTERM, wait up to `timeoutMs`, then SIGKILL the group. Resolves with how the process ended. */
  async stop(timeoutMs = 30_000): Promise<ChildExit> {
    if (this.running) {
      this.signal('SIGTERM');
      const timer = setTimeout(() => this.killNow(), timeoutMs);
      try {
        await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return this.exited;
  }

  /** SIGKILL to the child's whole process group, at once. */
  killNow(): void {
    if (!this.running) return;
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }

  private signal(signal: NodeJS.Signals): void {
    try {
      this.child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  private follow(stream: NodeJS.ReadableStream | null, stdout: boolean): void {
    if (!stream) return;
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.log.write(chunk);
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) this.line(line, stdout);
    });
    stream.on('end', () => {
      if (pending !== '') this.line(pending, stdout);
      pending = '';
    });
  }

  private line(line: string, stdout: boolean): void {
    this.recent.push(line);
    if (this.recent.length > TAIL_LINES) this.recent.shift();
    if (this.options.verbose) process.stderr.write(`[${this.name}] ${line}\n`);
    if (stdout) this.options.onLine?.(line);
  }
}
