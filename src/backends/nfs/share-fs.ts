import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DomainError, errorMessage } from '../../errors.js';
import { exec, ExecError } from '../../util/exec.js';
import type { Logger } from '../../util/log.js';
import type { OpContext } from '../backend.js';
import { asUnavailable, lookupMount, mountShare, probeShare, sharePathOf, unmountShare } from './share-mounts.js';
import type { ListEntry, ShareOp, ShareResult, ShareValue, StatValue } from './share-protocol.js';
import { keyOf, mountSource, normalizeSharePath, shareLabel, type ShareRef } from './share-ref.js';

/** The compiled worker beside this module (dist/backends/nfs/share-worker.js). */
const WORKER = fileURLToPath(new URL('./share-worker.js', import.meta.url));

export interface ShareTimeouts {
  mountMs: number;
  operationMs: number;
  copyMs: number;
}

/**
 * Exports mounted by this process in its own working directory, one mount point per export, each mounted on first
 * use (under a timeout) and unmounted on close. The controller works on volumes through these mounts; a node plugin
 * uses one only to register itself.
 */
export class ShareMounts {
  private readonly pending = new Map<string, Promise<string>>();
  private readonly used = new Map<string, ShareRef>();

  constructor(
    private readonly workDir: string,
    private readonly mountOptions: readonly string[],
    readonly timeouts: ShareTimeouts,
    private readonly log: Logger,
  ) {}

  mountPoint(ref: ShareRef): string {
    return path.join(this.workDir, `${ref.server.replace(/[^A-Za-z0-9.-]/g, '_')}-${keyOf(shareLabel(ref)).slice(0, 12)}`);
  }

  /** Exports this process has mounted (for listings that cover every export in use). */
  get shares(): ShareRef[] {
    return [...this.used.values()];
  }

  /** The mount point of the export, mounted now when it is not. */
  async root(ref: ShareRef, ctx: OpContext): Promise<string> {
    const label = shareLabel(ref);
    let pending = this.pending.get(label);
    if (!pending) {
      pending = this.ensureMounted(ref, ctx);
      this.pending.set(label, pending);
      // Concurrent callers share one mount attempt; the next call looks at the mount table again.
      void pending.then(
        () => this.pending.delete(label),
        () => this.pending.delete(label),
      );
    }
    return pending;
  }

  private async ensureMounted(ref: ShareRef, ctx: OpContext): Promise<string> {
    const target = this.mountPoint(ref);
    const call = { signal: ctx.signal, logger: ctx.log };
    const expected = normalizeSharePath(mountSource(ref));
    const entry = await lookupMount(target, call);
    if (entry) {
      if (sharePathOf(entry) !== expected) {
        throw new DomainError('internal', `${target} holds ${sharePathOf(entry)}, not ${expected}; Ferry's working directory is not Ferry's alone`);
      }
      this.used.set(shareLabel(ref), ref);
      return target;
    }
    await mountShare(mountSource(ref), target, { ...call, options: this.mountOptions, timeoutMs: this.timeouts.mountMs });
    this.used.set(shareLabel(ref), ref);
    this.log.info({ share: expected, mountPoint: target }, 'export mounted');
    return target;
  }

  /** Detaches an export that stopped answering (or answered ESTALE): the next call mounts it afresh. */
  async reset(ref: ShareRef, ctx: OpContext): Promise<void> {
    await unmountShare(this.mountPoint(ref), { signal: ctx.signal, logger: ctx.log, timeoutMs: this.timeouts.operationMs }).catch((err: unknown) => {
      this.log.error({ share: shareLabel(ref), err: errorMessage(err) }, 'could not detach an export that does not answer');
    });
  }

  /** Whether every export mounted here answers a stat in time. */
  async check(signal: AbortSignal): Promise<void> {
    for (const ref of this.used.values()) {
      const target = this.mountPoint(ref);
      if (!(await lookupMount(target, { signal }))) continue;
      const probe = await probeShare(target, { signal, timeoutMs: this.timeouts.operationMs });
      if (!probe.ok) throw new DomainError('unavailable', `export ${shareLabel(ref)} does not answer: ${probe.reason}`);
    }
  }

  async close(): Promise<void> {
    for (const ref of this.used.values()) {
      try {
        await unmountShare(this.mountPoint(ref), { logger: this.log, timeoutMs: this.timeouts.operationMs });
      } catch (err) {
        this.log.error({ share: shareLabel(ref), err: errorMessage(err) }, 'could not unmount an export on close');
      }
    }
    this.used.clear();
  }
}

