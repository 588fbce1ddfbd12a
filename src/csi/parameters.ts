import { DomainError } from '../errors.js';
import { PARAM_PREEMPTION, parsePreemptionMode, type PreemptionMode } from '../preemption/policy.js';
import { checkFsType, checkMkfsOptions } from '../parameters/volume-options.js';
import { isQosKey, parseQos, QOS_KEYS, type QosLimits } from '../parameters/qos.js';
import { DEFAULT_FS_TYPE, type FsType } from './capabilities.js';
import { canonicalParameters } from './parameter-aliases.js';

/** StorageClass keys every backend understands; each backend adds its own (Backend.parameterKeys). */
export const PARAM_BACKEND = 'backend';
export const PARAM_FS_TYPE = 'csi.storage.k8s.io/fstype';
export const PARAM_MKFS_OPTIONS = 'mkfsOptions';
/** Keys the external-provisioner adds or reserves (PVC/PV names, secrets references); never a backend's business. */
const PROVISIONER_PREFIX = 'csi.storage.k8s.io/';
/** The PVC/PV names the external-provisioner adds with --extra-create-metadata: passed on to backends that list them. */
const PROVISIONER_METADATA = new Set(['csi.storage.k8s.io/pvc/name', 'csi.storage.k8s.io/pvc/namespace', 'csi.storage.k8s.io/pv/name']);

/** Volume context keys the node plugin reads back. */
export { CONTEXT_FS_TYPE, CONTEXT_MKFS_OPTIONS } from '../parameters/volume-options.js';

export interface SplitParameters {
  /** undefined: the default backend. */
  backend: string | undefined;
  fsType: FsType;
  mkfsOptions: string | undefined;
  /** Preemption policy for single-node volumes; undefined: the backend's default. */
  preemption: PreemptionMode | undefined;
  /** Per-mapping QoS the StorageClass sets (csi-powerflex's keys); the volume context carries it to ControllerPublish. */
  qos: QosLimits;
  /** What is left for the backend, already checked against its keys. */
  backendParameters: Record<string, string>;
}

/**
 * Splits CreateVolume parameters: the generic keys here, the backend's own keys for it, and an INVALID_ARGUMENT for
 * anything else, so that a typo in a StorageClass fails loudly instead of being silently ignored.
 */
export function splitParameters(
  given: Readonly<Record<string, string>>,
  backendKeys: (backend: string | undefined) => readonly string[],
  maxVolumeBytes?: bigint,
): SplitParameters {
  const parameters = canonicalParameters(given);
  const backend = parameters[PARAM_BACKEND];
  const allowed = new Set(backendKeys(backend));
  const fsType = checkFsType(parameters[PARAM_FS_TYPE] ?? DEFAULT_FS_TYPE, `parameter ${PARAM_FS_TYPE}`);
  const backendParameters: Record<string, string> = {};
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(parameters)) {
    if (key === PARAM_BACKEND || key === PARAM_FS_TYPE || key === PARAM_MKFS_OPTIONS || key === PARAM_PREEMPTION || isQosKey(key) || (key.startsWith(PROVISIONER_PREFIX) && !(PROVISIONER_METADATA.has(key) && allowed.has(key)))) continue;
    if (allowed.has(key)) backendParameters[key] = value;
    else unknown.push(key);
  }
  if (unknown.length > 0) {
    const known = [PARAM_BACKEND, PARAM_FS_TYPE, PARAM_MKFS_OPTIONS, PARAM_PREEMPTION, ...QOS_KEYS, ...[...allowed].filter((k) => !PROVISIONER_METADATA.has(k))].join(', ');
    throw new DomainError('invalid-argument', `unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.sort().join(', ')} (known: ${known})`);
  }
  // The node's own allow-list, now: a StorageClass the node would refuse fails at CreateVolume, not at the first mount.
  const mkfsOptions = parameters[PARAM_MKFS_OPTIONS];
  if (mkfsOptions !== undefined) checkMkfsOptions(mkfsOptions, fsType, `parameter ${PARAM_MKFS_OPTIONS}`, maxVolumeBytes);
  const preemption = parameters[PARAM_PREEMPTION] === undefined ? undefined : parsePreemptionMode(parameters[PARAM_PREEMPTION], 'safe');
  return { backend, fsType, mkfsOptions, preemption, qos: parseQos(parameters, 'parameter'), backendParameters };
}
