import { status } from '@grpc/grpc-js';
import type { ErrorKind } from '../errors.js';

/** The one table from domain errors to gRPC status codes (see shared/reference/csi-behaviour.md). */
export const ERROR_CODES: Record<ErrorKind, status> = {
  'invalid-argument': status.INVALID_ARGUMENT,
  'not-found': status.NOT_FOUND,
  'already-exists': status.ALREADY_EXISTS,
  'name-in-use': status.ALREADY_EXISTS,
  'out-of-range': status.OUT_OF_RANGE,
  'too-large': status.OUT_OF_RANGE,
  'no-space': status.RESOURCE_EXHAUSTED,
  'resource-exhausted': status.RESOURCE_EXHAUSTED,
  'failed-precondition': status.FAILED_PRECONDITION,
  'already-mapped': status.FAILED_PRECONDITION,
  'not-mapped': status.FAILED_PRECONDITION,
  'mapped-elsewhere': status.FAILED_PRECONDITION,
  aborted: status.ABORTED,
  unavailable: status.UNAVAILABLE,
  'deadline-exceeded': status.DEADLINE_EXCEEDED,
  // The backend refused Ferry's own credentials: the caller can do nothing about it, the operator can.
  unauthorized: status.UNAVAILABLE,
  unimplemented: status.UNIMPLEMENTED,
  internal: status.INTERNAL,
};

export function statusName(code: status): string {
  return status[code] ?? String(code);
}
