import { hasGatewayCredentials, isPlainHttp } from '../backends/powerflex/config.js';
import type { FerryConfig } from '../config/schema.js';
import type { Endpoint } from '../server/endpoint.js';
import type { DriverMode } from './options.js';

/**
 * Settings that work but leave a door open, as sentences for a warning at start-up: an operator reading the log sees
 * them before anything is served. Nothing here refuses to start (a lab or a test may mean them).
 */
export function insecureSettings(config: FerryConfig, endpoint: Endpoint, mode: DriverMode): string[] {
  const warnings: string[] = [];
  if (endpoint.kind === 'tcp') {
    warnings.push(
      `CSI endpoint tcp://${endpoint.host}:${endpoint.port} has no authentication: anyone who reaches the port can create, publish and delete volumes; use a unix socket`,
    );
  }
  for (const backend of config.backends) {
    if (backend.type !== 'powerflex') continue;
    const usesGateway = mode !== 'node' || backend.systemId === undefined;
    if (mode === 'node' && hasGatewayCredentials(backend)) {
      warnings.push(
        backend.systemId === undefined
          ? `backend ${backend.name}: the node plugin holds gateway credentials only to learn the system id: set systemId and remove them from the node's configuration`
          : `backend ${backend.name}: the node plugin never uses the gateway credentials in its configuration: remove them`,
      );
    }
    if (!usesGateway) continue;
    if (backend.insecure) {
      warnings.push(`backend ${backend.name}: TLS verification of the gateway is off (insecure: true): whoever sits on the path can impersonate the gateway and read its password`);
    }
    if (isPlainHttp(backend.endpoint) && hasGatewayCredentials(backend)) {
      warnings.push(`backend ${backend.name}: the gateway endpoint is plain http://: the password crosses the network in clear; use https://`);
    }
  }
  return warnings;
}
