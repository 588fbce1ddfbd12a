/**
 * The share worker: runs a short sequence of file system calls on a mounted export and prints the results as JSON.
 * It is a child process on purpose: when the NFS server stalls, this process blocks in the kernel and is killed by
 * the driver's timeout, while the driver's own threads stay free. It stops at the first failure.
 *
 * stdin: ShareRequest (JSON); stdout: ShareResult[] (JSON).
 */
import { chmod, lstat, mkdir, readFile, readdir, rename, rm, rmdir, statfs } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { ListEntry, ShareOp, ShareRequest, ShareResult, ShareValue } from './share-protocol.js';

function codeOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'EUNKNOWN';
}

function inside(root: string, rel: string): string {
  if (path.isAbsolute(rel) || rel.split('/').some((p) => p === '..')) throw Object.assign(new Error(`path ${rel} leaves the export`), { code: 'EINVAL' });
  return path.join(root, rel);
}

async function orNull<T>(work: Promise<T>): Promise<T | null> {
  try {
    return await work;
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return null;
    throw err;
  }
}

async function run(root: string, op: ShareOp): Promise<ShareValue> {
  switch (op.op) {
    case 'stat': {
      const st = await orNull(lstat(inside(root, op.path), { bigint: true }));
      if (!st) return null;
      return { type: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other', size: st.size.toString(), mtimeMs: Number(st.mtimeMs) };
    }
    case 'read':
      return orNull(readFile(inside(root, op.path), 'utf8'));
    case 'write':
      await writeFileAtomic(inside(root, op.path), op.text, 0o644);
      return true;
    case 'mkdir':
      await mkdir(inside(root, op.path), { recursive: op.parents === true, mode: op.mode ?? 0o755 });
      return true;
    case 'chmod':
      await chmod(inside(root, op.path), op.mode);
      return true;
    case 'rename': {
      const to = inside(root, op.to);
      // rename(2) silently replaces an empty directory; a volume's directory must never be replaced.
      if (await orNull(lstat(to))) throw Object.assign(new Error(`${op.to} exists`), { code: 'EEXIST' });
      if (op.parents) await mkdir(path.dirname(to), { recursive: true, mode: 0o755 });
      await rename(inside(root, op.from), to);
      return true;
    }
    case 'remove':
      await rm(inside(root, op.path), { recursive: true, force: true });
      return true;
    case 'rmdirIfEmpty':
      try {
        await rmdir(inside(root, op.path));
      } catch (err) {
        if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(codeOf(err))) throw err;
      }
      return true;
    case 'list': {
      const dir = inside(root, op.path);
      const names = (await orNull(readdir(dir))) ?? [];
      const entries: ListEntry[] = [];
      for (const name of names.sort()) {
        if (!op.read) {
          entries.push({ name });
          continue;
        }
        // Entries removed between readdir and read, and directories, come back without text.
        const text = await readFile(path.join(dir, name), 'utf8').catch(() => undefined);
        entries.push(text === undefined ? { name } : { name, text });
      }
      return entries;
    }
    case 'statfs': {
      const st = await statfs(inside(root, op.path), { bigint: true });
      return {
        bsize: st.bsize.toString(),
        blocks: st.blocks.toString(),
        bfree: st.bfree.toString(),
        bavail: st.bavail.toString(),
        files: st.files.toString(),
        ffree: st.ffree.toString(),
      };
    }
  }
}

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ShareRequest;
  const results: ShareResult[] = [];
  for (const op of request.ops) {
    try {
      results.push({ ok: true, value: await run(request.root, op) });
    } catch (err) {
      results.push({ ok: false, code: codeOf(err), message: err instanceof Error ? err.message : String(err) });
      break;
    }
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err: unknown) => {
  process.stderr.write(`share worker: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
