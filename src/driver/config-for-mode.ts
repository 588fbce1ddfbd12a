import { hasGatewayCredentials } from '../backends/powerflex/config.js';
import { ConfigError } from '../config/load.js';
import type { FerryConfig } from '../config/schema.js';
import type { DriverMode } from './options.js';

/**
 * What a configuration must hold for the services this process serves. The controller logs in to the gateway, so it
 * needs the credentials; a node plugin never needs them: it needs the system id (its topology and device names),
 * which it takes from the config. A node config without systemId may still name credentials (the node then asks the
 * gateway once, as before); one with neither cannot work. Problems are named like the loader's, for the same exit 2.
 */
export function checkConfigForMode(config: FerryConfig, mode: DriverMode, file: string): void {
  const problems: string[] = [];
  config.backends.forEach((backend, index) => {
    if (backend.type !== 'powerflex') return;
    const at = `key backends[${index}]`;
    const credentials = hasGatewayCredentials(backend);
    if (mode !== 'node' && !credentials) {
      problems.push(`${at}: username and one of password or passwordFile are required where the controller runs (--mode ${mode})`);
    }
    if (mode === 'node' && backend.systemId === undefined && !credentials) {
      problems.push(`${at}.systemId: required for the node plugin, which never logs in to the gateway`);
    }
  });
  if (problems.length > 0) throw new ConfigError(file, problems);
}
