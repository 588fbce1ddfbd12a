import { CODES, businessError } from '../errors.js';
import { findHost } from '../state.js';
import { sdcView, volumeView } from '../views.js';
import { param, type ApiDeps, type ApiRouter } from './context.js';

/** SDCs (hosts), read-only here: hosts are declared with --host or through /pool/hosts. */
export function sdcRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.add('GET', '/api/types/Sdc/instances', 'token', () => {
    const s = deps.pool.current();
    return s.hosts.map((h) => sdcView(s, h));
  });
  router.add('GET', '/api/instances/Sdc::{id}', 'token', (req) => {
    const s = deps.pool.current();
    const host = findHost(s, param(req, 'id'));
    if (!host) throw businessError(CODES.SdcNotFound, `Could not find the SDC ${param(req, 'id')}`);
    return sdcView(s, host);
  });
  router.add('GET', '/api/instances/Sdc::{id}/relationships/Volume', 'token', (req) => {
    const s = deps.pool.current();
    const host = findHost(s, param(req, 'id'));
    if (!host) throw businessError(CODES.SdcNotFound, `Could not find the SDC ${param(req, 'id')}`);
    return s.volumes.filter((v) => v.mappings.some((m) => m.sdcId === host.id)).map((v) => volumeView(s, v));
  });
}
