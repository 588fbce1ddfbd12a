import { describe, expect, it } from '@jest/globals';
import { apiUrl, normaliseEndpoint } from '../../../src/backends/powerflex/endpoint.js';
import { isDomainError } from '../../../src/errors.js';

describe('normaliseEndpoint', () => {
  it.each([
    ['https://gw.example', 'https://gw.example/api'],
    ['https://gw.example/', 'https://gw.example/api'],
    ['https://gw.example/api', 'https://gw.example/api'],
    ['https://gw.example/api/', 'https://gw.example/api'],
    ['https://gw.example/api//', 'https://gw.example/api'],
    ['https://gw.example/API', 'https://gw.example/api'],
    ['https://gw.example:8443', 'https://gw.example:8443/api'],
    ['https://gw.example:443/api', 'https://gw.example/api'],
    ['http://127.0.0.1:9000', 'http://127.0.0.1:9000/api'],
    ['https://lb.example/powerflex', 'https://lb.example/powerflex/api'],
    ['https://lb.example/powerflex/api/', 'https://lb.example/powerflex/api'],
    ['https://[::1]:8443/', 'https://[::1]:8443/api'],
  ])('%s → %s', (input, expected) => {
    expect(normaliseEndpoint(input).href).toBe(expected);
  });

  it('does not take a path that merely ends in "api" for the API root', () => {
    expect(normaliseEndpoint('https://gw.example/myapi').href).toBe('https://gw.example/myapi/api');
  });

  it.each(['not a url', 'ftp://gw.example', 'https://admin:secret@gw.example', 'https://gw.example/api?x=1', 'https://gw.example/#x'])(
    'rejects %s as invalid-argument',
    (input) => {
      let caught: unknown;
      try {
        normaliseEndpoint(input);
      } catch (err) {
        caught = err;
      }
      expect(isDomainError(caught, 'invalid-argument')).toBe(true);
      // A URL with credentials must not echo them back.
      expect(String((caught as Error).message)).not.toContain('secret');
    },
  );
});

describe('apiUrl', () => {
  it('appends paths under the API root, keeping :: in instance paths', () => {
    const root = normaliseEndpoint('https://gw.example/prefix/');
    expect(apiUrl(root, '/instances/Volume::0123456789abcdef/action/removeVolume').href).toBe(
      'https://gw.example/prefix/api/instances/Volume::0123456789abcdef/action/removeVolume',
    );
    expect(apiUrl(root, '/login').href).toBe('https://gw.example/prefix/api/login');
  });
});
