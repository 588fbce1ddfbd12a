import { requireObject } from '../body.js';
import { gatewayError, invalidRequest } from '../errors.js';
import { findHost, type HostRecord, type PoolState } from '../state.js';
import { sdcView, volumeView } from '../views.js';
import type { Sdc } from '../wire.js';
import { param, type ApiDeps, type ApiRouter } from './context.js';

/** SDCs (hosts), read-only here: hosts are declared with --host or through /pool/hosts. */
export function sdcRoutes(router: ApiRouter, deps: ApiDeps): void {
  const requireHost = (s: PoolState, id: string): HostRecord => {
    const host = findHost(s, id);
    if (!host) throw gatewayError('SdcNotFound', `SDC ${id}`);
    return host;
  };
  router.add('GET', '/api/types/Sdc/instances', 'token', () => {
    const s = deps.pool.current();
    return s.hosts.map((h) => sdcView(s, h));
  });
  // The SDCs with the listed ids, in that order (os-brick's library asks this of a volume's mappedSdcInfo).
  router.add('POST', '/api/types/Sdc/instances/action/queryBySelectedIds', 'token', (req): Sdc[] => {
    const ids = requireObject(req.body).ids;
    if (!Array.isArray(ids) || !ids.every((id): id is string => typeof id === 'string')) {
      throw invalidRequest('Request message is not valid: ids must be a list of strings');
    }
    const s = deps.pool.current();
    return ids.map((id) => sdcView(s, requireHost(s, id)));
  });
  router.add('GET', '/api/instances/Sdc::{id}', 'token', (req) => {
    const s = deps.pool.current();
    return sdcView(s, requireHost(s, param(req, 'id')));
  });
  router.add('GET', '/api/instances/Sdc::{id}/relationships/Volume', 'token', (req) => {
    const s = deps.pool.current();
    const host = requireHost(s, param(req, 'id'));
    return s.volumes.filter((v) => v.mappings.some((m) => m.sdcId === host.id)).map((v) => volumeView(s, v));
  });
}
