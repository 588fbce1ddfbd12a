/**
 * Domain errors: what went wrong, in the storage system's terms. Backends and helpers throw these and never
 * import gRPC; the server maps each kind to a status code in exactly one table (server/error-codes.ts).
 */
export const ERROR_KINDS = [
  'invalid-argument',
  'not-found',
  'already-exists',
  'name-in-use',
  'out-of-range',
  'too-large',
  'no-space',
  'resource-exhausted',
  'failed-precondition',
  'already-mapped',
  'not-mapped',
  'mapped-elsewhere',
  'aborted',
  'unavailable',
  'deadline-exceeded',
  'unauthorized',
  'unimplemented',
  'internal',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

export class DomainError extends Error {
  override readonly name = 'DomainError';

  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isDomainError(err: unknown, kind?: ErrorKind): err is DomainError {
  return err instanceof DomainError && (kind === undefined || err.kind === kind);
}

/** A message for any thrown value, for logs and wrapped errors. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
