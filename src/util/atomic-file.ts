import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Replaces `file` with `text` so that a crash at any moment leaves either the old content or the new, never a
 * mixture: write a temporary file, fsync it, rename it over, fsync the directory (the rename lives there).
 * `durable: false` leaves out both fsyncs: still old-or-new after a crash, but possibly the old, for a change whose
 * loss a restart survives (each fsync costs milliseconds on a busy disk).
 */
export async function writeFileAtomic(file: string, text: string, mode = 0o600, options: { durable?: boolean } = {}): Promise<void> {
  const durable = options.durable ?? true;
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  // Unique per writer: two processes (or two hosts sharing an export) may write the same file at once.
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(text, 'utf8');
    if (durable) await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  if (!durable) return;
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/** JSON for a state file: bigints as decimal strings. */
export function stateJson(value: unknown): string {
  return `${JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? inner.toString() : inner), 2)}\n`;
}
