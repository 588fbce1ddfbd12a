import { DomainError } from '../../errors.js';

/**
 * The gateway's API root, from a configured endpoint that may or may not end in `/api` (operators copy either
 * form from Dell's documentation). The result never ends in a slash: paths are appended as `${apiRoot}/login`.
 */
export function normaliseEndpoint(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new DomainError('invalid-argument', `gateway endpoint "${endpoint}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new DomainError('invalid-argument', `gateway endpoint must be http or https, not ${url.protocol}`);
  }
  // Credentials in a URL end up in logs and error messages; they belong in username/password(File).
  if (url.username !== '' || url.password !== '') {
    throw new DomainError('invalid-argument', 'gateway endpoint must not contain credentials: use username and password');
  }
  if (url.search !== '' || url.hash !== '') {
    throw new DomainError('invalid-argument', `gateway endpoint must not have a query or fragment: ${url.origin}${url.pathname}`);
  }
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = /\/api$/i.test(path) ? `${path.slice(0, -4)}/api` : `${path}/api`;
  return url;
}

/** The URL of `path` (starting with "/", e.g. "/types/Volume/instances") under the API root. */
export function apiUrl(apiRoot: URL, path: string): URL {
  const url = new URL(apiRoot.href);
  url.pathname = `${apiRoot.pathname}${path}`;
  return url;
}

/** The printable form of a request for logs and errors: method and path, never host credentials or bodies. */
export function describeRequest(method: string, url: URL): string {
  return `${method} ${url.pathname}`;
}
