import { lstat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { DomainError, errorMessage } from '../errors.js';
import { errnoCode, requireAbsolutePath } from './common.js';

/**
 * Paths a caller hands the node plugin (staging, target and volume paths) are the kubelet's, under its own directory.
 * Nothing of a volume belongs in the kernel's pseudo-filesystems: there a recursive mkdir never returns (Node's
 * mkdir -p loops on /proc/self/fd/N), and a bind mount over one would hide the host's view of itself. So such a path
 * is refused before any step touches it, by name and by what it really is (a symlink or a bind mount of /proc
 * elsewhere), and every step on it is bounded by the call's deadline.
 */
const REFUSED_ROOTS = ['/proc', '/sys', '/dev'];

/** statfs f_type of the pseudo-filesystems (linux/magic.h). devtmpfs reports tmpfs's, so /dev is refused by name. */
const PSEUDO_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
]);

/** A bound for one step when the caller set no deadline. */
export const STEP_TIMEOUT_MS = 60_000;

/**
 * One filesystem step, given up (deadline-exceeded or aborted) when the call's signal fires or the step outlasts
 * `timeoutMs`: the caller gets its answer and its in-flight key back even if the kernel never answers the step.
 */
export async function bounded<T>(step: Promise<T>, signal: AbortSignal | undefined, what: string, timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const limit = new Promise<never>((_, reject) => {
    const fail = (reason: unknown): void => reject(reason instanceof DomainError ? reason : new DomainError('aborted', `${what}: cancelled`, { cause: reason }));
    if (signal?.aborted) return fail(signal.reason);
    onAbort = () => fail(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(() => reject(new DomainError('deadline-exceeded', `${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([step, limit]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    // The abandoned step may still fail later: that failure is no one's to handle.
    step.catch(() => undefined);
  }
}

function under(p: string, root: string): boolean {
  return p === root || p.startsWith(root === '/' ? '/' : `${root}/`);
}

function refuse(what: string, p: string, why: string): never {
  throw new DomainError('invalid-argument', `${what} ${p} ${why}: volumes are never staged or published there`);
}

/** Linux's NAME_MAX and PATH_MAX (bytes): a longer component or path would fail in the kernel (ENAMETOOLONG). */
export const NAME_MAX_BYTES = 255;
export const PATH_MAX_BYTES = 4095;

/** A root without a trailing slash ('/' stays '/'). */
function trimRoot(root: string): string {
  return root.length > 1 ? root.replace(/\/+$/, '') : root;
}

/**
 * Validates a path from a request: absolute, no NUL or newline, no `.` or `..` component and no component longer than
 * the kernel takes, neither named nor really under /proc, /sys or /dev, inside one of `roots` (the kubelet's
 * directory: node.kubeletRoots), and with no symlink and no pseudo-filesystem at or below the root (every existing
 * prefix is looked at with lstat, so a symlink is never followed to decide). The roots themselves are the operator's
 * and may be symlinks. Answers the path normalised (doubled and trailing slashes gone; the kubelet sends none).
 */
export async function checkCallerPath(p: string, what: string, roots: readonly string[], signal: AbortSignal | undefined): Promise<string> {
  requireAbsolutePath(p, what);
  const normal = path.resolve(p);
  for (const root of REFUSED_ROOTS) if (under(normal, root)) refuse(what, p, `is under ${root}`);
  if (Buffer.byteLength(p) > PATH_MAX_BYTES) refuse(what, p, `is ${Buffer.byteLength(p)} bytes long, over PATH_MAX (${PATH_MAX_BYTES})`);
  const parts = p.split('/').filter((x) => x !== '');
  for (const part of parts) {
    if (part === '..' || part === '.') refuse(what, p, `has a "${part}" component`);
    const size = Buffer.byteLength(part);
    if (size > NAME_MAX_BYTES) refuse(what, p, `has a component of ${size} bytes, over NAME_MAX (${NAME_MAX_BYTES})`);
  }
  const root = roots.map(trimRoot).find((r) => under(normal, r));
  if (root === undefined) refuse(what, p, `is not under the kubelet root (${roots.join(', ')})`);
  // A mount over the kubelet's own directory would hide everything it keeps there.
  if (normal === root) refuse(what, p, 'is the kubelet root itself');
  // From the root down: a symlink or a mount of a pseudo-filesystem on the way is caught where it is.
  let prefix = root === '/' ? '' : root;
  const below = normal.slice(root === '/' ? 1 : root.length + 1).split('/');
  for (const part of ['', ...below]) {
    if (part !== '') prefix = `${prefix}/${part}`;
    const at = prefix === '' ? '/' : prefix;
    let type: number;
    try {
      const info = await bounded(lstat(at), signal, `${what}: lstat ${at}`);
      if (info.isSymbolicLink() && part !== '') refuse(what, p, `has a symlink at ${at}`);
      type = Number((await bounded(statfs(at), signal, `${what}: statfs ${at}`)).type);
    } catch (err) {
      if (err instanceof DomainError) throw err;
      // Not there (yet), or a dead mount (EIO, ENOTCONN): nothing deeper can be looked at; the steps that follow
      // create it or report the dead mount in their own terms.
      if (errnoCode(err) === undefined) throw new DomainError('internal', `${what} ${p}: ${errorMessage(err)}`, { cause: err });
      break;
    }
    const kind = PSEUDO_FILESYSTEMS.get(type);
    if (kind !== undefined) refuse(what, p, `is on a ${kind} filesystem`);
  }
  // One spelling per path (no doubled or trailing slash), so that the records' keys and the comparisons of paths hold.
  return normal;
}
