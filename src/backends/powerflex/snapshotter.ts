import { DomainError, isDomainError } from '../../errors.js';
import type { OpContext, SnapshotRecord } from '../backend.js';
import type { Catalog } from './catalog.js';
import { snapshotRecord } from './catalog.js';
import type { PowerFlexClient } from './client.js';
import { gatewayName, isFerryName } from './naming.js';
import type { System } from './types.js';
import type { VolumeInfo } from './volumes.js';

/** Snapshots: read-only snapshots of Ferry volumes, named like volumes but in their own kind. */
export class Snapshotter {
  constructor(
    private readonly client: PowerFlexClient,
    private readonly catalog: Catalog,
    private readonly system: (ctx: OpContext) => Promise<System>,
  ) {}

  async create(name: string, sourceVolumeId: string, ctx: OpContext): Promise<SnapshotRecord> {
    const { ref, info: source } = await this.catalog.get('volume', sourceVolumeId, ctx);
    const gwName = gatewayName('snapshot', name);
    const existing = await this.catalog.findByName(gwName, ctx);
    if (existing) return this.adopt(existing, name, source.id, ref.systemId);
    try {
      await this.client.snapshots.snapshotVolumes(ref.systemId, [{ volumeId: source.id, snapshotName: gwName }], 'ReadOnly', { signal: ctx.signal });
    } catch (err) {
      if (isDomainError(err, 'name-in-use')) {
        const raced = await this.catalog.findByName(gwName, ctx);
        if (raced) return this.adopt(raced, name, source.id, ref.systemId);
      }
      throw err;
    }
    const created = await this.catalog.findByName(gwName, ctx);
    if (!created) throw new DomainError('internal', `snapshot ${gwName} vanished right after it was taken`);
    ctx.log.info({ snapshot: gwName, snapshotId: created.id, sourceVolumeId }, 'snapshot taken');
    return snapshotRecord(created, ref.systemId);
  }

  async delete(snapshotId: string, ctx: OpContext): Promise<void> {
    const found = await this.catalog.find('snapshot', snapshotId, ctx);
    if (!found) return;
    try {
      await this.client.volumes.removeVolume(found.info.id, 'ONLY_ME', { signal: ctx.signal });
    } catch (err) {
      if (isDomainError(err, 'not-found')) return;
      throw err;
    }
    ctx.log.info({ snapshotId }, 'snapshot deleted');
  }

  async list(ctx: OpContext): Promise<SnapshotRecord[]> {
    const system = await this.system(ctx);
    const all = await this.client.volumes.listVolumes(undefined, { signal: ctx.signal });
    return all.filter((v) => isFerryName('snapshot', v.name) && v.ancestorVolumeId !== undefined).map((v) => snapshotRecord(v, system.id));
  }

  private adopt(existing: VolumeInfo, name: string, sourceId: string, systemId: string): SnapshotRecord {
    if (existing.ancestorVolumeId !== sourceId) {
      throw new DomainError('already-exists', `snapshot "${name}" exists with another source volume`);
    }
    return snapshotRecord(existing, systemId);
  }
}
