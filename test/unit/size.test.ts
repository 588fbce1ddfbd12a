import { GiB, formatSize, int64ToBigInt, parseSize, roundUp } from '../../src/util/size.js';

describe('sizes', () => {
  it('parses quantities into bigint bytes', () => {
    expect(parseSize('200Gi')).toBe(200n * GiB);
    expect(parseSize('10G')).toBe(10_000_000_000n);
    expect(parseSize('4096')).toBe(4096n);
    expect(parseSize('16Ti')).toBe(16n * 1024n * GiB);
  });

  it('rejects what is not a size', () => {
    for (const bad of ['', '-1', '10 GiB', '1.5Gi', 'Gi']) expect(() => parseSize(bad)).toThrow(RangeError);
  });

  it('converts CSI int64 strings beyond 2^53 exactly', () => {
    expect(int64ToBigInt('9223372036854775807')).toBe(9223372036854775807n);
    expect(int64ToBigInt(undefined)).toBe(0n);
    expect(int64ToBigInt('')).toBe(0n);
    expect(() => int64ToBigInt('12abc')).toThrow(RangeError);
    // The bug a string comparison would make: "9000000000" > "10000000000" as text.
    expect(int64ToBigInt('9000000000') < int64ToBigInt('10000000000')).toBe(true);
  });

  it('rounds up to a granularity and formats', () => {
    expect(roundUp(10n * GiB, 8n * GiB)).toBe(16n * GiB);
    expect(roundUp(16n * GiB, 8n * GiB)).toBe(16n * GiB);
    expect(formatSize(16n * GiB)).toBe('16Gi');
    expect(formatSize(1000n)).toBe('1000B');
  });
});
