import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/**
 * Starts a command so that the kernel kills it the moment Ferry dies, whatever kills Ferry: util-linux `setpriv
 * --pdeathsig KILL` sets PR_SET_PDEATHSIG on itself and then executes the command in place (same pid, same parent),
 * so the signal stays armed for the command. (Node cannot call prctl between fork and exec itself.)
 *
 * The signal is armed for that one process: what it forks is caught by the child ledger instead. Running a set-user-id
 * program would disarm it, but the node plugin runs as root, where a set-user-id-root program changes no credentials.
 * Where setpriv is missing, commands run directly and only the ledger stands between a crash and an orphan.
 */
const SETPRIV_PREFIX = ['--pdeathsig', 'KILL', '--'] as const;

let setprivPath: string | null | undefined;

function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return null;
}

/** The setpriv Ferry uses, looked up once; null when there is none. */
export function parentDeathHelper(): string | null {
  if (setprivPath === undefined) setprivPath = process.platform === 'linux' ? findOnPath('setpriv') : null;
  return setprivPath;
}

/** The file and arguments to spawn so that `file args` dies with this process. */
export function withParentDeathSignal(file: string, args: readonly string[]): [string, string[]] {
  const setpriv = parentDeathHelper();
  if (setpriv === null) return [file, [...args]];
  return [setpriv, [...SETPRIV_PREFIX, file, ...args]];
}
