import { GiB } from '../../util/size.js';
import { GatewayError, isGatewayError } from './errors.js';
import type { CallOptions, GatewayConnection } from './gateway.js';
import type {
  ProtectionDomain,
  QueryIdByKeyRequest,
  QuerySystemLimitsRequest,
  StoragePool,
  StoragePoolStatistics,
  System,
  SystemLimitEntry,
} from './types.js';
import { asArray, asBigInt, asEntities, asEntity, asRecord, asString, checkId, malformed } from './wire.js';

/** Pool figures that size decisions use, in KiB as bigint; `raw` keeps everything the gateway sent. */
export interface PoolStatistics {
  maxCapacityKiB: bigint;
  capacityInUseKiB: bigint;
  /** What a new volume may still reserve (thick accounting). */
  capacityAvailableForVolumeAllocationKiB: bigint;
  /** Upper bound on the sum of provisioned sizes (thin over-provisioning). */
  volumeAllocationLimitKiB: bigint;
  thickCapacityInUseKiB: bigint;
  thinCapacityAllocatedKiB: bigint;
  numOfVolumes: number;
  raw: StoragePoolStatistics;
}

export interface SystemLimits {
  /** The largest volume the system accepts, in bytes; undefined when the gateway does not report one. */
  maxVolumeSizeBytes: bigint | undefined;
  entries: SystemLimitEntry[];
}

/** Which pool: id wins over name; a name is looked up within the protection domain when one is given. */
export interface PoolSelector {
  /** A pool id or name. */
  storagePool: string;
  /** A protection domain id or name. */
  protectionDomain?: string;
  /** Restricts the search to one system (a gateway may manage several). */
  systemId?: string;
}

export interface ResolvedPool {
  storagePool: StoragePool;
  protectionDomain: ProtectionDomain;
}

/** Systems, protection domains, storage pools and their capacity. */
export class SystemsApi {
  constructor(private readonly gateway: GatewayConnection) {}

  async listSystems(options?: CallOptions): Promise<System[]> {
    return asEntities<System>(await this.gateway.request({ method: 'GET', path: '/types/System/instances' }, options), 'systems');
  }

  async getSystem(id: string, options?: CallOptions): Promise<System> {
    const sid = checkId(id, 'system');
    return asEntity<System>(await this.gateway.request({ method: 'GET', path: `/instances/System::${sid}` }, options), 'system');
  }

  async querySystemLimits(options?: CallOptions): Promise<SystemLimits> {
    const body: QuerySystemLimitsRequest = {};
    const answer = asRecord(
      await this.gateway.request({ method: 'POST', path: '/instances/System/action/querySystemLimits', body, idempotent: true }, options),
      'system limits',
    );
    const entries = asArray(answer['systemLimitEntryList'], 'system limits').map((e) => asRecord(e, 'system limit') as unknown as SystemLimitEntry);
    const volumeSize = entries.find((e) => e.type === 'volumeSizeGb');
    return { maxVolumeSizeBytes: volumeSize === undefined ? undefined : asBigInt(volumeSize.maxVal, 'volumeSizeGb') * GiB, entries };
  }

  async listProtectionDomains(systemId: string, options?: CallOptions): Promise<ProtectionDomain[]> {
    const sid = checkId(systemId, 'system');
    const answer = await this.gateway.request({ method: 'GET', path: `/instances/System::${sid}/relationships/ProtectionDomain` }, options);
    return asEntities<ProtectionDomain>(answer, 'protection domains');
  }

  async getProtectionDomain(id: string, options?: CallOptions): Promise<ProtectionDomain> {
    const pid = checkId(id, 'protection domain');
    return asEntity<ProtectionDomain>(await this.gateway.request({ method: 'GET', path: `/instances/ProtectionDomain::${pid}` }, options), 'protection domain');
  }

  /** The id of the protection domain called `name`, or undefined (the gateway's errorCode 142). */
  async queryProtectionDomainIdByName(name: string, options?: CallOptions): Promise<string | undefined> {
    return queryIdByKey(this.gateway, 'ProtectionDomain', name, options);
  }

  /** Every pool, or the pools of one protection domain. */
  async listStoragePools(protectionDomainId?: string, options?: CallOptions): Promise<StoragePool[]> {
    const path =
      protectionDomainId === undefined
        ? '/types/StoragePool/instances'
        : `/instances/ProtectionDomain::${checkId(protectionDomainId, 'protection domain')}/relationships/StoragePool`;
    return asEntities<StoragePool>(await this.gateway.request({ method: 'GET', path }, options), 'storage pools');
  }

  async getStoragePool(id: string, options?: CallOptions): Promise<StoragePool> {
    const pid = checkId(id, 'storage pool');
    return asEntity<StoragePool>(await this.gateway.request({ method: 'GET', path: `/instances/StoragePool::${pid}` }, options), 'storage pool');
  }

