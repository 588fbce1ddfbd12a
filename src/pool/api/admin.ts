import type { MdmConnectionState } from '../wire.js';
import { optionalEnum, optionalString, requireObject, requireString } from '../body.js';
import { invalidRequest } from '../errors.js';
import { hostByIdDir } from '../paths.js';
import type { HostRecord } from '../state.js';
import { param, Reply, type ApiDeps, type ApiRouter } from './context.js';

const STATES: readonly MdmConnectionState[] = ['Connected', 'Disconnected'];

/**
 * /pool: the pool's own administration (not part of the gateway API), with the administrator's Basic
 * user:password on every request. Hosts, injected faults, counters.
 */
export function adminRoutes(router: ApiRouter, deps: ApiDeps): void {
  const { pool } = deps;
  const hostView = (h: HostRecord): Record<string, unknown> => ({
    id: h.id,
    name: h.name,
    guid: h.guid,
    ip: h.ip,
    mdmConnectionState: h.mdmConnectionState,
    /** Where this host's device links appear: its /dev/disk/by-id. */
    byIdDir: hostByIdDir(pool.dataDir, h.guid),
  });

  router.add('GET', '/pool/hosts', 'admin', () => pool.current().hosts.map(hostView));
  router.add('POST', '/pool/hosts', 'admin', async (req) => {
    const body = requireObject(req.body);
    const host = await pool.addHost(requireString(body, 'name'), requireString(body, 'guid'), optionalString(body, 'ip'));
    return hostView(host);
  });
  router.add('DELETE', '/pool/hosts/{guid}', 'admin', async (req) => {
    await pool.removeHost(param(req, 'guid'));
    return undefined;
  });
  router.add('POST', '/pool/hosts/{guid}/state', 'admin', async (req) => {
    const state = optionalEnum(requireObject(req.body), 'mdmConnectionState', STATES);
    if (state === undefined) throw invalidRequest('mdmConnectionState must be Connected or Disconnected');
    return hostView(await pool.setHostState(param(req, 'guid'), state));
  });

  router.add('GET', '/pool/faults', 'admin', () => deps.faults.list());
  router.add('POST', '/pool/faults', 'admin', (req) => {
    const body = requireObject(req.body);
    const rule = deps.faults.add(body);
    const expiredTokens = body.expireTokens === true ? deps.tokens.expireAll() : undefined;
    return new Reply(201, { ...(rule ? { fault: rule } : {}), ...(expiredTokens !== undefined ? { expiredTokens } : {}) });
  });
  router.add('DELETE', '/pool/faults', 'admin', () => ({ cleared: deps.faults.clear() }));

  router.add('GET', '/pool/stats', 'admin', () => {
    const s = pool.current();
    return {
      ...deps.stats.toJSON(),
      liveTokens: deps.tokens.live,
      tokensExpired: deps.tokens.expired,
      volumes: s.volumes.length,
      snapshots: s.volumes.filter((v) => v.volumeType === 'Snapshot').length,
      mappings: s.volumes.reduce((n, v) => n + v.mappings.length, 0),
      hosts: s.hosts.length,
      loopDevices: pool.attachments.count(),
    };
  });
}
