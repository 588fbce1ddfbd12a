import { describe, expect, it } from '@jest/globals';
import type { ErrorKind } from '../../../src/errors.js';
import {
  classifyGatewayAnswer,
  isRetryableStatus,
  isRetryableTransportCode,
  isTlsVerificationCode,
  parseErrorBody,
} from '../../../src/backends/powerflex/errors.js';

describe('classifyGatewayAnswer', () => {
  const byCode: [number, number, ErrorKind][] = [
    [500, 3, 'not-found'],
    [500, 78, 'not-found'],
    [500, 79, 'not-found'],
    [500, 80, 'not-found'],
    [500, 142, 'not-found'],
    [500, 81, 'already-mapped'],
    [500, 84, 'not-mapped'],
    [500, 99, 'name-in-use'],
    [500, 104, 'failed-precondition'],
    [500, 133, 'failed-precondition'],
    [500, 182, 'resource-exhausted'],
    [500, 226, 'invalid-argument'],
    [500, 297, 'mapped-elsewhere'],
    [500, 306, 'mapped-elsewhere'],
    [500, 1001, 'no-space'],
    [400, 0, 'invalid-argument'],
    // A known code decides even when a proxy or gateway version changes the status.
    [400, 79, 'not-found'],
    [404, 99, 'name-in-use'],
  ];
  it.each(byCode)('HTTP %i errorCode %i → %s', (status, code, kind) => {
    expect(classifyGatewayAnswer(status, code)).toBe(kind);
  });

  const byStatus: [number, number | undefined, ErrorKind][] = [
    [401, 0, 'unauthorized'],
    [401, undefined, 'unauthorized'],
    [403, undefined, 'unauthorized'],
    [400, undefined, 'invalid-argument'],
    [422, 12, 'invalid-argument'],
    [404, undefined, 'not-found'],
    [408, undefined, 'unavailable'],
    [429, undefined, 'unavailable'],
    [500, undefined, 'unavailable'],
    [500, 0, 'unavailable'],
    [500, 6543, 'unavailable'],
    [502, undefined, 'unavailable'],
    [503, undefined, 'unavailable'],
    [405, undefined, 'internal'],
    [415, undefined, 'internal'],
  ];
  it.each(byStatus)('HTTP %i errorCode %s → %s', (status, code, kind) => {
    expect(classifyGatewayAnswer(status, code)).toBe(kind);
  });
});

describe('parseErrorBody', () => {
  it('reads errorCode and message from the JSON body', () => {
    expect(parseErrorBody('{"message":"Could not find the volume","httpStatusCode":500,"errorCode":79}', 'application/json')).toEqual({
      errorCode: 79,
      message: 'Could not find the volume',
    });
  });
  it('accepts an errorCode sent as a string and JSON without a content type', () => {
    expect(parseErrorBody('{"errorCode":"99"}', undefined)).toEqual({ errorCode: 99 });
  });
  it('ignores HTML pages, empty bodies, arrays and garbage', () => {
    expect(parseErrorBody('<html><body>Internal Server Error</body></html>', 'text/html')).toEqual({});
    expect(parseErrorBody('', undefined)).toEqual({});
    expect(parseErrorBody('[1]', 'application/json')).toEqual({});
    expect(parseErrorBody('{not json', 'application/json')).toEqual({});
    expect(parseErrorBody('{"errorCode":7.5}', 'application/json')).toEqual({});
  });
});

describe('retry and TLS classification', () => {
  it.each(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'FERRY_CONNECT_TIMEOUT', 'FERRY_RESPONSE_INTERRUPTED'])(
    '%s is retryable',
    (code) => expect(isRetryableTransportCode(code)).toBe(true),
  );
  it.each(['ENOTFOUND', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'FERRY_STOPPED', 'FERRY_BODY_TOO_LARGE', 'EUNKNOWN'])('%s is not retryable', (code) =>
    expect(isRetryableTransportCode(code)).toBe(false),
  );
  it('treats certificate refusals as TLS verification failures', () => {
    expect(isTlsVerificationCode('DEPTH_ZERO_SELF_SIGNED_CERT')).toBe(true);
    expect(isTlsVerificationCode('ERR_TLS_CERT_ALTNAME_INVALID')).toBe(true);
    expect(isTlsVerificationCode('ECONNRESET')).toBe(false);
    expect(isTlsVerificationCode(undefined)).toBe(false);
  });
  it('retries 502/503/504 only when the gateway gave no errorCode', () => {
    expect(isRetryableStatus(503, undefined)).toBe(true);
    expect(isRetryableStatus(502, undefined)).toBe(true);
    expect(isRetryableStatus(503, 12)).toBe(false);
    expect(isRetryableStatus(500, undefined)).toBe(false);
  });
});