  async getStoragePoolStatistics(id: string, options?: CallOptions): Promise<PoolStatistics> {
    const pid = checkId(id, 'storage pool');
    const answer = await this.gateway.request({ method: 'GET', path: `/instances/StoragePool::${pid}/relationships/Statistics` }, options);
    const raw = asRecord(answer, 'pool statistics') as unknown as StoragePoolStatistics;
    const kib = (field: keyof StoragePoolStatistics): bigint => asBigInt(raw[field], `pool statistics ${field}`);
    return {
      maxCapacityKiB: kib('maxCapacityInKb'),
      capacityInUseKiB: kib('capacityInUseInKb'),
      capacityAvailableForVolumeAllocationKiB: kib('capacityAvailableForVolumeAllocationInKb'),
      volumeAllocationLimitKiB: kib('volumeAllocationLimitInKb'),
      thickCapacityInUseKiB: raw.thickCapacityInUseInKb === undefined ? 0n : kib('thickCapacityInUseInKb'),
      thinCapacityAllocatedKiB: raw.thinCapacityAllocatedInKb === undefined ? 0n : kib('thinCapacityAllocatedInKb'),
      numOfVolumes: typeof raw.numOfVolumes === 'number' ? raw.numOfVolumes : 0,
      raw,
    };
  }

  /**
   * Finds a pool within one system. Two pools in different protection domains may share a name, so a name that
   * matches several without a protection domain to choose is an error naming the domains, never a guess.
   */
  async resolveStoragePool(selector: PoolSelector, options?: CallOptions): Promise<ResolvedPool> {
    const domains =
      selector.systemId === undefined ? await this.listAllProtectionDomains(options) : await this.listProtectionDomains(selector.systemId, options);
    let candidates = domains;
    if (selector.protectionDomain !== undefined) {
      const domain = pickByIdOrName(domains, selector.protectionDomain, 'protection domain');
      candidates = [domain];
    }
    const domainIds = new Set(candidates.map((d) => d.id));
    const pools =
      candidates.length === 1 && candidates[0] !== undefined
        ? await this.listStoragePools(candidates[0].id, options)
        : (await this.listStoragePools(undefined, options)).filter((p) => domainIds.has(p.protectionDomainId));
    const storagePool = pickByIdOrName(pools, selector.storagePool, 'storage pool', (p) => domainName(domains, p.protectionDomainId));
    const protectionDomain = domains.find((d) => d.id === storagePool.protectionDomainId);
    if (protectionDomain === undefined) throw malformed('storage pool', `protection domain ${storagePool.protectionDomainId} not listed`);
    return { storagePool, protectionDomain };
  }

  /** Through the systems: the fact sheet's gateways all list domains per system. */
  private async listAllProtectionDomains(options?: CallOptions): Promise<ProtectionDomain[]> {
    const systems = await this.listSystems(options);
    const lists = await Promise.all(systems.map((s) => this.listProtectionDomains(s.id, options)));
    return lists.flat();
  }
}

/** `queryIdByKey {"name"}` on a type; undefined when the gateway answers not-found (errorCode 79, 3, 142, ...). */
export async function queryIdByKey(gateway: GatewayConnection, type: 'Volume' | 'ProtectionDomain' | 'StoragePool', name: string, options?: CallOptions): Promise<string | undefined> {
  const body: QueryIdByKeyRequest = { name };
  try {
    const answer = await gateway.request({ method: 'POST', path: `/types/${type}/instances/action/queryIdByKey`, body, idempotent: true }, options);
    return asString(answer, `${type} id of "${name}"`);
  } catch (err) {
    if (isGatewayError(err, 'not-found')) return undefined;
    throw err;
  }
}

function pickByIdOrName<T extends { id: string; name: string | null }>(items: T[], key: string, what: string, where?: (item: T) => string): T {
  const byId = items.find((item) => item.id === key);
  if (byId !== undefined) return byId;
  const byName = items.filter((item) => item.name === key);
  const [first, second] = byName;
  if (first === undefined) throw new GatewayError('not-found', `${what} "${key}" not found`);
  if (second !== undefined) {
    const places = where === undefined ? byName.map((i) => i.id) : byName.map((i) => `${i.id} in ${where(i)}`);
    throw new GatewayError('failed-precondition', `${what} name "${key}" is ambiguous (${places.join(', ')}): name the protection domain or use the id`);
  }
  return first;
}

function domainName(domains: ProtectionDomain[], id: string): string {
  const domain = domains.find((d) => d.id === id);
  return domain === undefined ? `protection domain ${id}` : `protection domain "${domain.name}"`;
}
