import { DomainError, isDomainError } from '../../errors.js';
import { GiB, KiB } from '../../util/size.js';
import type { CapacityRange, CapacityRecord, CreateVolumeInput, ExpandResult, OpContext, VolumeRecord, VolumeSource } from '../backend.js';
import type { Catalog } from './catalog.js';
import { indexBy, sourceOf, volumeRecord } from './catalog.js';
import type { PowerFlexClient } from './client.js';
import { gatewayName, isFerryName } from './naming.js';
import type { ParameterDefaults } from './parameters.js';
import { checkSystem, parseParameters, type PowerFlexParameters } from './parameters.js';
import { allocationFor, fitsRange } from './sizing.js';
import type { ResolvedPool } from './systems.js';
import type { System } from './types.js';
import { parseLocalId } from './volume-id.js';
import { bytesToKiB, type VolumeInfo } from './volumes.js';

/** What the provisioner needs from its backend: the client, the system, and pool resolution with a cache. */
export interface ProvisionerDeps {
  client: PowerFlexClient;
  catalog: Catalog;
  defaults: ParameterDefaults;
  system(ctx: OpContext): Promise<System>;
}

/** Volumes: create (fresh, from a snapshot, as a clone), delete, get, list, expand, and the pool's capacity. */
export class Provisioner {
  /** Pool ids do not change under a name: resolve each (domain, pool) pair once. */
  private readonly pools = new Map<string, Promise<ResolvedPool>>();
  private maxVolume: bigint | undefined | null = null;

  constructor(private readonly deps: ProvisionerDeps) {}

  async createVolume(input: CreateVolumeInput, ctx: OpContext): Promise<VolumeRecord> {
    const params = parseParameters(input.parameters, this.deps.defaults);
    const system = await this.deps.system(ctx);
    checkSystem(params, system.id);
    const pool = await this.resolvePool(params, system.id, ctx);
    const name = gatewayName('volume', input.name);

    const existing = await this.deps.catalog.findByName(name, ctx);
    if (existing) return this.adopt(existing, input, params, pool, system.id, ctx);

    const source = input.source ? await this.sourceVolume(input.source, system.id, ctx) : undefined;
    let size = allocationFor(input.capacity, await this.maxVolumeBytes(ctx));
    try {
      if (source) {
        const sourceBytes = source.sizeKiB * KiB;
        if (source.storagePoolId !== pool.storagePool.id) {
          throw new DomainError(
            'invalid-argument',
            `the ${input.source?.kind} is in storage pool ${source.storagePoolId}; a volume made from it must be in the same pool, not ${pool.storagePool.id}`,
          );
        }
        // A copy is never smaller than its source: take the source's size when the request allows it.
        if (size < sourceBytes) {
          if (input.capacity.limitBytes > 0n && sourceBytes > input.capacity.limitBytes) {
            throw new DomainError('out-of-range', `the source holds ${sourceBytes} bytes, more than limit_bytes ${input.capacity.limitBytes}`);
          }
          size = sourceBytes;
        }
        // Dell's way: a writable snapshot of the source (a snapshot, or the volume being cloned) is the new volume.
        const made = await this.deps.client.snapshots.snapshotVolumes(system.id, [{ volumeId: source.id, snapshotName: name }], 'ReadWrite', {
          signal: ctx.signal,
        });
        const id = made.volumeIds[0];
        if (id === undefined) throw new DomainError('internal', 'snapshotVolumes answered no volume id');
        if (size > sourceBytes) await this.deps.client.volumes.setVolumeSize(id, size / GiB, { signal: ctx.signal });
      } else {
        await this.deps.client.volumes.createVolume(
          {
            name,
            sizeKiB: bytesToKiB(size),
            storagePoolId: pool.storagePool.id,
            protectionDomainId: pool.protectionDomain.id,
            provisioning: params.provisioning,
          },
          { signal: ctx.signal },
        );
      }
    } catch (err) {
      // Another replica (or a retry whose first attempt is still running) made it first: answer as for a retry.
      if (isDomainError(err, 'name-in-use')) {
        const raced = await this.deps.catalog.findByName(name, ctx);
        if (raced) return this.adopt(raced, input, params, pool, system.id, ctx);
      }
      throw err;
    }
    const created = await this.deps.catalog.findByName(name, ctx);
    if (!created) throw new DomainError('internal', `volume ${name} vanished right after it was created`);
    ctx.log.info({ gatewayName: name, volumeId: created.id, sizeBytes: String(created.sizeKiB * KiB) }, 'volume created');
    return volumeRecord(created, system.id, new Map(), input.source);
  }

