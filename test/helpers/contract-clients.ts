import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './driver-process.js';

/**
 * The public PowerFlex clients the contract tests drive `ferry pool` with, installed on first use by
 * scripts/install-contract-clients.sh (cached by version and source hash under ~/.cache/ferry-tools).
 */
export interface ContractClients {
  /** The goscaleio program (test/contract/goscaleio), built. */
  goscaleio: string;
  /** The python of a venv holding PyPowerFlex; runs test/contract/pypowerflex/volume_life.py. */
  python: string;
}

export const PYPOWERFLEX_SCRIPT = path.join(REPO_ROOT, 'test', 'contract', 'pypowerflex', 'volume_life.py');

export function contractClients(): ContractClients {
  const script = path.join(REPO_ROOT, 'scripts', 'install-contract-clients.sh');
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 900_000 });
  const value = (key: string): string => {
    const line = out.split('\n').find((l) => l.startsWith(`${key}=`));
    if (!line) throw new Error(`install-contract-clients.sh printed no ${key}=: ${out}`);
    return line.slice(key.length + 1);
  };
  return { goscaleio: value('goscaleio'), python: value('python') };
}

/** One call a client program reported: `ok   <call>: <seen>` or `FAIL <call>: <detail>`. */
export interface CallResult {
  call: string;
  ok: boolean;
  detail: string;
}

export interface ClientRun {
  exitCode: number;
  output: string;
  calls: CallResult[];
  /** The program's own closing count ("<client>: N passed, M failed"). */
  summary: { passed: number; failed: number } | undefined;
}

/** Runs a client program to its end (it exits by itself) and reads its per-call lines. */
export function runClient(file: string, args: string[], timeoutMs = 120_000): Promise<ClientRun> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      const calls: CallResult[] = [];
      for (const line of stdout.split('\n')) {
        const m = /^(ok {2}|FAIL) (.+?): (.*)$/.exec(line);
        if (m?.[1] && m[2]) calls.push({ call: m[2], ok: m[1] !== 'FAIL', detail: m[3] ?? '' });
      }
      const counted = /^\w+: (\d+) passed, (\d+) failed$/m.exec(stdout);
      const summary = counted ? { passed: Number(counted[1]), failed: Number(counted[2]) } : undefined;
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ exitCode: code, output, calls, summary });
    });
  });
}
