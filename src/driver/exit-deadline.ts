import { writeSync } from 'node:fs';
import type { Logger } from '../util/log.js';

/**
 * After SIGTERM the process is gone within the grace period plus this, whatever it waits for. Kubernetes' default
 * termination grace (30 s) covers the chart's 25 s plus this.
 */
export const EXIT_MARGIN_MS = 2_000;

/** Whether a filesystem request is still outstanding in libuv's thread pool (one that may never return). */
function filesystemRequestPending(): boolean {
  return process.getActiveResourcesInfo().some((name) => name.startsWith('FSReq') || name === 'FileHandle');
}

/**
 * Arms the last resort of a shutdown: at `afterMs`, a process still alive exits. Normally with process.exit (0 once
 * the orderly stop is done, 1 when it is not); but a normal exit joins libuv's thread pool, and a thread stuck in the
 * kernel (open(2) on a FIFO nobody writes, mkdir -p looping under /proc) would hold that exit for ever, so with a
 * filesystem request outstanding the process kills itself, after saying why on stderr (written synchronously).
 */
export function armExitDeadline(log: Logger, afterMs: number, stopped: () => boolean): void {
  setTimeout(() => {
    const done = stopped();
    if (filesystemRequestPending()) {
      const why = 'a filesystem step never returned and would hold a normal exit: exiting now with SIGKILL';
      log.error({ afterMs, stopped: done }, why);
      // The logger may buffer; this line must be out before the kill.
      writeSync(2, `ferry: ${why}\n`);
      process.kill(process.pid, 'SIGKILL');
      return;
    }
    log.warn({ afterMs, stopped: done }, 'still running after the shutdown deadline: exiting now');
    process.exit(done ? 0 : 1);
  }, afterMs).unref();
}
