import { redact, redactString, REDACTED } from '../../src/util/redact.js';

describe('redact', () => {
  it('hides CSI secrets maps at any depth and keeps the rest', () => {
    const request = {
      name: 'pvc-1',
      secrets: { password: 'hunter2' },
      volume_capabilities: [{ mount: { mount_flags: ['noatime', 'password=hunter2,vers=4'] } }],
      nested: { deeper: { secrets: { token: 'abc' } } },
    };
    const out = JSON.stringify(redact(request));
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('abc');
    expect(out).toContain('pvc-1');
    expect(out).toContain('noatime');
    expect(out).toContain(REDACTED);
  });

  it('leaves an empty secrets map visible as empty', () => {
    expect(redact({ secrets: {} })).toEqual({ secrets: {} });
  });

  it('hides password-like keys and literal secrets in strings', () => {
    expect(redact({ gatewayPassword: 'x', user: 'admin' })).toEqual({ gatewayPassword: REDACTED, user: 'admin' });
    expect(redactString('login with s3cret now', ['s3cret'])).toBe(`login with ${REDACTED} now`);
  });

  it('turns bigints and buffers into loggable values', () => {
    expect(redact({ size: 10n, blob: Buffer.from('abc') })).toEqual({ size: '10', blob: '[3 bytes]' });
  });
});
