import { DomainError, isDomainError } from '../../errors.js';
import type { AccessMode, OpContext, PublishInput } from '../backend.js';
import { layout, nodeRecordSchema, parseRecord, publicationSchema, recordText, volumeMetaSchema } from './layout.js';
import type { ShareFs } from './share-fs.js';
import type { ListEntry } from './share-protocol.js';
import { parseVolumeId, shareLabel, type ShareRef, type VolumeRef } from './share-ref.js';

/** Modes under which only one node may hold the volume at a time. */
const SINGLE_NODE: ReadonlySet<AccessMode> = new Set(['SINGLE_NODE_WRITER', 'SINGLE_NODE_READER_ONLY', 'SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER']);

/**
 * ControllerPublish and Unpublish for exports. Nothing needs mapping (every node reaches the export), but the
 * publications are recorded on the export: they answer ListVolumes' published nodes, keep a single-node volume on
 * one node, and make a delete of a volume still in use fail. Nodes register themselves (NodeGetInfo), so that a
 * publish to a node that does not exist is not-found.
 */
export class Publisher {
  constructor(
    private readonly fs: ShareFs,
    /** Where node plugins register: the backend's own export. */
    private readonly home: ShareRef,
  ) {}

  async publish(input: PublishInput, ctx: OpContext): Promise<Record<string, string>> {
    const ref = parseVolumeId(input.volumeId);
    const [metaText, publications] = (await this.fs.must(
      ref,
      [
        { op: 'read', path: layout.volume(ref.dir) },
        { op: 'list', path: layout.publicationsOf(ref.dir), read: true },
      ],
      ctx,
    )) as [string | null, ListEntry[]];
    const meta = parseRecord(volumeMetaSchema, metaText);
    if (!meta || meta.onDelete !== ref.onDelete) throw new DomainError('not-found', `volume ${input.volumeId} does not exist`);
    if (!(await this.fs.stat(this.home, layout.node(input.nodeId), ctx))) {
      throw new DomainError('not-found', `node ${input.nodeId} has not registered with export ${shareLabel(this.home)} (is Ferry's node plugin running there?)`);
    }

    const held = publications.map((p) => parseRecord(publicationSchema, p.text)).filter((p) => p !== undefined);
    const mine = held.find((p) => p.nodeId === input.nodeId);
    if (mine) {
      if (mine.readOnly !== input.readOnly) {
        throw new DomainError('already-exists', `volume ${input.volumeId} is published to node ${input.nodeId} ${mine.readOnly ? 'read-only' : 'read-write'} already`);
      }
      return {};
    }
    const others = held.filter((p) => p.nodeId !== input.nodeId);
    if (others.length > 0 && SINGLE_NODE.has(input.capability.accessMode)) {
      throw new DomainError('failed-precondition', `volume ${input.volumeId} is published to node ${others.map((p) => p.nodeId).join(', ')}; ${input.capability.accessMode} allows one node`);
    }
    const record = { nodeId: input.nodeId, readOnly: input.readOnly, accessMode: input.capability.accessMode };
    await this.fs.must(ref, [{ op: 'write', path: layout.publication(ref.dir, input.nodeId), text: recordText(record) }], ctx);
    ctx.log.info({ volumeId: input.volumeId, nodeId: input.nodeId, readOnly: input.readOnly }, 'volume published');
    return {};
  }

  async unpublish(volumeId: string, nodeId: string, ctx: OpContext): Promise<void> {
    let ref: VolumeRef;
    try {
      ref = parseVolumeId(volumeId);
    } catch (err) {
      if (isDomainError(err, 'not-found')) return;
      throw err;
    }
    await this.fs.must(ref, [{ op: 'remove', path: layout.publication(ref.dir, nodeId) }], ctx);
  }

  /** Records that a node plugin serves `nodeId` (idempotent). */
  async registerNode(nodeId: string, ctx: OpContext): Promise<void> {
    const existing = parseRecord(nodeRecordSchema, await this.fs.read(this.home, layout.node(nodeId), ctx));
    if (existing?.nodeId === nodeId) return;
    await this.fs.must(this.home, [{ op: 'write', path: layout.node(nodeId), text: recordText({ nodeId, registeredAt: Math.floor(Date.now() / 1000) }) }], ctx);
    ctx.log.info({ nodeId, share: shareLabel(this.home) }, 'node registered with the export');
  }
}