/** How the worker's errno codes read in domain terms. */
export function failure(result: Extract<ShareResult, { ok: false }>, what: string): DomainError {
  const message = `${what}: ${result.message}`;
  switch (result.code) {
    case 'ENOENT':
      return new DomainError('not-found', message);
    case 'EEXIST':
    case 'ENOTEMPTY':
      return new DomainError('already-exists', message);
    case 'ENOSPC':
    case 'EDQUOT':
      return new DomainError('no-space', message);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      // Typically root_squash on the export: the controller must be able to create directories as root.
      return new DomainError('failed-precondition', `${message} (the export must allow the controller to write as root: no_root_squash)`);
    case 'ESTALE':
    case 'EIO':
    case 'ENOTCONN':
    case 'ETIMEDOUT':
      return new DomainError('unavailable', message);
    default:
      return new DomainError('internal', message);
  }
}

const RESETTING = new Set(['ESTALE', 'ENOTCONN', 'EIO']);

/**
 * File operations on an export, each batch run by the share worker in a child process under the operation timeout.
 * A timeout or a stale handle detaches the export's mount, so that the next call mounts it afresh.
 */
export class ShareFs {
  constructor(readonly mounts: ShareMounts) {}

  get timeouts(): ShareTimeouts {
    return this.mounts.timeouts;
  }

  /** Runs `ops` in order, stopping at the first failure; answers one result per op that ran. */
  async run(ref: ShareRef, ops: readonly ShareOp[], ctx: OpContext): Promise<ShareResult[]> {
    if (!existsSync(WORKER)) throw new DomainError('internal', `the share worker ${WORKER} is missing (run the built driver)`);
    const root = await this.mounts.root(ref, ctx);
    let stdout: string;
    try {
      ({ stdout } = await exec(process.execPath, [WORKER], {
        input: JSON.stringify({ root, ops }),
        timeoutMs: this.timeouts.operationMs,
        signal: ctx.signal,
        logger: ctx.log,
      }));
    } catch (err) {
      if (err instanceof ExecError && err.kind === 'deadline-exceeded') await this.mounts.reset(ref, ctx);
      throw asUnavailable(err, `${ops.map((o) => o.op).join(',')} on ${shareLabel(ref)}`, this.timeouts.operationMs);
    }
    let results: ShareResult[];
    try {
      results = JSON.parse(stdout) as ShareResult[];
    } catch (err) {
      throw new DomainError('internal', `the share worker answered ${JSON.stringify(stdout.slice(0, 200))}`, { cause: err });
    }
    const failed = results.find((r): r is Extract<ShareResult, { ok: false }> => !r.ok);
    if (failed && RESETTING.has(failed.code)) await this.mounts.reset(ref, ctx);
    return results;
  }

  /** Like run, but every op must succeed; answers their values. */
  async must(ref: ShareRef, ops: readonly ShareOp[], ctx: OpContext): Promise<ShareValue[]> {
    const results = await this.run(ref, ops, ctx);
    const values: ShareValue[] = [];
    results.forEach((r, i) => {
      if (!r.ok) throw failure(r, describeOp(ops[i], ref));
      values.push(r.value);
    });
    return values;
  }

  async stat(ref: ShareRef, p: string, ctx: OpContext): Promise<StatValue | null> {
    const [value] = await this.must(ref, [{ op: 'stat', path: p }], ctx);
    return (value as StatValue | null | undefined) ?? null;
  }

  async read(ref: ShareRef, p: string, ctx: OpContext): Promise<string | null> {
    const [value] = await this.must(ref, [{ op: 'read', path: p }], ctx);
    return typeof value === 'string' ? value : null;
  }

  async list(ref: ShareRef, p: string, read: boolean, ctx: OpContext): Promise<ListEntry[]> {
    const [value] = await this.must(ref, [{ op: 'list', path: p, read }], ctx);
    return Array.isArray(value) ? value : [];
  }

  /** A long command (cp, tar, rm) in the export's mount, under the copy timeout and the caller's signal. */
  async command(ref: ShareRef, file: string, args: (root: string) => string[], signal: AbortSignal, log: Logger, okExitCodes: number[] = []): Promise<void> {
    const root = await this.mounts.root(ref, { signal, log });
    try {
      await exec(file, args(root), { timeoutMs: this.timeouts.copyMs, signal, logger: log, okExitCodes, env: { LC_ALL: 'C' } });
    } catch (err) {
      throw asUnavailable(err, `${file} on ${shareLabel(ref)}`, this.timeouts.copyMs);
    }
  }
}

export function describeOp(op: ShareOp | undefined, ref: ShareRef): string {
  if (!op) return `on ${shareLabel(ref)}`;
  return op.op === 'rename' ? `rename ${op.from} to ${op.to} on ${shareLabel(ref)}` : `${op.op} ${op.path} on ${shareLabel(ref)}`;
}
