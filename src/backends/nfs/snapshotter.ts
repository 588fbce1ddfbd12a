import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DomainError, errorMessage, isDomainError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import type { OpContext, SnapshotRecord } from '../backend.js';
import type { Jobs } from './jobs.js';
import { layout, parseRecord, recordText, snapshotMetaSchema, type SnapshotMeta } from './layout.js';
import type { Provisioner } from './provisioner.js';
import type { ShareFs } from './share-fs.js';
import type { ListEntry, ShareOp, StatValue } from './share-protocol.js';
import { formatSnapshotId, keyOf, parseSnapshotId, parseVolumeId, shareLabel, type SnapshotRef, type VolumeRef } from './share-ref.js';

function snapshotRecord(ref: SnapshotRef, meta: SnapshotMeta): SnapshotRecord {
  return { id: formatSnapshotId(ref), sourceVolumeId: meta.sourceVolumeId, sizeBytes: meta.sizeBytes, createdAt: meta.createdAt, readyToUse: true };
}

/**
 * Snapshots: a gzip-compressed tar archive of the volume's directory, kept on the same export under
 * .ferry/snapshots, named after the snapshot's CO name. The archive is written in .ferry/tmp and renamed into place
 * whole; its record follows. Files are read one by one while the volume may be in use: quiesce writers first for
 * an archive that is consistent across files.
 */
export class Snapshotter {
  constructor(
    private readonly fs: ShareFs,
    private readonly jobs: Jobs,
    private readonly volumes: Provisioner,
  ) {}

  async create(name: string, sourceVolumeId: string, ctx: OpContext): Promise<SnapshotRecord> {
    let source: VolumeRef;
    try {
      source = parseVolumeId(sourceVolumeId);
    } catch {
      throw new DomainError('not-found', `source volume ${sourceVolumeId} does not exist`);
    }
    const volume = await this.volumes.getVolume(sourceVolumeId, ctx);
    const ref: SnapshotRef = { server: source.server, share: source.share, key: keyOf(name) };
    const existing = await this.read(ref, ctx);
    if (existing) return this.adopt(ref, existing, name, sourceVolumeId);

    const meta: Omit<SnapshotMeta, 'archiveBytes'> = {
      version: 1,
      name,
      sourceVolumeId,
      sizeBytes: volume.capacityBytes,
      createdAt: Math.floor(Date.now() / 1000),
    };
    await this.jobs.run(`snapshot/${formatSnapshotId(ref)}`, (signal) => this.archive(ref, source, meta, signal, ctx.log), ctx.signal);
    const made = await this.read(ref, ctx);
    if (!made) throw new DomainError('internal', `snapshot ${name} vanished right after it was taken`);
    return this.adopt(ref, made, name, sourceVolumeId);
  }

  async delete(snapshotId: string, ctx: OpContext): Promise<void> {
    let ref: SnapshotRef;
    try {
      ref = parseSnapshotId(snapshotId);
    } catch (err) {
      if (isDomainError(err, 'not-found')) return;
      throw err;
    }
    // The record first: a snapshot without it is gone for the CO even if removing the archive fails halfway.
    await this.fs.must(
      ref,
      [
        { op: 'remove', path: layout.snapshot(ref.key) },
        { op: 'remove', path: layout.archive(ref.key) },
      ],
      ctx,
    );
    ctx.log.info({ snapshotId }, 'snapshot deleted');
  }

  async list(ctx: OpContext): Promise<SnapshotRecord[]> {
    const records: SnapshotRecord[] = [];
    for (const share of this.volumes.sharesInUse()) {
      for (const entry of await this.fs.list(share, layout.snapshots, true, ctx)) {
        if (!entry.name.endsWith('.json')) continue;
        const meta = parseRecord(snapshotMetaSchema, entry.text);
        if (meta) records.push(snapshotRecord({ ...share, key: entry.name.slice(0, -'.json'.length) }, meta));
      }
    }
    return records;
  }

  private async read(ref: SnapshotRef, ctx: OpContext): Promise<SnapshotMeta | undefined> {
    return parseRecord(snapshotMetaSchema, await this.fs.read(ref, layout.snapshot(ref.key), ctx));
  }

  private adopt(ref: SnapshotRef, meta: SnapshotMeta, name: string, sourceVolumeId: string): SnapshotRecord {
    if (meta.name !== name || meta.sourceVolumeId !== sourceVolumeId) {
      throw new DomainError('already-exists', `snapshot "${name}" exists with another source volume (${meta.sourceVolumeId})`);
    }
    return snapshotRecord(ref, meta);
  }

  /** tar -czf into .ferry/tmp, then rename into place and write the record; on failure nothing is left. */
  private async archive(ref: SnapshotRef, source: VolumeRef, meta: Omit<SnapshotMeta, 'archiveBytes'>, signal: AbortSignal, log: Logger): Promise<void> {
    const ctx = { signal, log };
    const prefix = `snapshot-${ref.key}-`;
    const tmp = `${layout.tmp}/${prefix}${randomBytes(6).toString('hex')}.tar.gz`;
    const stale = (await this.fs.list(ref, layout.tmp, false, ctx)).filter((e: ListEntry) => e.name.startsWith(prefix));
    // An archive without a record is what an attempt that died between its last two steps left.
    const cleanup: ShareOp[] = [{ op: 'remove', path: layout.archive(ref.key) }, ...stale.map((e): ShareOp => ({ op: 'remove', path: `${layout.tmp}/${e.name}` }))];
    await this.fs.must(ref, [...cleanup, { op: 'mkdir', path: layout.tmp, parents: true }], ctx);
    let placed = false;
    try {
      // Exit 1 is GNU tar's "a file changed while it was read": the archive is whole, that file as tar saw it.
      await this.fs.command(ref, 'tar', (root) => ['--create', '--gzip', '--numeric-owner', '--file', path.join(root, tmp), '--directory', path.join(root, source.dir), '.'], signal, log, [1]);
      const [st] = (await this.fs.must(ref, [{ op: 'stat', path: tmp }], ctx)) as [StatValue | null];
      if (!st) throw new DomainError('internal', `the archive ${tmp} vanished after tar wrote it`);
      const full: SnapshotMeta = { ...meta, archiveBytes: BigInt(st.size) };
      placed = true;
      await this.fs.must(
        ref,
        [
          { op: 'rename', from: tmp, to: layout.archive(ref.key), parents: true },
          { op: 'write', path: layout.snapshot(ref.key), text: recordText(full) },
        ],
        ctx,
      );
      log.info({ snapshot: meta.name, share: shareLabel(ref), archiveBytes: st.size }, 'snapshot archived');
    } catch (err) {
      const undo: ShareOp[] = [{ op: 'remove', path: tmp }];
      if (placed) undo.push({ op: 'remove', path: layout.snapshot(ref.key) }, { op: 'remove', path: layout.archive(ref.key) });
      await this.fs.run(ref, undo, { signal: new AbortController().signal, log }).catch((e: unknown) => {
        log.error({ snapshot: meta.name, err: errorMessage(e) }, 'could not remove what a failed snapshot made');
      });
      throw err;
    }
  }
}
