import { DomainError } from '../errors.js';

/** A required string field of a request; INVALID_ARGUMENT naming it when it is empty. */
export function requireField(value: string | undefined, field: string): string {
  if (value === undefined || value === '') throw new DomainError('invalid-argument', `${field} is required`);
  return value;
}
