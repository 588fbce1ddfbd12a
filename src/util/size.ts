/**
 * Sizes are bigint everywhere inside Ferry: CSI's int64 byte counts exceed 2^53.
 * Parsing accepts Kubernetes-style quantities ("200Gi", "10G", "8388608").
 */
export const KiB = 1024n;
export const MiB = 1024n * KiB;
export const GiB = 1024n * MiB;
export const TiB = 1024n * GiB;

const UNITS: Record<string, bigint> = {
  '': 1n,
  k: 1000n,
  K: 1000n,
  M: 1000n ** 2n,
  G: 1000n ** 3n,
  T: 1000n ** 4n,
  P: 1000n ** 5n,
  Ki: KiB,
  Mi: MiB,
  Gi: GiB,
  Ti: TiB,
  Pi: 1024n * TiB,
};

/** Parses "200Gi" / "10G" / "4096" into bytes; throws a RangeError naming the input when it is not a size. */
export function parseSize(text: string): bigint {
  const match = /^\s*(\d+)\s*([kKMGTP]i?)?\s*$/.exec(text);
  const digits = match?.[1];
  const unit = UNITS[match?.[2] ?? ''];
  if (digits === undefined || unit === undefined) {
    throw new RangeError(`"${text}" is not a size (examples: 200Gi, 10G, 4096)`);
  }
  return BigInt(digits) * unit;
}

/** Converts a CSI int64 (string from the loader, number, or undefined) to bigint once, at the edge. */
export function int64ToBigInt(value: string | number | bigint | null | undefined): bigint {
  if (value === undefined || value === null || value === '') return 0n;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`${value} is not a safe integer`);
    return BigInt(value);
  }
  if (!/^-?\d+$/.test(value)) throw new RangeError(`"${value}" is not an integer`);
  return BigInt(value);
}

/** Rounds `bytes` up to a multiple of `unit`. */
export function roundUp(bytes: bigint, unit: bigint): bigint {
  if (unit <= 0n) throw new RangeError('unit must be positive');
  return ((bytes + unit - 1n) / unit) * unit;
}

/** "16Gi"-style text for messages; exact when the size is a whole number of the unit. */
export function formatSize(bytes: bigint): string {
  for (const [suffix, unit] of [
    ['Ti', TiB],
    ['Gi', GiB],
    ['Mi', MiB],
    ['Ki', KiB],
  ] as const) {
    if (bytes >= unit && bytes % unit === 0n) return `${bytes / unit}${suffix}`;
  }
  return `${bytes}B`;
}
