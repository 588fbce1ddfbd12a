import { DomainError } from '../errors.js';

/**
 * What to do when a single-node volume is wanted on one node while another node holds it.
 * never: refuse (Dell's behaviour). safe: take it over only on evidence that the holder is gone, fencing it first.
 * force: take it over regardless (REX-Ray's `preempt: true`), for those who ask for it.
 */
export const PREEMPTION_MODES = ['never', 'safe', 'force'] as const;
export type PreemptionMode = (typeof PREEMPTION_MODES)[number];
export const DEFAULT_PREEMPTION: PreemptionMode = 'safe';

/** StorageClass parameter and volume context key. */
export const PARAM_PREEMPTION = 'preemption';

export function parsePreemptionMode(value: string | undefined, fallback: PreemptionMode): PreemptionMode {
  if (value === undefined || value === '') return fallback;
  if ((PREEMPTION_MODES as readonly string[]).includes(value)) return value as PreemptionMode;
  throw new DomainError('invalid-argument', `parameter ${PARAM_PREEMPTION}: "${value}" is not one of ${PREEMPTION_MODES.join(', ')}`);
}
