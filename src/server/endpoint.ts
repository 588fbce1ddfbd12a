/** Where the CSI server listens: a Unix socket (bare path or unix:// URL) or tcp://host:port. */
export type Endpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export function parseEndpoint(text: string): Endpoint {
  if (text.startsWith('unix://')) {
    const path = text.slice('unix://'.length);
    if (!path.startsWith('/')) throw new RangeError(`endpoint "${text}": a unix endpoint needs an absolute path (unix:///path)`);
    return { kind: 'unix', path };
  }
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    if (!path.startsWith('/')) throw new RangeError(`endpoint "${text}": a unix endpoint needs an absolute path`);
    return { kind: 'unix', path };
  }
  if (text.startsWith('tcp://')) {
    const match = /^(?:\[([^\]]+)\]|([^:/]+)):(\d+)$/.exec(text.slice('tcp://'.length));
    const port = Number(match?.[3]);
    if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`endpoint "${text}": expected tcp://host:port`);
    }
    return { kind: 'tcp', host: match[1] ?? match[2] ?? '', port };
  }
  if (text.startsWith('/')) return { kind: 'unix', path: text };
  throw new RangeError(`endpoint "${text}": expected a socket path, unix:///path or tcp://host:port`);
}

/** The address grpc-js binds. */
export function grpcAddress(endpoint: Endpoint): string {
  return endpoint.kind === 'unix' ? `unix:${endpoint.path}` : `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
}
