import { status } from '@grpc/grpc-js';
import { DomainError, ERROR_KINDS } from '../../src/errors.js';
import { ERROR_CODES } from '../../src/server/error-codes.js';
import { toStatusError } from '../../src/server/handler.js';

describe('domain errors to gRPC codes', () => {
  it('maps every kind, and the situations csi-behaviour.md names', () => {
    for (const kind of ERROR_KINDS) expect(ERROR_CODES[kind]).toBeDefined();
    expect(toStatusError(new DomainError('not-found', 'volume v1 not found'), 'r1')).toEqual({
      code: status.NOT_FOUND,
      details: 'volume v1 not found',
      internal: false,
    });
    expect(toStatusError(new DomainError('mapped-elsewhere', 'x'), 'r').code).toBe(status.FAILED_PRECONDITION);
    expect(toStatusError(new DomainError('no-space', 'x'), 'r').code).toBe(status.RESOURCE_EXHAUSTED);
    expect(toStatusError(new DomainError('too-large', 'x'), 'r').code).toBe(status.OUT_OF_RANGE);
    expect(toStatusError(new DomainError('name-in-use', 'x'), 'r').code).toBe(status.ALREADY_EXISTS);
    expect(toStatusError(new DomainError('aborted', 'x'), 'r').code).toBe(status.ABORTED);
  });

  it('turns anything unknown into INTERNAL without leaking its message', () => {
    const mapped = toStatusError(new Error('connect ECONNREFUSED with password=abc'), 'req-7');
    expect(mapped.code).toBe(status.INTERNAL);
    expect(mapped.internal).toBe(true);
    expect(mapped.details).toContain('req-7');
    expect(mapped.details).not.toContain('abc');
  });

  it('passes an explicit gRPC status through', () => {
    expect(toStatusError({ code: status.INVALID_ARGUMENT, details: 'bad' }, 'r')).toEqual({ code: status.INVALID_ARGUMENT, details: 'bad', internal: false });
  });
});
