import type { HolderEvidence } from './evidence.js';
import type { PreemptionMode } from './policy.js';

export type Decision =
  | { action: 'take-over'; reasons: string[]; warning: boolean }
  | { action: 'refuse'; missing: string[] };

/**
 * Whether to take a volume over from the node that holds it. Pure: the evidence is gathered elsewhere, so every
 * combination of signals can be tested as a table.
 *
 * `safe` needs both sides to agree that the holder is gone: the storage system (its client is Disconnected and the
 * volume did no I/O during the confirmation window) and, when Kubernetes is configured, Kubernetes (the Node is gone,
 * NotReady, marked out-of-service, or its heartbeat Lease expired). A partitioned host that still writes fails the
 * I/O check; a host that merely lost the API server fails the storage check.
 */
export function decide(mode: PreemptionMode, evidence: HolderEvidence): Decision {
  if (mode === 'never') return { action: 'refuse', missing: ['preemption is "never" for this volume'] };
  if (mode === 'force') return { action: 'take-over', reasons: ['preemption is "force": no evidence required'], warning: true };

  const reasons: string[] = [];
  const missing: string[] = [];
  const { storage, kubernetes } = evidence;

  if (storage.clientState === 'Disconnected') reasons.push('the storage system reports the holder\'s data client Disconnected');
  else missing.push(`the storage system reports the holder's data client ${storage.clientState}, not Disconnected`);

  if (storage.ioDuringWindow === false) reasons.push('the volume did no I/O during the confirmation window');
  else if (storage.ioDuringWindow === true) missing.push('the volume is still doing I/O');
  else missing.push('the volume\'s I/O was not confirmed idle');

  if (kubernetes.configured) {
    const gone: string[] = [];
    if (!kubernetes.nodeExists) gone.push('its Node object is gone');
    if (kubernetes.nodeReady === false) gone.push('its Node is NotReady');
    if (kubernetes.outOfService) gone.push('its Node carries the out-of-service taint');
    if (kubernetes.heartbeatExpired === true) gone.push('its heartbeat Lease expired');
    if (gone.length > 0) reasons.push(`Kubernetes agrees: ${gone.join(', ')}`);
    else missing.push('Kubernetes still sees the holder alive (Node Ready, heartbeat fresh, no out-of-service taint)');
  }

  return missing.length === 0 ? { action: 'take-over', reasons, warning: false } : { action: 'refuse', missing };
}
