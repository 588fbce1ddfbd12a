import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DomainError, errorMessage, isDomainError } from '../../errors.js';
import type { Logger } from '../../util/log.js';
import type { CapacityRange, CapacityRecord, CreateVolumeInput, ExpandResult, OpContext, VolumeRecord, VolumeSource } from '../backend.js';
import type { Jobs } from './jobs.js';
import { layout, parentsOf, parseRecord, publicationSchema, recordText, snapshotMetaSchema, volumeMetaSchema, type VolumeMeta } from './layout.js';
import { parseParameters, shareOf, type NfsDefaults } from './parameters.js';
import { describeOp, failure, type ShareFs } from './share-fs.js';
import { shareStats } from './share-mounts.js';
import type { ListEntry, ShareOp, ShareResult, StatValue } from './share-protocol.js';
import { formatVolumeId, keyOf, parseSnapshotId, parseVolumeId, sameShare, shareLabel, type ShareRef, type VolumeRef } from './share-ref.js';

/** What a new volume is filled from: an archive (snapshot) or another volume's directory (clone). */
type ResolvedSource =
  | { kind: 'snapshot'; id: string; ref: ShareRef; archive: string; sizeBytes: bigint }
  | { kind: 'volume'; id: string; ref: ShareRef; dir: string; sizeBytes: bigint };

/** The size to record for a capacity range: what was asked for (an export has no quota here). */
export function sizeFor(range: CapacityRange): bigint {
  if (range.requiredBytes < 0n || range.limitBytes < 0n) throw new DomainError('invalid-argument', 'capacity range values must not be negative');
  if (range.limitBytes > 0n && range.requiredBytes > range.limitBytes) {
    throw new DomainError('invalid-argument', `required_bytes ${range.requiredBytes} exceeds limit_bytes ${range.limitBytes}`);
  }
  return range.requiredBytes > 0n ? range.requiredBytes : range.limitBytes;
}

export function fitsRange(sizeBytes: bigint, range: CapacityRange): boolean {
  return sizeBytes >= range.requiredBytes && (range.limitBytes === 0n || sizeBytes <= range.limitBytes);
}

function sourceKey(source: VolumeSource | null | undefined): string {
  return source ? `${source.kind}:${source.id}` : 'none';
}

export function volumeRecord(ref: VolumeRef, meta: VolumeMeta, publications: readonly ListEntry[]): VolumeRecord {
  return {
    id: formatVolumeId(ref),
    capacityBytes: meta.capacityBytes,
    source: meta.source ?? undefined,
    publishedNodeIds: publications.map((p) => parseRecord(publicationSchema, p.text)?.nodeId).filter((n): n is string => n !== undefined),
    // An export is reachable from every node: no topology constraint.
    topology: [],
  };
}

interface Found {
  meta: VolumeMeta | undefined;
  dir: StatValue | null;
  publications: ListEntry[];
}

/** Whether the id's volume is there: its record (under the id's policy) and its directory. */
function exists(ref: VolumeRef, found: Found): found is Found & { meta: VolumeMeta; dir: StatValue } {
  return found.meta !== undefined && found.dir !== null && found.meta.onDelete === ref.onDelete;
}

