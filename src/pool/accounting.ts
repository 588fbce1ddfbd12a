import type { StoragePoolStatistics } from './wire.js';
import { GiB, KiB } from '../util/size.js';
import { CODES, businessError } from './errors.js';
import { allocatedBytes } from './files.js';
import { volumeFile } from './paths.js';
import type { PoolState } from './state.js';

/**
 * Capacity accounting. The pool never promises more than it has: the sum of provisioned sizes (thin, thick and
 * snapshots alike) stays within --capacity, so `volumeAllocationLimitInKb` is the capacity itself and no host
 * can ever hit a full pool by writing. Thin and thick differ in what they occupy: a thick volume is reserved on
 * disk in full (fallocate) and counts in full; a thin volume or snapshot counts only the blocks really written,
 * read from the file system (st_blocks), so the figures move when hosts write.
 */
export const ALLOCATION_UNIT_KIB = (8n * GiB) / KiB;

/** Rounds a requested size up to the 8 GiB allocation unit (a request of 0 gets one unit). */
export function roundToAllocationUnit(kib: bigint): bigint {
  if (kib <= 0n) return ALLOCATION_UNIT_KIB;
  return ((kib + ALLOCATION_UNIT_KIB - 1n) / ALLOCATION_UNIT_KIB) * ALLOCATION_UNIT_KIB;
}

export interface Usage {
  thickProvisionedKiB: bigint;
  /** Thin volumes and snapshots. */
  thinProvisionedKiB: bigint;
  thinInUseKiB: bigint;
  snapInUseKiB: bigint;
  numThin: number;
  numThick: number;
  numSnapshots: number;
  numVtrees: number;
}

export async function measureUsage(state: PoolState, dataDir: string): Promise<Usage> {
  const usage: Usage = {
    thickProvisionedKiB: 0n,
    thinProvisionedKiB: 0n,
    thinInUseKiB: 0n,
    snapInUseKiB: 0n,
    numThin: 0,
    numThick: 0,
    numSnapshots: 0,
    numVtrees: new Set(state.volumes.map((v) => v.vtreeId)).size,
  };
  const allocated = await Promise.all(state.volumes.map((v) => allocatedBytes(volumeFile(dataDir, v.id))));
  state.volumes.forEach((v, i) => {
    if (v.volumeType === 'ThickProvisioned') {
      usage.thickProvisionedKiB += v.sizeKiB;
      usage.numThick += 1;
      return;
    }
    // A file can hold a little more than its size in metadata blocks; never report more than was provisioned.
    const inUse = (allocated[i] ?? 0n) / KiB;
    const capped = inUse < v.sizeKiB ? inUse : v.sizeKiB;
    usage.thinProvisionedKiB += v.sizeKiB;
    usage.thinInUseKiB += capped;
    if (v.volumeType === 'Snapshot') {
      usage.snapInUseKiB += capped;
      usage.numSnapshots += 1;
    } else {
      usage.numThin += 1;
    }
  });
  return usage;
}

function nonNegative(kib: bigint): bigint {
  return kib < 0n ? 0n : kib;
}

/** What may still be provisioned, in whole allocation units. */
export function availableForAllocationKiB(usage: Usage, capacityKiB: bigint): bigint {
  const room = nonNegative(capacityKiB - usage.thickProvisionedKiB - usage.thinProvisionedKiB);
  return (room / ALLOCATION_UNIT_KIB) * ALLOCATION_UNIT_KIB;
}

/** Refuses a create, grow or snapshot that would provision more than the pool holds. */
export function requireRoom(usage: Usage, capacityKiB: bigint, addKiB: bigint): void {
  if (addKiB > availableForAllocationKiB(usage, capacityKiB)) {
    throw businessError(
      CODES.PoolNoSpace,
      `Not enough capacity in the storage pool: ${addKiB} KB requested, ${availableForAllocationKiB(usage, capacityKiB)} KB available for allocation`,
    );
  }
}

/** The pool's statistics object; numbers are KiB (exact as JSON numbers well beyond any real pool). */
export function poolStatistics(usage: Usage, capacityKiB: bigint, numMappedToAll = 0): StoragePoolStatistics {
  const inUse = usage.thickProvisionedKiB + usage.thinInUseKiB;
  const unused = nonNegative(capacityKiB - inUse);
  const n = (v: bigint): number => Number(v);
  return {
    maxCapacityInKb: n(capacityKiB),
    capacityInUseInKb: n(inUse),
    capacityAvailableForVolumeAllocationInKb: n(availableForAllocationKiB(usage, capacityKiB)),
    volumeAllocationLimitInKb: n(capacityKiB),
    capacityLimitInKb: n(capacityKiB),
    // One copy of every block (no mirroring), so net and gross figures are the same.
    netCapacityInUseInKb: n(inUse),
    netUnusedCapacityInKb: n(unused),
    thinCapacityAllocatedInKb: n(usage.thinProvisionedKiB),
    thinCapacityInUseInKb: n(usage.thinInUseKiB),
    thickCapacityInUseInKb: n(usage.thickProvisionedKiB),
    snapCapacityInUseInKb: n(usage.snapInUseKiB),
    snapCapacityInUseOccupiedInKb: n(usage.snapInUseKiB),
    unusedCapacityInKb: n(unused),
    spareCapacityInKb: 0,
    numOfVolumes: usage.numThin + usage.numThick + usage.numSnapshots,
    numOfSnapshots: usage.numSnapshots,
    numOfMappedToAllVolumes: numMappedToAll,
    numOfThinBaseVolumes: usage.numThin,
    numOfThickBaseVolumes: usage.numThick,
    numOfVtrees: usage.numVtrees,
  };
}