  async deleteVolume(localId: string, ctx: OpContext): Promise<void> {
    const found = await this.deps.catalog.find('volume', localId, ctx);
    if (!found) return;
    if (found.info.mappings.length > 0) {
      throw new DomainError('failed-precondition', `volume ${localId} is still published to ${found.info.mappings.length} node(s); unpublish it first`);
    }
    try {
      await this.deps.client.volumes.removeVolume(found.info.id, 'ONLY_ME', { signal: ctx.signal });
    } catch (err) {
      if (isDomainError(err, 'not-found')) return;
      throw err;
    }
    ctx.log.info({ volumeId: localId }, 'volume deleted');
  }

  async getVolume(localId: string, ctx: OpContext): Promise<VolumeRecord> {
    const { ref, info } = await this.deps.catalog.get('volume', localId, ctx);
    const sdcs = indexBy(info.mappings.length > 0 ? await this.deps.catalog.sdcs(ref.systemId, ctx) : [], (s) => s.id);
    const ancestors = new Map<string, VolumeInfo>();
    if (info.ancestorVolumeId !== undefined) {
      const ancestor = await this.deps.client.volumes.getVolume(info.ancestorVolumeId, { signal: ctx.signal }).catch(() => undefined);
      if (ancestor) ancestors.set(ancestor.id, ancestor);
    }
    return volumeRecord(info, ref.systemId, sdcs, sourceOf(info, ref.systemId, ancestors));
  }

  async listVolumes(ctx: OpContext): Promise<VolumeRecord[]> {
    const system = await this.deps.system(ctx);
    const [all, sdcList] = await Promise.all([this.deps.client.volumes.listVolumes(undefined, { signal: ctx.signal }), this.deps.catalog.sdcs(system.id, ctx)]);
    const byId = indexBy(all, (v) => v.id);
    const sdcs = indexBy(sdcList, (s) => s.id);
    return all.filter((v) => isFerryName('volume', v.name)).map((v) => volumeRecord(v, system.id, sdcs, sourceOf(v, system.id, byId)));
  }

  async expandVolume(localId: string, capacity: CapacityRange, ctx: OpContext): Promise<ExpandResult> {
    const { info } = await this.deps.catalog.get('volume', localId, ctx);
    const current = info.sizeKiB * KiB;
    const wanted = allocationFor(capacity, await this.maxVolumeBytes(ctx));
    if (wanted <= current) return { capacityBytes: current };
    await this.deps.client.volumes.setVolumeSize(info.id, wanted / GiB, { signal: ctx.signal });
    ctx.log.info({ volumeId: localId, fromBytes: String(current), toBytes: String(wanted) }, 'volume expanded');
    return { capacityBytes: wanted };
  }

  async getCapacity(parameters: Readonly<Record<string, string>>, ctx: OpContext): Promise<CapacityRecord> {
    const params = parseParameters(parameters, this.deps.defaults);
    const system = await this.deps.system(ctx);
    checkSystem(params, system.id);
    const pool = await this.resolvePool(params, system.id, ctx);
    const stats = await this.deps.client.systems.getStoragePoolStatistics(pool.storagePool.id, { signal: ctx.signal });
    // What a new volume may still reserve; the pool's total would promise space that is already provisioned.
    const available = stats.capacityAvailableForVolumeAllocationKiB * KiB;
    const systemMax = await this.maxVolumeBytes(ctx);
    return {
      availableBytes: available,
      maximumVolumeBytes: systemMax === undefined || systemMax > available ? available : systemMax,
      minimumVolumeBytes: undefined,
    };
  }

