import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec, type ExecResult } from '../../src/util/exec.js';

/**
 * kubectl: $KUBECTL, else the machine's, else the one scripts/install-helm.sh builds from its Go module beside helm
 * (Debian has no kubectl package; the script builds it only on machines without one).
 */
function findKubectl(): string {
  if (process.env.KUBECTL) return process.env.KUBECTL;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(path.join(dir, 'kubectl'))) return path.join(dir, 'kubectl');
  }
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const helmDir = execFileSync('bash', [path.join(repo, 'scripts/install-helm.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  return path.join(helmDir, 'kubectl');
}

export const KUBECTL = findKubectl();

/** kubectl with one kubeconfig: the tests' and the harness's way to talk to the cluster. */

export class Kubectl {
  constructor(readonly kubeconfig: string) {}

  /** Runs kubectl; rejects (with its stderr) unless it exits 0 or with one of `okExitCodes`. */
  run(args: readonly string[], options: { input?: string; timeoutMs?: number; okExitCodes?: number[] } = {}): Promise<ExecResult> {
    return exec(KUBECTL, [`--kubeconfig=${this.kubeconfig}`, ...args], {
      input: options.input,
      timeoutMs: options.timeoutMs ?? 60_000,
      okExitCodes: options.okExitCodes,
    });
  }

  /** `kubectl apply` of YAML or JSON text (server-side, so repeated applies by different callers do not fight). */
  async apply(manifest: string): Promise<void> {
    await this.run(['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: manifest });
  }

  /** Parsed `kubectl get -o json`. */
  async getJson<T = unknown>(args: readonly string[]): Promise<T> {
    const { stdout } = await this.run(['get', ...args, '-o', 'json']);
    return JSON.parse(stdout) as T;
  }
}
