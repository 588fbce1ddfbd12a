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
    expect(config.node).toEqual({});
  });

  it('accepts an empty file', () => {
    expect(parseConfig('', 'empty.yaml')).toEqual({ backends: [], node: {} });
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
    expect(problemsOf(valid.replace('    username: admin\n', ''))).toEqual([expect.stringMatching(/^key backends\[0\]\.username: /)]);
    expect(problemsOf('backends:\n  - name: x\n    type: ceph\n')).toEqual([expect.stringMatching(/^key backends\[0\]\.type: /)]);
  });

  it('rejects duplicate backend names, both or neither password, and YAML errors', () => {
    expect(problemsOf(`${valid}${valid.replace('backends:\n', '')}`)).toEqual([expect.stringContaining('duplicate backend name')]);
    expect(problemsOf(valid.replace('passwordFile: /etc/ferry/password', 'password: a\n    passwordFile: /b'))).toEqual([
      expect.stringContaining('exactly one of password and passwordFile'),
    ]);
    expect(problemsOf('backends: [')[0]).toMatch(/^YAML: /);
  });
});
