import { ConfigError, parseConfig } from '../../src/config/load.js';

const valid = `
backends:
  - name: pool
    type: powerflex
    endpoint: https://127.0.0.1:8443
    username: admin
    passwordFile: /etc/ferry/password
    storagePool: pool1
`;

function problemsOf(text: string): string[] {
  try {
    parseConfig(text, 'ferry.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('config was accepted');
}

describe('configuration', () => {
  it('accepts a valid file and fills defaults', () => {
    const config = parseConfig(valid, 'ferry.yaml');
    expect(config.backends[0]).toMatchObject({ name: 'pool', insecure: false, thinOrThick: 'ThinProvisioned', requestTimeoutSeconds: 30 });
    expect(config.node).toMatchObject({ deviceDir: '/dev/disk/by-id', maxVolumes: 0, sdcGuidCommand: ['/opt/emc/scaleio/sdc/bin/drv_cfg', '--query_guid'] });
  });

  it('accepts an empty file', () => {
    expect(parseConfig('', 'empty.yaml')).toMatchObject({ backends: [], node: { stateDir: '/var/lib/ferry/node' } });
  });

  it('names a misspelt key with its path', () => {
    expect(problemsOf(valid.replace('storagePool', 'storagePoll'))).toEqual(
      expect.arrayContaining(['key backends[0].storagePoll: unknown key', expect.stringMatching(/^key backends\[0\]\.storagePool: /)]),
    );
    expect(problemsOf('backend: []')).toEqual(['key backend: unknown key']);
  });

  it('names a wrong type', () => {
    expect(problemsOf(valid.replace('passwordFile: /etc/ferry/password', 'passwordFile: /p\n    insecure: "yes"'))).toEqual([
      expect.stringMatching(/^key backends\[0\]\.insecure: .*boolean/),
    ]);
  });

  it('names a missing field and an unknown backend type', () => {
    expect(problemsOf(valid.replace('    storagePool: pool1\n', ''))).toEqual([expect.stringMatching(/^key backends\[0\]\.storagePool: /)]);
    expect(problemsOf('backends:\n  - name: x\n    type: ceph\n')).toEqual([expect.stringMatching(/^key backends\[0\]\.type: /)]);
  });

  it('validates the node section', () => {
    const node = parseConfig('node:\n  sdcGuid: 7c1a7e5f-0b1d-4c1b-9e1a-3f0c2d4b5a61\n  sdcRescanCommand: /bin/true --rescan\n', 'n.yaml').node;
    expect(node.sdcRescanCommand).toEqual(['/bin/true', '--rescan']);
    expect(problemsOf('node:\n  sdcGuid: not-a-guid\n')).toEqual(['key node.sdcGuid: a GUID']);
    expect(problemsOf('node:\n  devicedir: /dev\n')).toEqual(['key node.devicedir: unknown key']);
  });

  it('rejects duplicate backend names, both or neither password, and YAML errors', () => {
    expect(problemsOf(`${valid}${valid.replace('backends:\n', '')}`)).toEqual([expect.stringContaining('duplicate backend name')]);
    expect(problemsOf(valid.replace('passwordFile: /etc/ferry/password', 'password: a\n    passwordFile: /b'))).toEqual([
      expect.stringContaining('at most one of password and passwordFile'),
    ]);
    expect(problemsOf('backends: [')[0]).toMatch(/^YAML: /);
  });
});
