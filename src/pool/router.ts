/**
 * A small router for the fixed set of gateway paths. A route is a template such as
 * "/api/instances/Volume::{id}/action/addMappedSdc"; `{name}` matches one path segment or the id after "::".
 * The template doubles as the key of the request counters and of fault rules.
 */
export type Access =
  /** Anyone (GET /api/version). */
  | 'public'
  /** Basic user:password, answered with a token (GET /api/login). */
  | 'login'
  /** A session token: Basic with the token as password, or Bearer. */
  | 'token'
  /** Basic user:password on every request (/pool admin endpoints). */
  | 'admin';

export interface Route<H> {
  method: string;
  template: string;
  access: Access;
  handler: H;
  regex: RegExp;
  params: string[];
}

export type Match<H> =
  | { kind: 'found'; route: Route<H>; params: Record<string, string> }
  | { kind: 'method-not-allowed'; template: string }
  | { kind: 'not-found' };

export class Router<H> {
  private readonly routes: Route<H>[] = [];

  add(method: string, template: string, access: Access, handler: H): void {
    const params: string[] = [];
    const pattern = template
      .split(/(\{\w+\})/)
      .map((part) => {
        const param = /^\{(\w+)\}$/.exec(part)?.[1];
        if (param === undefined) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        params.push(param);
        return '([^/:]+)';
      })
      .join('');
    this.routes.push({ method, template, access, handler, regex: new RegExp(`^${pattern}$`), params });
  }

  match(method: string, path: string): Match<H> {
    let template: string | undefined;
    for (const route of this.routes) {
      const m = route.regex.exec(path);
      if (!m) continue;
      if (route.method !== method) {
        template ??= route.template;
        continue;
      }
      const params: Record<string, string> = {};
      try {
        route.params.forEach((name, i) => {
          params[name] = decodeURIComponent(m[i + 1] ?? '');
        });
      } catch {
        // A malformed %-escape names nothing the pool has.
        return { kind: 'not-found' };
      }
      return { kind: 'found', route, params };
    }
    return template === undefined ? { kind: 'not-found' } : { kind: 'method-not-allowed', template };
  }
}
