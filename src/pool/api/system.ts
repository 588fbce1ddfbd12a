import { poolStatistics } from '../accounting.js';
import { optionalString, requireObject, requireString } from '../body.js';
import { gatewayError, invalidRequest } from '../errors.js';
import type { PoolState } from '../state.js';
import { protectionDomainView, sdcView, storagePoolView, systemView, volumeView } from '../views.js';
import type { QuerySystemLimitsAnswer, SelectedStatistics, SelectedStatisticsById, StoragePoolStatistics, System, SystemStatistics } from '../wire.js';
import { nameInPath } from './by-name.js';
import { param, type ApiDeps, type ApiRouter } from './context.js';

/** Largest volume, in GiB, as the gateway reports it (1 PiB, the real system's limit). */
const MAX_VOLUME_SIZE_GB = '1048576';

/** System, protection domain and storage pool: discovery and capacity. */
export function systemRoutes(router: ApiRouter, deps: ApiDeps): void {
  const state = (): PoolState => deps.pool.current();
  const requireSystemId = (id: string): void => {
    if (id !== state().systemId) throw gatewayError('NotFound', `system ${id}`);
  };
  const requirePdId = (id: string): void => {
    if (id !== state().protectionDomain.id) throw gatewayError('ProtectionDomainNotFound', `protection domain ${id}`);
  };
  const requirePoolId = (id: string): void => {
    if (id !== state().storagePool.id) throw gatewayError('NotFound', `storage pool ${id}`);
  };
  const statistics = async (): Promise<StoragePoolStatistics> => poolStatistics(await deps.pool.usage(), deps.pool.capacityInKiB);
  // One protection domain with one pool is the whole system: the system's figures are the pool's, plus the counts.
  const systemStatistics = async (): Promise<SystemStatistics> => ({
    ...(await statistics()),
    numOfSdc: state().hosts.length,
    numOfProtectionDomains: 1,
    numOfStoragePools: 1,
    numOfSds: 0,
    numOfFaultSets: 0,
  });
  const system = (): System => systemView(state(), deps.pool.systemName);

  router.add('GET', '/api/types/System/instances', 'token', () => [system()]);
  router.add('GET', '/api/instances/System::{id}', 'token', (req) => {
    requireSystemId(param(req, 'id'));
    return system();
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
    return systemStatistics();
  });
  // There is one system: no ids (older clients send `"ids": []`), and the answer is flat, `{"<property>": value}`.
  router.add('POST', '/api/types/System/instances/action/querySelectedStatistics', 'token', async (req): Promise<SelectedStatistics> => {
    const body = requireObject(req.body);
    const ids = stringList(body.ids, 'ids') ?? [];
    for (const id of ids) requireSystemId(id);
    return pick(await systemStatistics(), requireProperties(body));
  });
  const limits = (): QuerySystemLimitsAnswer => ({
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
  const pdIdByName = (name: string): string => {
    const pd = state().protectionDomain;
    if (name !== pd.name) throw gatewayError('ProtectionDomainNotFound', `protection domain named ${name}`);
    return pd.id;
  };
  router.add('POST', '/api/types/ProtectionDomain/instances/action/queryIdByKey', 'token', (req) =>
    pdIdByName(requireString(requireObject(req.body), 'name')),
  );
  // The older spelling of the same lookup (OpenStack's ScaleIO driver): "Domain", the name in the path.
  router.add('GET', '/api/types/Domain/instances/getByName::{name}', 'token', (req) =>
    pdIdByName(nameInPath(req, (name) => name === state().protectionDomain.name)),
  );

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
  const poolIdByName = (name: string, pdId: string | undefined): string => {
    const s = state();
    if (name !== s.storagePool.name || (pdId !== undefined && pdId !== s.protectionDomain.id)) {
      throw gatewayError('NotFound', `storage pool named ${name}`);
    }
    return s.storagePool.id;
  };
  router.add('POST', '/api/types/StoragePool/instances/action/queryIdByKey', 'token', (req) => {
    const body = requireObject(req.body);
    return poolIdByName(requireString(body, 'name'), optionalString(body, 'protectionDomainId'));
  });
  // The older spelling: "Pool", and "PDID,NAME" in the path (a pool name is unique only within its domain).
  router.add('GET', '/api/types/Pool/instances/getByName::{key}', 'token', (req) => {
    const split = (key: string): [string, string] => {
      const comma = key.indexOf(',');
      return comma < 0 ? ['', key] : [key.slice(0, comma), key.slice(comma + 1)];
    };
    const key = nameInPath(req, (k) => split(k)[1] === state().storagePool.name, 'key');
    const [pdId, name] = split(key);
    if (pdId === '') throw invalidRequest('Request message is not valid: the key must be PROTECTION_DOMAIN_ID,POOL_NAME');
    return poolIdByName(name, pdId);
  });
  // `ids` lists pools; absent (PyPowerFlex sends `"allIds": ""` instead) means every pool.
  router.add('POST', '/api/types/StoragePool/instances/action/querySelectedStatistics', 'token', async (req): Promise<SelectedStatisticsById> => {
    const body = requireObject(req.body);
    const ids = stringList(body.ids, 'ids') ?? [state().storagePool.id];
    const properties = requireProperties(body);
    for (const id of ids) requirePoolId(id);
    const picked = pick(await statistics(), properties);
    const answer: SelectedStatisticsById = {};
    for (const id of ids) answer[id] = { ...picked };
    return answer;
  });
}

function requireProperties(body: Record<string, unknown>): string[] {
  const properties = stringList(body.properties, 'properties');
  if (!properties || properties.length === 0) throw invalidRequest('Request message is not valid: properties must list at least one property');
  return properties;
}

/** The asked properties of a statistics object; one it does not have is a bad request. */
function pick(all: StoragePoolStatistics, properties: readonly string[]): Record<string, number> {
  const figures = new Map<string, number>(Object.entries(all));
  const picked: Record<string, number> = {};
  for (const p of properties) {
    const value = figures.get(p);
    if (value === undefined) throw invalidRequest(`Request message is not valid: unknown property ${p}`);
    picked[p] = value;
  }
  return picked;
}

function stringList(value: unknown, key: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw invalidRequest(`Request message is not valid: ${key} must be a list of strings`);
  }
  return value;
}
