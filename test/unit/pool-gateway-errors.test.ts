import { describe, expect, it } from '@jest/globals';
import { GATEWAY_ERROR_CODES, classifyGatewayAnswer } from '../../src/backends/powerflex/errors.js';
import type { ErrorKind } from '../../src/errors.js';
import { GATEWAY_MESSAGES, POOL_CODES, type PoolCodeName } from '../../src/pool/gateway-errors.js';

/**
 * `ferry pool` keeps its own table of the gateway's codes (it mirrors the gateway, not Ferry's client); the client
 * classifies by code. The two must agree, or the pool would answer something the client misreads.
 */
const KIND_OF: Record<Exclude<PoolCodeName, 'Invalid'>, ErrorKind> = {
  NotFound: 'not-found',
  VolumeNotFound: 'not-found',
  SdcNotFound: 'not-found',
  AlreadyMappedToThisSdc: 'already-mapped',
  NotMappedToThisSdc: 'not-mapped',
  VolumeNameInUse: 'name-in-use',
  VolumeIsMapped: 'failed-precondition',
  SizeCanOnlyGrow: 'failed-precondition',
  ProtectionDomainNotFound: 'not-found',
  TooManySnapshots: 'resource-exhausted',
  SnapshotGroupNotFound: 'not-found',
  NameTooLong: 'invalid-argument',
  MappedMoreMappingsNotAllowed: 'mapped-elsewhere',
  PoolNoSpace: 'no-space',
};

describe('the pool error table and the client classification', () => {
  it('gives every code the same number on both sides', () => {
    for (const [name, code] of Object.entries(POOL_CODES)) {
      expect([name, GATEWAY_ERROR_CODES[name as keyof typeof GATEWAY_ERROR_CODES]]).toEqual([name, code]);
    }
  });

  it('has the client read every business error the pool answers as what it means', () => {
    const seen = Object.keys(KIND_OF).map((name) => [name, classifyGatewayAnswer(500, POOL_CODES[name as PoolCodeName])]);
    expect(seen).toEqual(Object.entries(KIND_OF));
  });

  it('has a gateway text for every code but the pool-own ones, none of them carrying an id', () => {
    expect(Object.keys(GATEWAY_MESSAGES).sort()).toEqual(
      Object.keys(POOL_CODES)
        .filter((n) => n !== 'Invalid' && n !== 'PoolNoSpace')
        .sort(),
    );
    for (const message of Object.values(GATEWAY_MESSAGES)) expect(message).not.toMatch(/[0-9a-f]{16}/);
  });
});
