import type { LeaseView } from './kube-api.js';

/**
 * The node plugin's heartbeat, as a Lease in the driver's namespace: renewed every few seconds while the plugin runs,
 * so the failover controller learns of a dead node long before the kubelet's own ~50 s NotReady. Its annotations say
 * which CSI node id the plugin serves and whether the node has cleaned up what was taken from it.
 */
export const HEARTBEAT_LABEL = 'ferry.csi.io/heartbeat';
export const NODE_ID_ANNOTATION = 'ferry.csi.io/node-id';
export const CLEAN_ANNOTATION = 'ferry.csi.io/clean';
export const CLEAN_AT_ANNOTATION = 'ferry.csi.io/clean-at';

export function heartbeatLeaseName(nodeName: string): string {
  return `ferry-node-${nodeName}`.slice(0, 253);
}

export interface Heartbeat {
  nodeName: string;
  nodeId: string | undefined;
  expired: boolean;
  /**
   * Not renewed for more than half its duration, not expired yet: the node may be dying, and the failover controller
   * gathers the storage side's confirmation ahead, so that it can act as soon as the heartbeat expires.
   */
  late: boolean;
  /** When the plugin last found the node clean (nothing staged here that is mapped elsewhere). */
  cleanAt: Date | undefined;
  clean: boolean;
}

/** Reads a heartbeat Lease as of `now`; a Lease without renew time or duration counts as expired. */
export function readHeartbeat(lease: LeaseView, now: Date): Heartbeat {
  const expiresAt = lease.renewTime && lease.durationSeconds ? lease.renewTime.getTime() + lease.durationSeconds * 1000 : 0;
  const lateAt = expiresAt - ((lease.durationSeconds ?? 0) * 1000) / 2;
  const cleanAt = lease.annotations[CLEAN_AT_ANNOTATION];
  const parsed = cleanAt ? new Date(cleanAt) : undefined;
  return {
    nodeName: lease.holder ?? lease.name.replace(/^ferry-node-/, ''),
    nodeId: lease.annotations[NODE_ID_ANNOTATION],
    expired: expiresAt <= now.getTime(),
    late: expiresAt > now.getTime() && lateAt <= now.getTime(),
    cleanAt: parsed && !Number.isNaN(parsed.getTime()) ? parsed : undefined,
    clean: lease.annotations[CLEAN_ANNOTATION] === 'true',
  };
}
