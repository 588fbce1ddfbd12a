import { DomainError } from '../errors.js';

/**
 * Per-mapping QoS, under csi-powerflex's StorageClass keys, checked here and nowhere else: StorageClass parameters and
 * mutable_parameters at CreateVolume, the volume context at ControllerPublish, mutable_parameters at
 * ControllerModifyVolume. The rules are the gateway's (setMappedSdcLimits): bandwidth in KiB/s on a 1024 KiB/s grain
 * (the gateway keeps whole MiB/s, `limitBwInMbps`), IOPS more than 10; 0 means unlimited in both.
 */
export const PARAM_BANDWIDTH_LIMIT = 'bandwidthLimitInKbps';
export const PARAM_IOPS_LIMIT = 'iopsLimit';
export const QOS_KEYS: readonly string[] = [PARAM_BANDWIDTH_LIMIT, PARAM_IOPS_LIMIT];

/** The gateway keeps bandwidth limits in whole MiB/s. */
export const BANDWIDTH_GRAIN_KBPS = 1024n;
/** The gateway refuses an IOPS limit of 10 or less (other than 0, unlimited). */
export const MIN_IOPS_LIMIT = 11n;
/** Far above any device; keeps the figures inside what the gateway's 32-bit fields and the kernel take. */
const MAX_LIMIT = 2n ** 31n - 1n;

/** Limits a request names; an absent key leaves that limit as it is (or unlimited, for a new volume). */
export interface QosLimits {
  /** KiB/s; 0 = unlimited. */
  bandwidthKbps?: bigint;
  /** Operations per second; 0 = unlimited. */
  iops?: bigint;
}

export function isQosKey(key: string): boolean {
  return QOS_KEYS.includes(key);
}

/** Whether the limits name anything. */
export function hasQos(limits: QosLimits): boolean {
  return limits.bandwidthKbps !== undefined || limits.iops !== undefined;
}

function decimal(value: string, field: string): bigint {
  if (!/^[0-9]{1,12}$/.test(value)) throw new DomainError('invalid-argument', `${field}: "${value}" is not a whole decimal number`);
  const n = BigInt(value);
  if (n > MAX_LIMIT) throw new DomainError('invalid-argument', `${field}: ${value} is more than ${MAX_LIMIT}`);
  return n;
}

/**
 * The QoS keys of `source` (other keys are ignored: the caller decides what else it accepts). `prefix` names where
 * they came from in messages ("parameter", "mutable_parameters", "volume_context").
 */
export function parseQos(source: Readonly<Record<string, string>>, prefix: string): QosLimits {
  const limits: QosLimits = {};
  const bandwidth = source[PARAM_BANDWIDTH_LIMIT];
  if (bandwidth !== undefined) {
    const field = `${prefix} ${PARAM_BANDWIDTH_LIMIT}`;
    const kbps = decimal(bandwidth, field);
    if (kbps % BANDWIDTH_GRAIN_KBPS !== 0n) {
      throw new DomainError('invalid-argument', `${field}: ${kbps} is not a multiple of ${BANDWIDTH_GRAIN_KBPS} (the gateway limits bandwidth in whole MiB/s); 0 is unlimited`);
    }
    limits.bandwidthKbps = kbps;
  }
  const iops = source[PARAM_IOPS_LIMIT];
  if (iops !== undefined) {
    const field = `${prefix} ${PARAM_IOPS_LIMIT}`;
    const n = decimal(iops, field);
    if (n !== 0n && n < MIN_IOPS_LIMIT) throw new DomainError('invalid-argument', `${field}: ${n} is too low (at least ${MIN_IOPS_LIMIT}; 0 is unlimited)`);
    limits.iops = n;
  }
  return limits;
}

/** `later` over `earlier`, key by key. */
export function overlayQos(earlier: QosLimits, later: QosLimits): QosLimits {
  const merged: QosLimits = { ...earlier };
  if (later.bandwidthKbps !== undefined) merged.bandwidthKbps = later.bandwidthKbps;
  if (later.iops !== undefined) merged.iops = later.iops;
  return merged;
}

/** The limits as volume context (or mutable parameter) entries. */
export function qosToContext(limits: QosLimits): Record<string, string> {
  const context: Record<string, string> = {};
  if (limits.bandwidthKbps !== undefined) context[PARAM_BANDWIDTH_LIMIT] = limits.bandwidthKbps.toString();
  if (limits.iops !== undefined) context[PARAM_IOPS_LIMIT] = limits.iops.toString();
  return context;
}

/**
 * ControllerModifyVolume's and CreateVolume's mutable_parameters: only the QoS keys are mutable; anything else is
 * INVALID_ARGUMENT, naming what is.
 */
export function parseMutableParameters(mutable: Readonly<Record<string, string>>, field = 'mutable_parameters'): QosLimits {
  const refused = Object.keys(mutable).filter((k) => !isQosKey(k)).sort();
  if (refused.length > 0) {
    throw new DomainError('invalid-argument', `${field} ${refused.join(', ')}: not mutable (the mutable parameters are ${QOS_KEYS.join(', ')})`);
  }
  return parseQos(mutable, field);
}
