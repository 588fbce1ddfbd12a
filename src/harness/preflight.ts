import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';

/**
 * What a pool and its node plugins need from the machine, checked before anything starts so that a missing piece is
 * one clear sentence instead of a failed RPC with a losetup error inside.
 */
const TOOLS = ['losetup', 'mount', 'umount', 'blkid', 'mkfs.ext4', 'fallocate', 'cp'];

async function onPath(program: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const ok = await access(path.join(dir, program), constants.X_OK).then(
      () => true,
      () => false,
    );
    if (ok) return true;
  }
  return false;
}

/** Problems that stop a pool-backed run on this machine; empty when there are none. */
export async function preflightProblems(what: string, options: { tls: boolean; fsType?: string }): Promise<string[]> {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push(`${what} needs Linux (loop devices and mounts); this is ${process.platform}`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    problems.push(`${what} must run as root: the pool attaches loop devices and the node plugins format and mount them (run it with sudo)`);
  }
  const tools = [...TOOLS, ...(options.tls ? ['openssl'] : []), ...(options.fsType && options.fsType !== 'ext4' ? [`mkfs.${options.fsType}`] : [])];
  const missing: string[] = [];
  for (const tool of tools) if (!(await onPath(tool))) missing.push(tool);
  if (missing.length > 0) problems.push(`${what} needs ${missing.join(', ')} on PATH (util-linux, e2fsprogs${options.tls ? ', openssl' : ''})`);
  return problems;
}
