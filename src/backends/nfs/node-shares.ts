import type { Capability, NodeSource, OpContext, ShareNodeSource } from '../backend.js';
import { DomainError } from '../../errors.js';
import type { MountEntry } from '../../node/mount-table.js';
import { removeTarget } from '../../node/paths.js';
import {
  bindShare,
  isShareEntry,
  lookupMount,
  mountShare,
  rootRemoved,
  checkShare,
  sharePathOf,
  shareStats,
  unmountShare,
  type ShareStats,
} from './share-mounts.js';
import { normalizeSharePath } from './share-ref.js';

/**
 * The node plugin's work for share volumes (NFS): stage mounts the volume's directory of the export once per node,
 * publish bind-mounts that into each pod, and the reverse. Every step looks at the mount table first (so it is
 * safe to repeat) and never touches a path on the share from the driver's own threads (see share-mounts.ts).
 */

/** Bounds for calls that reach a share through a path alone (unpublish, unstage, stats: the CO names no volume source). */
export const SHARE_UNMOUNT_TIMEOUT_MS = 30_000;
export const SHARE_STATS_TIMEOUT_MS = 15_000;

const READ_ONLY_MODES: ReadonlySet<Capability['accessMode']> = new Set(['SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY']);

/** Options by key, in order; a later `key=value` (or ro/rw) replaces an earlier one. */
export function mergeMountOptions(...lists: readonly (readonly string[])[]): string[] {
  const byKey = new Map<string, string>();
  for (const option of lists.flat()) {
    if (option === '' || /[\s,]/.test(option)) throw new DomainError('invalid-argument', `mount option ${JSON.stringify(option)} is empty or contains a space or comma`);
    const key = option === 'ro' || option === 'rw' ? 'ro/rw' : (option.split('=')[0] ?? option);
    byKey.delete(key);
    byKey.set(key, option);
  }
  return [...byKey.values()];
}

/** The share mounted at `p`, if a share is mounted there (found without touching `p`). */
export async function shareMountAt(p: string, ctx: OpContext): Promise<MountEntry | undefined> {
  const entry = await lookupMount(p, { signal: ctx.signal, logger: ctx.log });
  return entry && isShareEntry(entry) ? entry : undefined;
}

/** Whether the share mounted as `entry` is the directory `source` names (the volume's own share). */
export function isShareOf(entry: MountEntry, source: NodeSource | undefined): boolean {
  return source?.kind === 'share' && sharePathOf(entry) === normalizeSharePath(source.source);
}

export interface StageShareInput {
  volumeId: string;
  source: ShareNodeSource;
  stagingPath: string;
  capability: Capability;
}

export async function stageShare(input: StageShareInput, ctx: OpContext): Promise<void> {
  const { source, stagingPath } = input;
  if (input.capability.accessType !== 'mount') throw new DomainError('invalid-argument', `volume ${input.volumeId} is a directory of an NFS export: it cannot be used as a raw block device`);
  const call = { signal: ctx.signal, logger: ctx.log };
  const expected = normalizeSharePath(source.source);
  const existing = await lookupMount(stagingPath, call);
  if (existing) {
    if (!isShareEntry(existing) || sharePathOf(existing) !== expected) {
      throw new DomainError('already-exists', `${stagingPath} holds ${existing.source} (${existing.fsType}), not volume ${input.volumeId} (${source.source})`);
    }
    const probe = await checkShare(existing, { ...call, timeoutMs: source.operationTimeoutMs });
    if (probe.ok) return;
    // Stale (the server lost the directory, or stopped answering): take it off and mount afresh.
    ctx.log.warn({ volumeId: input.volumeId, stagingPath, reason: probe.reason }, 'staged share is stale; mounting it again');
    await unmountShare(stagingPath, { ...call, timeoutMs: source.operationTimeoutMs });
  }
  const options = mergeMountOptions(source.mountOptions, input.capability.mountFlags, READ_ONLY_MODES.has(input.capability.accessMode) ? ['ro'] : []);
  await mountShare(source.source, stagingPath, { ...call, fsType: source.fsType, options, timeoutMs: source.mountTimeoutMs });
  const mounted = await lookupMount(stagingPath, call);
  if (!mounted || sharePathOf(mounted) !== expected) {
    await unmountShare(stagingPath, { ...call, timeoutMs: source.operationTimeoutMs }).catch(() => undefined);
    throw new DomainError('internal', `mounting ${source.source} at ${stagingPath} left ${mounted ? sharePathOf(mounted) : 'nothing'} there`);
  }
}

export interface PublishShareInput {
  volumeId: string;
  source: ShareNodeSource;
  stagingPath: string;
  targetPath: string;
  readOnly: boolean;
}

export async function publishShare(input: PublishShareInput, ctx: OpContext): Promise<void> {
  const call = { signal: ctx.signal, logger: ctx.log };
  const staged = await lookupMount(input.stagingPath, call);
  if (!staged || !isShareEntry(staged) || sharePathOf(staged) !== normalizeSharePath(input.source.source)) {
    throw new DomainError('failed-precondition', `volume ${input.volumeId} is not staged at ${input.stagingPath}: NodeStageVolume first`);
  }
  const existing = await lookupMount(input.targetPath, call);
  if (existing) {
    if (existing.majorMinor !== staged.majorMinor || existing.root !== staged.root) {
      throw new DomainError('already-exists', `${input.targetPath} holds another volume (${existing.source}), not ${input.volumeId}`);
    }
    const readOnly = existing.options.includes('ro');
    if (readOnly !== input.readOnly) {
      throw new DomainError('already-exists', `volume ${input.volumeId} is published at ${input.targetPath} ${readOnly ? 'read-only' : 'read-write'} already`);
    }
    return;
  }
  await bindShare(input.stagingPath, input.targetPath, { ...call, readOnly: input.readOnly, timeoutMs: input.source.operationTimeoutMs });
}

/** Unmounts a publish target (and removes the directory publish made) or a staging path; stale mounts lazily. */
export async function releaseShare(p: string, removeDir: boolean, ctx: OpContext): Promise<void> {
  await unmountShare(p, { signal: ctx.signal, logger: ctx.log, timeoutMs: SHARE_UNMOUNT_TIMEOUT_MS });
  if (removeDir) await removeTarget(p, { logger: ctx.log, signal: ctx.signal });
}

export interface ShareUsage {
  stats: ShareStats | undefined;
  condition: { abnormal: boolean; message: string };
}

/** statfs of a share mounted at `p`, in a child process; a share that does not answer is an abnormal condition. */
export async function shareUsage(p: string, entry: MountEntry, ctx: OpContext): Promise<ShareUsage> {
  if (rootRemoved(entry)) {
    return { stats: undefined, condition: { abnormal: true, message: `the directory of ${p} was removed on the server (${entry.source})` } };
  }
  try {
    const stats = await shareStats(p, { signal: ctx.signal, logger: ctx.log, timeoutMs: SHARE_STATS_TIMEOUT_MS });
    const ro = entry.options.includes('ro') || entry.superOptions.includes('ro');
    return { stats, condition: { abnormal: false, message: `${p} is mounted from ${sharePathOf(entry)} ${ro ? 'read-only' : 'read-write'} and answers` } };
  } catch (err) {
    if (err instanceof DomainError && (err.kind === 'unavailable' || err.kind === 'internal')) {
      return { stats: undefined, condition: { abnormal: true, message: `${p} (${sharePathOf(entry)}) does not answer: ${err.message}` } };
    }
    throw err;
  }
}