function listed(result: ShareResult | undefined): ListEntry[] {
  return result?.ok && Array.isArray(result.value) ? result.value : [];
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function random(): string {
  return randomBytes(6).toString('hex');
}

/** The directory name given to an archived volume, beside where it was: archived-<name>-<UTC time>. */
export function archivedName(dir: string, at = stamp()): string {
  const parent = path.posix.dirname(dir);
  const name = `archived-${path.posix.basename(dir)}-${at}`;
  return parent === '.' ? name : `${parent}/${name}`;
}

/**
 * Volumes as directories of an export: create (empty, from a snapshot archive, or as a copy of another volume),
 * delete by the volume's policy, look up, list, expand (a recorded size) and the export's capacity.
 *
 * Nothing is half-made on the export: a new directory is built in .ferry/tmp and renamed into place only when
 * whole, with its record written just before; a failure removes what the attempt made.
 */
export class Provisioner {
  constructor(
    private readonly fs: ShareFs,
    private readonly jobs: Jobs,
    private readonly defaults: NfsDefaults,
  ) {}

  async createVolume(input: CreateVolumeInput, ctx: OpContext): Promise<VolumeRecord> {
    const params = parseParameters(input.parameters, input.name, this.defaults);
    const ref: VolumeRef = { server: params.server, share: params.share, dir: params.dir, onDelete: params.onDelete };
    // The id carries the directory: one over the id limit would make a volume no later call could name.
    const idBytes = Buffer.byteLength(formatVolumeId(ref));
    if (idBytes > this.defaults.maxLocalIdBytes) {
      throw new DomainError(
        'invalid-argument',
        `volume ${input.name}: its id would take ${idBytes} bytes (directory "${ref.dir.slice(0, 64)}${ref.dir.length > 64 ? '…' : ''}"), over the ${this.defaults.maxLocalIdBytes}-byte limit: use a shorter subDir`,
      );
    }
    const requested = sizeFor(input.capacity);

    const found = await this.lookup(ref, ctx);
    if (found.meta) {
      if (found.meta.name !== input.name) {
        throw new DomainError('already-exists', `directory ${ref.dir} on ${shareLabel(ref)} belongs to volume "${found.meta.name}"`);
      }
      // The same name again: a retry, or a conflicting request. A record without its directory is an attempt that
      // stopped between its last two steps, and is made again below.
      if (found.dir) return this.adopt(ref, found.meta, input);
    } else if (found.dir) {
      if (input.source) {
        throw new DomainError('already-exists', `directory ${ref.dir} exists on ${shareLabel(ref)}; a volume made from a ${input.source.kind} needs a new one`);
      }
      if (found.dir.type !== 'dir') throw new DomainError('already-exists', `${ref.dir} on ${shareLabel(ref)} exists and is not a directory`);
      // Data without a volume: left by a retained volume, or put there by hand. It becomes this volume, as in csi-driver-nfs.
      ctx.log.info({ dir: ref.dir, share: shareLabel(ref) }, 'taking over an existing directory as the new volume');
      const meta = this.meta(input, ref, requested, undefined);
      await this.fs.must(ref, [{ op: 'write', path: layout.volume(ref.dir), text: recordText(meta) }], ctx);
      return volumeRecord(ref, meta, []);
    }

    const source = input.source ? await this.resolveSource(input.source, ctx) : undefined;
    let size = requested;
    if (source && size < source.sizeBytes) {
      // A copy is never smaller than what it copies: take the source's size when the range allows it.
      if (input.capacity.limitBytes > 0n && source.sizeBytes > input.capacity.limitBytes) {
        throw new DomainError('out-of-range', `the ${source.kind} holds ${source.sizeBytes} bytes, more than limit_bytes ${input.capacity.limitBytes}`);
      }
      size = source.sizeBytes;
    }
    const meta = this.meta(input, ref, size, source);
    await this.jobs.run(`volume/${formatVolumeId(ref)}`, (signal) => this.make(ref, meta, params.mountPermissions, source, signal, ctx.log), ctx.signal);
    const made = await this.lookup(ref, ctx);
    if (!made.meta || !made.dir) throw new DomainError('internal', `volume ${input.name} vanished right after it was made`);
    if (made.meta.name !== input.name) throw new DomainError('already-exists', `directory ${ref.dir} on ${shareLabel(ref)} belongs to volume "${made.meta.name}"`);
    return this.adopt(ref, made.meta, input);
  }

  async deleteVolume(localId: string, ctx: OpContext): Promise<void> {
    const ref = this.parse(localId);
    if (!ref) return;
    const [metaText, publications] = await this.fs.must(
      ref,
      [
        { op: 'read', path: layout.volume(ref.dir) },
        { op: 'list', path: layout.publicationsOf(ref.dir), read: true },
      ],
      ctx,
    );
    const meta = parseRecord(volumeMetaSchema, metaText as string | null);
    // No record: gone already. A directory Ferry has no record of is never touched; nor is one under another policy
    // (the id is not this volume's).
    if (!meta || meta.onDelete !== ref.onDelete) return;
    const nodes = volumeRecord(ref, meta, publications as ListEntry[]).publishedNodeIds;
    if (nodes.length > 0) throw new DomainError('failed-precondition', `volume ${localId} is still published to ${nodes.join(', ')}; unpublish it first`);
    const forget: ShareOp[] = [
      { op: 'remove', path: layout.volume(ref.dir) },
      { op: 'remove', path: layout.publicationsOf(ref.dir) },
    ];

    switch (ref.onDelete) {
      case 'retain':
        await this.fs.must(ref, forget, ctx);
        ctx.log.info({ volumeId: localId, dir: ref.dir }, 'volume deleted; its directory is retained');
        return;
      case 'archive': {
        const archived = archivedName(ref.dir);
        await this.moveAway(ref, archived, ctx);
        await this.fs.must(ref, forget, ctx);
        ctx.log.info({ volumeId: localId, dir: ref.dir, archived }, 'volume deleted; its directory is archived');
        return;
      }
      case 'delete': {
        const trash = `${layout.trash}/${keyOf(ref.dir)}-${random()}`;
        // A rename is atomic and quick: the volume is gone at once, its data is removed after.
        await this.moveAway(ref, trash, ctx);
        await this.fs.must(ref, [...forget, ...parentsOf(ref.dir).map((p): ShareOp => ({ op: 'rmdirIfEmpty', path: p }))], ctx);
        await this.purgeTrash(ref, ctx);
        ctx.log.info({ volumeId: localId, dir: ref.dir }, 'volume deleted with its data');
        return;
      }
    }
  }

  async getVolume(localId: string, ctx: OpContext): Promise<VolumeRecord> {
    const ref = this.parse(localId);
    if (!ref) throw new DomainError('not-found', `volume ${localId} does not exist`);
    const found = await this.lookup(ref, ctx);
    if (!exists(ref, found)) throw new DomainError('not-found', `volume ${localId} does not exist`);
    return volumeRecord(ref, found.meta, found.publications);
  }

  /** The volumes of the backend's export and of every other export this controller has mounted. */
  async listVolumes(ctx: OpContext): Promise<VolumeRecord[]> {
    const records: VolumeRecord[] = [];
    for (const share of this.sharesInUse()) {
      const [metas, pubDirs] = (await this.fs.must(
        share,
        [
          { op: 'list', path: layout.volumes, read: true },
          { op: 'list', path: layout.publications },
        ],
        ctx,
      )) as [ListEntry[], ListEntry[]];
      const pubs = pubDirs.length === 0 ? [] : ((await this.fs.must(share, pubDirs.map((d): ShareOp => ({ op: 'list', path: `${layout.publications}/${d.name}`, read: true })), ctx)) as ListEntry[][]);
      const pubsByKey = new Map(pubDirs.map((d, i) => [d.name, pubs[i] ?? []]));
      for (const entry of metas) {
        const meta = parseRecord(volumeMetaSchema, entry.text);
        if (!meta) continue;
        const ref: VolumeRef = { ...share, dir: meta.dir, onDelete: meta.onDelete };
        records.push(volumeRecord(ref, meta, pubsByKey.get(keyOf(meta.dir)) ?? []));
      }
    }
    return records;
  }

  async expandVolume(localId: string, capacity: CapacityRange, ctx: OpContext): Promise<ExpandResult> {
    const ref = this.parse(localId);
    if (!ref) throw new DomainError('not-found', `volume ${localId} does not exist`);
    const found = await this.lookup(ref, ctx);
    if (!exists(ref, found)) throw new DomainError('not-found', `volume ${localId} does not exist`);
    const wanted = sizeFor(capacity);
    if (wanted <= found.meta.capacityBytes) return { capacityBytes: found.meta.capacityBytes };
    // No quota to change: the new size is recorded, and that is what the CO sees.
    const meta = { ...found.meta, capacityBytes: wanted };
    await this.fs.must(ref, [{ op: 'write', path: layout.volume(ref.dir), text: recordText(meta) }], ctx);
    ctx.log.info({ volumeId: localId, fromBytes: String(found.meta.capacityBytes), toBytes: String(wanted) }, 'volume size recorded');
    return { capacityBytes: wanted };
  }

  /** statfs of the export: what it still has room for. No volume has a maximum of its own. */
  async getCapacity(parameters: Readonly<Record<string, string>>, ctx: OpContext): Promise<CapacityRecord> {
    const share = shareOf(parameters, this.defaults);
    const root = await this.fs.mounts.root(share, ctx);
    const stats = await shareStats(root, { signal: ctx.signal, logger: ctx.log, timeoutMs: this.fs.timeouts.operationMs });
    return { availableBytes: stats.availableBytes, maximumVolumeBytes: undefined, minimumVolumeBytes: undefined };
  }

  /** The backend's export first, then any other this process has mounted (StorageClasses may name others). */
  sharesInUse(): ShareRef[] {
    const shares: ShareRef[] = [{ server: this.defaults.server, share: this.defaults.share }];
    for (const s of this.fs.mounts.shares) if (!shares.some((t) => sameShare(t, s))) shares.push(s);
    return shares;
  }

  /** The record, the directory and the publications of a volume, in one round trip. */
  async lookup(ref: VolumeRef, ctx: OpContext): Promise<Found> {
    const [metaText, dir, publications] = await this.fs.must(
      ref,
      [
        { op: 'read', path: layout.volume(ref.dir) },
        { op: 'stat', path: ref.dir },
        { op: 'list', path: layout.publicationsOf(ref.dir), read: true },
      ],
      ctx,
    );
    return { meta: parseRecord(volumeMetaSchema, metaText as string | null), dir: dir as StatValue | null, publications: publications as ListEntry[] };
  }

  private parse(localId: string): VolumeRef | undefined {
    try {
      return parseVolumeId(localId);
    } catch (err) {
      if (isDomainError(err, 'not-found')) return undefined;
      throw err;
    }
  }

  private meta(input: CreateVolumeInput, ref: VolumeRef, size: bigint, source: ResolvedSource | undefined): VolumeMeta {
    return {
      version: 1,
      name: input.name,
      dir: ref.dir,
      onDelete: ref.onDelete,
      capacityBytes: size,
      source: source ? { kind: source.kind, id: source.id } : null,
      createdAt: Math.floor(Date.now() / 1000),
    };
  }

  /** An existing volume of the requested name: the same request again, or a conflicting one. */
  private adopt(ref: VolumeRef, meta: VolumeMeta, input: CreateVolumeInput): VolumeRecord {
    const conflict = (why: string): DomainError => new DomainError('already-exists', `volume "${input.name}" exists with ${why}`);
    if (meta.onDelete !== ref.onDelete) throw conflict(`another onDelete policy (${meta.onDelete})`);
    if (!fitsRange(meta.capacityBytes, input.capacity)) throw conflict(`a size (${meta.capacityBytes} bytes) outside the requested range`);
    if (sourceKey(meta.source) !== sourceKey(input.source)) throw conflict(`another content source (${sourceKey(meta.source)})`);
    return volumeRecord(ref, meta, []);
  }

  private async resolveSource(source: VolumeSource, ctx: OpContext): Promise<ResolvedSource> {
    if (source.kind === 'snapshot') {
      const ref = parseSnapshotId(source.id);
      const [text, archive] = await this.fs.must(
        ref,
        [
          { op: 'read', path: layout.snapshot(ref.key) },
          { op: 'stat', path: layout.archive(ref.key) },
        ],
        ctx,
      );
      const meta = parseRecord(snapshotMetaSchema, text as string | null);
      if (!meta || !archive) throw new DomainError('not-found', `snapshot ${source.id} does not exist`);
      return { kind: 'snapshot', id: source.id, ref, archive: layout.archive(ref.key), sizeBytes: meta.sizeBytes };
    }
    const ref = parseVolumeId(source.id);
    const found = await this.lookup(ref, ctx);
    if (!exists(ref, found)) throw new DomainError('not-found', `volume ${source.id} does not exist`);
    return { kind: 'volume', id: source.id, ref, dir: ref.dir, sizeBytes: found.meta.capacityBytes };
  }

  /**
   * Builds the volume's directory in .ferry/tmp (empty, restored from an archive, or copied), writes its record and
   * renames it into place. On any failure everything this attempt made is removed again.
   */
  private async make(ref: VolumeRef, meta: VolumeMeta, mode: number, source: ResolvedSource | undefined, signal: AbortSignal, log: Logger): Promise<void> {
    const ctx = { signal, log };
    const prefix = `${keyOf(ref.dir)}-`;
    const tmp = `${layout.tmp}/${prefix}${random()}`;
    const start: ShareOp[] = [
      { op: 'list', path: layout.tmp },
      { op: 'mkdir', path: tmp, parents: true, mode: 0o755 },
    ];
    const finish: ShareOp[] = [
      ...(mode !== 0 ? [{ op: 'chmod', path: tmp, mode } as const] : []),
      { op: 'write', path: layout.volume(ref.dir), text: recordText(meta) },
      { op: 'rename', from: tmp, to: ref.dir, parents: true },
    ];
    const writeAt = finish.findIndex((o) => o.op === 'write');

    let recorded = false;
    let stale: ListEntry[] = [];
    try {
      if (!source) {
        // An empty volume is one round trip: everything in one batch, stopped at the first failure.
        const results = await this.fs.run(ref, [...start, ...finish], ctx);
        stale = listed(results[0]);
        recorded = results.length > start.length + writeAt;
        this.check(ref, [...start, ...finish], results);
      } else {
        const results = await this.fs.run(ref, start, ctx);
        stale = listed(results[0]);
        this.check(ref, start, results);
        if (source.kind === 'snapshot') {
          const archiveRoot = await this.fs.mounts.root(source.ref, ctx);
          await this.fs.command(ref, 'tar', (root) => ['--extract', '--gzip', '--numeric-owner', '--file', path.join(archiveRoot, source.archive), '--directory', path.join(root, tmp)], signal, log);
        } else {
          const sourceRoot = await this.fs.mounts.root(source.ref, ctx);
          await this.fs.command(ref, 'cp', (root) => ['-a', '--reflink=auto', '--', `${path.join(sourceRoot, source.dir)}/.`, path.join(root, tmp)], signal, log);
        }
        recorded = true;
        await this.fs.must(ref, finish, ctx);
      }
      log.info({ volume: meta.name, dir: ref.dir, share: shareLabel(ref), source: meta.source }, 'volume created');
    } catch (err) {
      // Two controllers (a leader hand-over, or replicas whose sidecars both think they lead) may make the same
      // volume at once: the loser's rename finds the winner's directory. Its record is the same volume's; keep both.
      if (recorded && (await this.madeByAnother(ref, meta, ctx))) {
        await this.fs.run(ref, [{ op: 'remove', path: tmp }], { signal: new AbortController().signal, log }).catch(() => undefined);
        log.info({ volume: meta.name, dir: ref.dir, share: shareLabel(ref) }, 'volume made by a concurrent request; this attempt stands down');
        return;
      }
      const undo: ShareOp[] = [{ op: 'remove', path: tmp }];
      if (recorded) undo.push({ op: 'remove', path: layout.volume(ref.dir) }, ...parentsOf(ref.dir).map((p): ShareOp => ({ op: 'rmdirIfEmpty', path: p })));
      // Clean up even when the caller gave up; the attempt's own signal may have fired.
      await this.fs.run(ref, undo, { signal: new AbortController().signal, log }).catch((e: unknown) => {
        log.error({ dir: ref.dir, err: errorMessage(e) }, 'could not remove what a failed volume creation made');
      });
      throw err;
    } finally {
      // Left by attempts that died with their process (this process runs one job per volume at a time).
      const leftovers = stale.filter((e) => e.name.startsWith(prefix) && `${layout.tmp}/${e.name}` !== tmp);
      if (leftovers.length > 0) {
        await this.fs.run(ref, leftovers.map((e): ShareOp => ({ op: 'remove', path: `${layout.tmp}/${e.name}` })), { signal: new AbortController().signal, log }).catch(() => undefined);
      }
    }
  }

  /** Whether the volume now stands complete (record of this name and its directory), made by another attempt. */
  private async madeByAnother(ref: VolumeRef, meta: VolumeMeta, ctx: { signal: AbortSignal; log: Logger }): Promise<boolean> {
    const found = await this.lookup(ref, { signal: new AbortController().signal, log: ctx.log }).catch(() => undefined);
    return found?.meta?.name === meta.name && found.dir?.type === 'dir';
  }

  /** Throws the first failure of a batch run with ShareFs.run. */
  private check(ref: ShareRef, ops: readonly ShareOp[], results: readonly ShareResult[]): void {
    results.forEach((r, i) => {
      if (!r.ok) throw failure(r, describeOp(ops[i], ref));
    });
    if (results.length < ops.length) throw new DomainError('internal', `the share worker stopped after ${results.length} of ${ops.length} steps`);
  }

  /** Renames the volume's directory away (to the trash, or to its archived name); a directory already gone is fine. */
  private async moveAway(ref: VolumeRef, to: string, ctx: OpContext): Promise<void> {
    const [result] = await this.fs.run(ref, [{ op: 'rename', from: ref.dir, to, parents: true }], ctx);
    if (result && !result.ok && result.code !== 'ENOENT') {
      throw new DomainError(result.code === 'EEXIST' ? 'internal' : 'unavailable', `cannot move ${ref.dir} to ${to} on ${shareLabel(ref)}: ${result.message}`);
    }
  }

  /** Removes whatever is in the trash (this volume's data, and what earlier attempts left); failures only log. */
  private async purgeTrash(ref: ShareRef, ctx: OpContext): Promise<void> {
    try {
      const entries = await this.fs.list(ref, layout.trash, false, ctx);
      if (entries.length === 0) return;
      await this.fs.command(ref, 'rm', (root) => ['-rf', '--', ...entries.map((e) => path.join(root, layout.trash, e.name))], ctx.signal, ctx.log);
    } catch (err) {
      ctx.log.warn({ share: shareLabel(ref), err: errorMessage(err) }, 'could not empty the trash; the next delete tries again');
    }
  }
}
