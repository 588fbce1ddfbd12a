import { DomainError } from '../../errors.js';
import { GiB, formatSize, roundUp } from '../../util/size.js';
import type { CapacityRange } from '../backend.js';

/** The system allocates in multiples of 8 GiB; asking for less than that still costs 8 GiB. */
export const ALLOCATION_UNIT = 8n * GiB;

/**
 * The size to create for a capacity range: whole GiB, at least one, then up to the allocation unit (what the
 * gateway would do anyway; rounding first lets us answer OUT_OF_RANGE before creating anything).
 */
export function allocationFor(range: CapacityRange, maximumBytes?: bigint): bigint {
  if (range.requiredBytes < 0n || range.limitBytes < 0n) throw new DomainError('invalid-argument', 'capacity range values must not be negative');
  if (range.limitBytes > 0n && range.requiredBytes > range.limitBytes) {
    throw new DomainError('invalid-argument', `required_bytes ${range.requiredBytes} exceeds limit_bytes ${range.limitBytes}`);
  }
  const wanted = range.requiredBytes > 0n ? range.requiredBytes : ALLOCATION_UNIT;
  const size = roundUp(roundUp(wanted, GiB), ALLOCATION_UNIT);
  if (range.limitBytes > 0n && size > range.limitBytes) {
    throw new DomainError(
      'out-of-range',
      `the storage system allocates in units of ${formatSize(ALLOCATION_UNIT)}: ${formatSize(size)} would exceed limit_bytes ${range.limitBytes}`,
    );
  }
  if (maximumBytes !== undefined && size > maximumBytes) {
    throw new DomainError('out-of-range', `${formatSize(size)} exceeds the largest volume the system allows (${formatSize(maximumBytes)})`);
  }
  return size;
}

/** Whether an existing volume of `sizeBytes` satisfies a (retried) request's range. */
export function fitsRange(sizeBytes: bigint, range: CapacityRange): boolean {
  return sizeBytes >= range.requiredBytes && (range.limitBytes === 0n || sizeBytes <= range.limitBytes);
}