  /** An existing volume of the requested name: the same request again, or a conflicting one. */
  private async adopt(
    existing: VolumeInfo,
    input: CreateVolumeInput,
    params: PowerFlexParameters,
    pool: ResolvedPool,
    systemId: string,
    ctx: OpContext,
  ): Promise<VolumeRecord> {
    const conflict = (why: string): DomainError => new DomainError('already-exists', `volume "${input.name}" exists with ${why}`);
    if (!fitsRange(existing.sizeKiB * KiB, input.capacity)) throw conflict(`a size (${existing.sizeKiB * KiB} bytes) outside the requested range`);
    if (existing.storagePoolId !== pool.storagePool.id) throw conflict(`another storage pool (${existing.storagePoolId})`);
    const wantedRef = input.source ? parseLocalId(input.source.id, input.source.kind) : undefined;
    if (wantedRef && wantedRef.systemId !== systemId) throw new DomainError('not-found', `${input.source?.kind} ${input.source?.id} does not exist (system ${wantedRef.systemId} is not this backend's system ${systemId})`);
    const wantedSource = wantedRef?.volumeId;
    if (existing.ancestorVolumeId !== wantedSource) throw conflict(`another content source (${existing.ancestorVolumeId ?? 'none'})`);
    if (!input.source && existing.volumeType !== params.provisioning) throw conflict(`another provisioning type (${existing.volumeType})`);
    ctx.log.info({ volumeId: existing.id }, 'volume exists already: same request again');
    const sdcs = indexBy(existing.mappings.length > 0 ? await this.deps.catalog.sdcs(systemId, ctx) : [], (s) => s.id);
    return volumeRecord(existing, systemId, sdcs, input.source);
  }

  private async sourceVolume(source: VolumeSource, systemId: string, ctx: OpContext): Promise<VolumeInfo> {
    const { ref, info } = await this.deps.catalog.get(source.kind, source.id, ctx);
    if (ref.systemId !== systemId) {
      throw new DomainError('invalid-argument', `the ${source.kind} ${source.id} is in system ${ref.systemId}, not in this backend's system ${systemId}`);
    }
    return info;
  }

  private resolvePool(params: PowerFlexParameters, systemId: string, ctx: OpContext): Promise<ResolvedPool> {
    const key = `${params.protectionDomain ?? ''}/${params.storagePool}`;
    let pending = this.pools.get(key);
    if (!pending) {
      pending = this.deps.client.systems.resolveStoragePool(
        { storagePool: params.storagePool, systemId, ...(params.protectionDomain === undefined ? {} : { protectionDomain: params.protectionDomain }) },
        { signal: ctx.signal },
      );
      this.pools.set(key, pending);
      // A failed lookup (a typo, a gateway hiccup) must not be remembered.
      pending.catch(() => this.pools.delete(key));
    }
    return pending.catch((err: unknown) => {
      if (isDomainError(err, 'not-found')) {
        throw new DomainError('invalid-argument', `storage pool "${params.storagePool}" not found${params.protectionDomain ? ` in protection domain "${params.protectionDomain}"` : ''}`, {
          cause: err,
        });
      }
      throw err;
    });
  }

  private async maxVolumeBytes(ctx: OpContext): Promise<bigint | undefined> {
    if (this.maxVolume === null) {
      this.maxVolume = (await this.deps.client.systems.querySystemLimits({ signal: ctx.signal })).maxVolumeSizeBytes;
    }
    return this.maxVolume;
  }
}
