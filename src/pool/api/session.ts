import { API_VERSION } from '../views.js';
import type { ApiDeps, ApiRouter } from './context.js';

/** Login, logout and version. The server has already checked the credentials each route asks for. */
export function sessionRoutes(router: ApiRouter, deps: ApiDeps): void {
  router.add('GET', '/api/login', 'login', () => {
    deps.stats.logins += 1;
    return deps.tokens.issue();
  });
  router.add('GET', '/api/logout', 'token', (req) => {
    if (req.token !== undefined) deps.tokens.revoke(req.token);
    deps.stats.logouts += 1;
    return undefined;
  });
  router.add('GET', '/api/version', 'public', () => API_VERSION);
}
