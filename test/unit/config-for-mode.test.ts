import { ConfigError, parseConfig } from '../../src/config/load.js';
import { checkConfigForMode } from '../../src/driver/config-for-mode.js';
import { insecureSettings } from '../../src/driver/insecure-settings.js';
import type { DriverMode } from '../../src/driver/options.js';

const unix = { kind: 'unix', path: '/csi/csi.sock' } as const;

function config(lines: readonly string[]): ReturnType<typeof parseConfig> {
  return parseConfig(['backends:', '  - name: pool', '    type: powerflex', '    storagePool: pool1', ...lines.map((l) => `    ${l}`), ''].join('\n'), 'ferry.yaml');
}

function problems(lines: readonly string[], mode: DriverMode): string[] {
  try {
    checkConfigForMode(config(lines), mode, 'ferry.yaml');
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

const withCredentials = ['endpoint: https://gw.example.com', 'username: admin', 'passwordFile: /p'];
const nodeOnly = ['endpoint: https://gw.example.com', 'systemId: 0123456789abcdef'];

describe('what each mode needs from the configuration', () => {
  test('the controller (and all) need the gateway login', () => {
    for (const mode of ['controller', 'all'] as const) {
      expect(problems(withCredentials, mode)).toEqual([]);
      expect(problems(nodeOnly, mode)).toEqual([expect.stringMatching(/^key backends\[0\]: username and one of password or passwordFile are required/)]);
      expect(problems(['endpoint: https://gw.example.com', 'password: x'], mode)).toHaveLength(1);
    }
  });

  test('the node plugin needs the system id, never credentials', () => {
    expect(problems(nodeOnly, 'node')).toEqual([]);
    // Without systemId, credentials are the old way (the node asks the gateway); with neither it cannot work.
    expect(problems(withCredentials, 'node')).toEqual([]);
    expect(problems(['endpoint: https://gw.example.com'], 'node')).toEqual(['key backends[0].systemId: required for the node plugin, which never logs in to the gateway']);
  });

  test('an http:// endpoint with a caFile is refused at load (the CA would be ignored)', () => {
    expect(() => config(['endpoint: http://gw.example.com', 'caFile: /ca.pem', 'username: a', 'password: b'])).toThrow(/caFile is set but the endpoint is plain http/);
    expect(() => config(['endpoint: https://gw.example.com', 'caFile: /ca.pem', 'username: a', 'password: b'])).not.toThrow();
  });
});

describe('warnings at start-up', () => {
  test('insecure TLS, plain HTTP with a password, an unauthenticated TCP endpoint', () => {
    expect(insecureSettings(config(withCredentials), unix, 'controller')).toEqual([]);
    expect(insecureSettings(config([...withCredentials, 'insecure: true']), unix, 'controller')).toEqual([expect.stringMatching(/TLS verification of the gateway is off/)]);
    expect(insecureSettings(config(['endpoint: http://gw.example.com', 'username: admin', 'password: x']), unix, 'all')).toEqual([expect.stringMatching(/plain http:\/\/: the password crosses the network in clear/)]);
    expect(insecureSettings(config(withCredentials), { kind: 'tcp', host: '0.0.0.0', port: 10000 }, 'controller')).toEqual([
      expect.stringMatching(/^CSI endpoint tcp:\/\/0\.0\.0\.0:10000 has no authentication/),
    ]);
  });

  test('a node plugin that names the system is not warned about the gateway it never calls, but about credentials it holds', () => {
    expect(insecureSettings(config([...nodeOnly, 'insecure: true']), unix, 'node')).toEqual([]);
    expect(insecureSettings(config([...withCredentials, 'systemId: 0123456789abcdef']), unix, 'node')).toEqual([expect.stringMatching(/never uses the gateway credentials/)]);
    expect(insecureSettings(config(withCredentials), unix, 'node')).toEqual([expect.stringMatching(/only to learn the system id: set systemId/)]);
  });
});
