import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './driver-process.js';

/** Path of the csi-sanity binary, installed on first use by scripts/install-tools.sh (cached by version). */
export function csiSanityBinary(): string {
  const dir = execFileSync(path.join(REPO_ROOT, 'scripts', 'install-tools.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 }).trim();
  return path.join(dir, 'csi-sanity');
}
