import type { QuerySelectedStatisticsResponse, QuerySystemLimitsResponse, StoragePoolStatistics } from '../../backends/powerflex/types.js';
import { poolStatistics } from '../accounting.js';
import { optionalString, requireObject, requireString } from '../body.js';
import { CODES, businessError, invalidRequest } from '../errors.js';
import type { PoolState } from '../state.js';
import { protectionDomainView, sdcView, storagePoolView, systemView, volumeView } from '../views.js';
import { param, type ApiDeps, type ApiRouter } from './context.js';

/** Largest volume, in GiB, as the gateway reports it (1 PiB, the real system's limit). */
const MAX_VOLUME_SIZE_GB = '1048576';

/** System, protection domain and storage pool: discovery and capacity. */
export function systemRoutes(router: ApiRouter, deps: ApiDeps): void {
  const state = (): PoolState => deps.pool.current();
  const requireSystemId = (id: string): void => {
    if (id !== state().systemId) throw businessError(CODES.NotFound, `Could not find the system ${id}`);
  };
  const requirePdId = (id: string): void => {
    if (id !== state().protectionDomain.id) throw businessError(CODES.ProtectionDomainNotFound, `Could not find the protection domain ${id}`);
  };
  const requirePoolId = (id: string): void => {
    if (id !== state().storagePool.id) throw businessError(CODES.NotFound, `Could not find the storage pool ${id}`);
  };
  const statistics = async (): Promise<StoragePoolStatistics> => poolStatistics(await deps.pool.usage(), deps.pool.capacityInKiB);

  router.add('GET', '/api/types/System/instances', 'token', () => [systemView(state())]);
  router.add('GET', '/api/instances/System::{id}', 'token', (req) => {
    requireSystemId(param(req, 'id'));
    return systemView(state());
  });
  router.add('GET', '/api/instances/System::{id}/relationships/ProtectionDomain', 'token', (req) => {
    requireSystemId(param(req, 'id'));
    return [protectionDomainView(state())];
  });
  router.add('GET', '/api/instances/System::{id}/relationships/Sdc', 'token', (req) => {
    requireSystemId(param(req, 'id'));
    const s = state();
    return s.hosts.map((h) => sdcView(s, h));
  });
  router.add('GET', '/api/instances/System::{id}/relationships/Statistics', 'token', async (req) => {
    requireSystemId(param(req, 'id'));
    return statistics();
  });
  const limits = (): QuerySystemLimitsResponse => ({
    systemLimitEntryList: [{ type: 'volumeSizeGb', description: 'Maximum volume size in GB', maxVal: MAX_VOLUME_SIZE_GB, defaultVal: null }],
  });
  router.add('POST', '/api/instances/System/action/querySystemLimits', 'token', limits);
  router.add('POST', '/api/instances/System::{id}/action/querySystemLimits', 'token', (req) => {
    requireSystemId(param(req, 'id'));
    return limits();
  });

  router.add('GET', '/api/types/ProtectionDomain/instances', 'token', () => [protectionDomainView(state())]);
  router.add('GET', '/api/instances/ProtectionDomain::{id}', 'token', (req) => {
    requirePdId(param(req, 'id'));
    return protectionDomainView(state());
  });
  router.add('GET', '/api/instances/ProtectionDomain::{id}/relationships/StoragePool', 'token', (req) => {
    requirePdId(param(req, 'id'));
    return [storagePoolView(state())];
  });
  router.add('GET', '/api/instances/ProtectionDomain::{id}/relationships/Statistics', 'token', async (req) => {
    requirePdId(param(req, 'id'));
    return statistics();
  });
  router.add('POST', '/api/types/ProtectionDomain/instances/action/queryIdByKey', 'token', (req) => {
    const name = requireString(requireObject(req.body), 'name');
    const pd = state().protectionDomain;
    if (name !== pd.name) throw businessError(CODES.ProtectionDomainNotFound, `Could not find the protection domain named ${name}`);
    return pd.id;
  });

  router.add('GET', '/api/types/StoragePool/instances', 'token', () => [storagePoolView(state())]);
  router.add('GET', '/api/instances/StoragePool::{id}', 'token', (req) => {
    requirePoolId(param(req, 'id'));
    return storagePoolView(state());
  });
  router.add('GET', '/api/instances/StoragePool::{id}/relationships/Volume', 'token', (req) => {
    requirePoolId(param(req, 'id'));
    const s = state();
    return s.volumes.map((v) => volumeView(s, v));
  });
  router.add('GET', '/api/instances/StoragePool::{id}/relationships/Statistics', 'token', async (req) => {
    requirePoolId(param(req, 'id'));
    return statistics();
  });
  router.add('POST', '/api/types/StoragePool/instances/action/queryIdByKey', 'token', (req) => {
    const body = requireObject(req.body);
    const name = requireString(body, 'name');
    const pdId = optionalString(body, 'protectionDomainId');
    const s = state();
    if (name !== s.storagePool.name || (pdId !== undefined && pdId !== s.protectionDomain.id)) {
      throw businessError(CODES.NotFound, `Could not find the storage pool named ${name}`);
    }
    return s.storagePool.id;
  });
  router.add('POST', '/api/types/StoragePool/instances/action/querySelectedStatistics', 'token', async (req) => {
    const body = requireObject(req.body);
    const ids = stringList(body.ids, 'ids') ?? [state().storagePool.id];
    const properties = stringList(body.properties, 'properties');
    if (!properties || properties.length === 0) throw invalidRequest('Request message is not valid: properties must list at least one property');
    for (const id of ids) requirePoolId(id);
    const all = (await statistics()) as unknown as Record<string, number>;
    const picked: Record<string, number> = {};
    for (const p of properties) {
      if (!(p in all)) throw invalidRequest(`Request message is not valid: unknown property ${p}`);
      picked[p] = all[p] ?? 0;
    }
    const answer: QuerySelectedStatisticsResponse = {};
    for (const id of ids) answer[id] = { ...picked };
    return answer;
  });
}

function stringList(value: unknown, key: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw invalidRequest(`Request message is not valid: ${key} must be a list of strings`);
  }
  return value;
}
