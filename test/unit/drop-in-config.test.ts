import { DomainError } from '../../src/errors.js';
import { ConfigError, parseConfig, withCsiPowerflexArrays } from '../../src/config/load.js';
import { POWERFLEX_PARAMETER_KEYS, parseParameters, checkSystem } from '../../src/backends/powerflex/parameters.js';
import { splitParameters } from '../../src/csi/parameters.js';

/** Issue 15, point 5: csi-powerflex's array Secret and StorageClass keys, read by Ferry unchanged. */
const ferryYaml = `
csiPowerflexArrays:
  file: /vxflexos-config/config
  storagePool: pool1
`;

/** As csi-powerflex's samples/secret/secret.yaml spells it (two arrays, the second the default). */
const secret = `
- username: "admin"
  password: "Password123"
  systemID: "1A99AA999999AA9A"
  allSystemNames: "pflex-1,pflex-2"
  endpoint: "https://127.0.0.1"
  skipCertificateValidation: true
  isDefault: false
  mdm: "10.0.0.1,10.0.0.2"
- username: "admin2"
  password: "Password456"
  systemID: "2b11bb111111bb1b"
  endpoint: "https://127.0.0.2"
  skipCertificateValidation: false
  isDefault: true
`;

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('accepted');
}

describe('csi-powerflex array Secret', () => {
  it('becomes PowerFlex backends, the default first, named by system id', () => {
    const config = withCsiPowerflexArrays(parseConfig(ferryYaml, 'ferry.yaml'), secret, 'ferry.yaml');
    expect(config.backends.map((b) => b.name)).toEqual(['2b11bb111111bb1b', '1a99aa999999aa9a']);
    expect(config.backends[0]).toMatchObject({ type: 'powerflex', endpoint: 'https://127.0.0.2', username: 'admin2', password: 'Password456', insecure: false, systemId: '2b11bb111111bb1b', storagePool: 'pool1' });
    expect(config.backends[1]).toMatchObject({ insecure: true, systemId: '1a99aa999999aa9a' });
  });

  it('reads the JSON form too, and a system given by name (no id: Ferry finds the one system)', () => {
    const json = JSON.stringify([{ username: 'u', password: 'p', systemID: 'My System', endpoint: 'https://gw', isDefault: 'true' }]);
    const config = withCsiPowerflexArrays(parseConfig(ferryYaml, 'ferry.yaml'), json, 'ferry.yaml');
    expect(config.backends).toEqual([expect.objectContaining({ name: 'array-0', insecure: true })]);
    expect(config.backends[0]).not.toHaveProperty('systemId');
  });

  it('refuses what it cannot use, naming the problem', () => {
    const base = parseConfig(ferryYaml, 'ferry.yaml');
    expect(problems(() => withCsiPowerflexArrays(base, '[]', 'f')).join()).toMatch(/names no array/);
    expect(problems(() => withCsiPowerflexArrays(base, '- username: a\n  password: b\n  systemID: c\n  endpoint: ftp://x\n', 'f')).join()).toMatch(/endpoint/);
    expect(problems(() => withCsiPowerflexArrays(base, '- username: a\n  password: b\n  systemID: c\n  endpoint: https://x\n  colour: red\n', 'f')).join()).toMatch(/colour/);
    const twoDefaults = secret.replace('isDefault: false', 'isDefault: true');
    expect(problems(() => withCsiPowerflexArrays(base, twoDefaults, 'f')).join()).toMatch(/exactly one must be isDefault/);
    const sameId = secret.replace('2b11bb111111bb1b', '1a99aa999999aa9a');
    expect(problems(() => withCsiPowerflexArrays(base, sameId, 'f')).join()).toMatch(/duplicate backend name/);
    expect(problems(() => parseConfig('csiPowerflexArrays:\n  file: /x\n', 'ferry.yaml')).join()).toMatch(/storagePool/);
  });
});

describe("csi-powerflex's StorageClass keys", () => {
  const keys = (): readonly string[] => POWERFLEX_PARAMETER_KEYS;
  const sc = { storagepool: 'pool1', protectiondomain: 'pd1', systemID: '1a99aa999999aa9a', mkfsFormatOption: '-m 1', 'csi.storage.k8s.io/fstype': 'ext4' };

  it('are aliases of Ferry\'s own keys', () => {
    const split = splitParameters(sc, keys);
    expect(split.backendParameters).toEqual({ storagePool: 'pool1', protectionDomain: 'pd1', systemId: '1a99aa999999aa9a' });
    expect(split.mkfsOptions).toBe('-m 1');
    const params = parseParameters(split.backendParameters, { storagePool: 'x', protectionDomain: undefined, thinOrThick: 'ThinProvisioned' });
    expect(params).toMatchObject({ storagePool: 'pool1', protectionDomain: 'pd1', systemId: '1a99aa999999aa9a' });
    expect(() => checkSystem(params, '1a99aa999999aa9a')).not.toThrow();
  });

  it('answer INVALID_ARGUMENT when they disagree with Ferry\'s key, name another system, or hold a bad value', () => {
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        if (err instanceof DomainError) return err.kind;
        throw err;
      }
      return 'accepted';
    };
    expect(code(() => splitParameters({ storagepool: 'a', storagePool: 'b' }, keys))).toBe('invalid-argument');
    expect(splitParameters({ storagepool: 'a', storagePool: 'a' }, keys).backendParameters).toEqual({ storagePool: 'a' });
    expect(code(() => splitParameters({ mkfsFormatOption: '-O ^has_journal; rm -rf /' }, keys))).toBe('invalid-argument');
    const defaults = { storagePool: 'x', protectionDomain: undefined, thinOrThick: 'ThinProvisioned' as const };
    expect(code(() => parseParameters({ systemId: 'NotAnId' }, defaults))).toBe('invalid-argument');
    expect(code(() => checkSystem(parseParameters({ systemId: 'ffffffffffffffff' }, defaults), '1a99aa999999aa9a'))).toBe('invalid-argument');
  });
});
