/**
 * What the controller asks of an export, and the answers: the protocol between ShareFs (in the driver) and the
 * share worker (a child process that does the file system calls, so that a stalled server blocks it, not us).
 * Paths are relative to the export's mount point.
 */
export type ShareOp =
  | { op: 'stat'; path: string }
  | { op: 'read'; path: string }
  /** Replaces the file atomically (temporary file, fsync, rename); parents are created. */
  | { op: 'write'; path: string; text: string }
  | { op: 'mkdir'; path: string; mode?: number; parents?: boolean }
  /** chmod, explicitly: mkdir's mode is narrowed by the umask. */
  | { op: 'chmod'; path: string; mode: number }
  /** rename(2), refused (EEXIST) when `to` exists; `parents` makes `to`'s parent first. */
  | { op: 'rename'; from: string; to: string; parents?: boolean }
  /** rm -rf; an absent path is fine. */
  | { op: 'remove'; path: string }
  /** rmdir of an empty directory; absent or not empty are both fine (nothing is removed then). */
  | { op: 'rmdirIfEmpty'; path: string }
  /** Entry names of a directory (with the text of each regular file when `read`); an absent directory is empty. */
  | { op: 'list'; path: string; read?: boolean }
  | { op: 'statfs'; path: string };

export interface StatValue {
  type: 'dir' | 'file' | 'other';
  size: string;
  mtimeMs: number;
}

export interface StatfsValue {
  bsize: string;
  blocks: string;
  bfree: string;
  bavail: string;
  files: string;
  ffree: string;
}

export interface ListEntry {
  name: string;
  text?: string;
}

export type ShareValue = StatValue | StatfsValue | ListEntry[] | string | null | true;

export type ShareResult = { ok: true; value: ShareValue } | { ok: false; code: string; message: string };

export interface ShareRequest {
  root: string;
  ops: ShareOp[];
}
