import type { StorageEvidence } from '../preemption/evidence.js';

/** What Kubernetes and Ferry's own marks say of one node. */
export interface NodeSignals {
  /** The node plugin's heartbeat Lease: renewed in time, past its duration, or not there at all. */
  heartbeat: 'fresh' | 'expired' | 'absent';
  /** The Node's Ready condition (undefined: none reported yet). */
  nodeReady: boolean | undefined;
  /** Ferry fenced this node and tainted it (its annotation is on the Node). */
  fencedByFerry: boolean;
  /** The node plugin has reported the node clean since it was fenced. */
  cleanSinceFence: boolean;
}

export type NodePlan =
  | { action: 'none' }
  | { action: 'check-storage'; why: string[] }
  | { action: 'keep-fenced'; waitingFor: string[] }
  | { action: 'unfence'; why: string[] };

/**
 * The first half of the failover decision, from Kubernetes' signals alone. Pure, so every combination is a table row.
 * A node is suspect when its heartbeat expired or it is NotReady; a suspect node is fenced only if the storage side
 * agrees (decideFence). A fenced node is given back when it is Ready, its plugin beats again, and it reported clean
 * after the fence: before that it could still hold mounts of volumes now written elsewhere.
 */
export function planNode(signals: NodeSignals): NodePlan {
  if (signals.fencedByFerry) {
    const waitingFor: string[] = [];
    if (signals.nodeReady !== true) waitingFor.push('the Node to be Ready');
    if (signals.heartbeat !== 'fresh') waitingFor.push('the node plugin\'s heartbeat');
    if (!signals.cleanSinceFence) waitingFor.push('the node plugin to report it cleaned up after the fence');
    if (waitingFor.length > 0) return { action: 'keep-fenced', waitingFor };
    return { action: 'unfence', why: ['the Node is Ready', 'its node plugin beats again', 'it reported clean since the fence'] };
  }
  const why: string[] = [];
  if (signals.heartbeat === 'expired') why.push('its node plugin\'s heartbeat Lease expired');
  if (signals.nodeReady === false) why.push('the Node is NotReady');
  return why.length > 0 ? { action: 'check-storage', why } : { action: 'none' };
}

/** One storage backend's answer about the node (or its failure to answer). */
export type BackendView =
  | { backend: string; known: false }
  | { backend: string; known: true; evidence: StorageEvidence; volumes: number }
  | { backend: string; error: string };

export type FenceDecision = { fence: true; reasons: string[] } | { fence: false; missing: string[] };

/**
 * The second half: fence only if every storage system that has a client for the node reports it Disconnected with
 * no I/O over the confirmation window, and at least one does (otherwise there is nothing to fence, and nothing proves
 * the host is gone). A backend that cannot answer blocks the fence.
 */
export function decideFence(views: readonly BackendView[]): FenceDecision {
  const reasons: string[] = [];
  const missing: string[] = [];
  let known = 0;
  for (const view of views) {
    if ('error' in view) {
      missing.push(`backend ${view.backend} did not answer: ${view.error}`);
      continue;
    }
    if (!view.known) continue;
    known++;
    const { clientState, ioDuringWindow } = view.evidence;
    if (clientState !== 'Disconnected') missing.push(`backend ${view.backend} reports the node's data client ${clientState}`);
    else if (ioDuringWindow !== false) missing.push(`backend ${view.backend}: the node's volumes ${ioDuringWindow ? 'still do I/O' : 'were not confirmed idle'}`);
    else reasons.push(`backend ${view.backend} reports the node's data client Disconnected and its ${view.volumes} volume(s) idle`);
  }
  if (known === 0 && missing.length === 0) missing.push('no storage backend has a data client for this node: nothing to fence');
  return missing.length === 0 ? { fence: true, reasons } : { fence: false, missing };
}
