import { FAILOVER_MODES, type FailoverMode } from '../failover/failover-controller.js';
import { UsageError } from './usage-error.js';

/** The Kubernetes-related `ferry driver` flags, as commander hands them over. */
export interface RawKubeFlags {
  kubernetes: string;
  kubeconfig?: string;
  namespace: string;
  nodeName?: string;
  heartbeatIntervalSeconds: string;
  heartbeatDurationSeconds: string;
  failover: string;
  failoverIntervalSeconds: string;
  leaderLeaseSeconds: string;
  leaderRenewDeadlineSeconds: string;
  leaderRetryPeriodSeconds: string;
}

export interface KubeOptions {
  /** Whether Ferry talks to a Kubernetes API at all: heartbeats, liveness evidence, Events, failover. */
  enabled: boolean;
  /** undefined: the pod's service account. */
  kubeconfig: string | undefined;
  namespace: string;
  /** The Kubernetes Node this node plugin runs on (the heartbeat Lease is named after it). */
  nodeName: string | undefined;
  heartbeatIntervalMs: number;
  heartbeatDurationSeconds: number;
  failover: FailoverMode;
  failoverIntervalMs: number;
  /** The failover controller's leader election (client-go's meaning: lease > renew deadline > retry period). */
  leaderElection: { leaseDurationSeconds: number; renewDeadlineMs: number; retryPeriodMs: number };
}

function seconds(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${flag}: "${value}" is not a number of seconds >= ${min}`);
  return n;
}

/**
 * `--kubernetes auto` (the default) turns the API on inside a pod (the service account's KUBERNETES_SERVICE_HOST) or
 * when --kubeconfig is given; `on` insists, `off` never talks to Kubernetes (csi-sanity, the demo, tests).
 */
export function validateKubeFlags(flags: RawKubeFlags, env: NodeJS.ProcessEnv): KubeOptions {
  if (!['auto', 'on', 'off'].includes(flags.kubernetes)) throw new UsageError(`--kubernetes: "${flags.kubernetes}" is not one of auto, on, off`);
  if (!(FAILOVER_MODES as readonly string[]).includes(flags.failover)) {
    throw new UsageError(`--failover: "${flags.failover}" is not one of ${FAILOVER_MODES.join(', ')}`);
  }
  const enabled = flags.kubernetes === 'on' || (flags.kubernetes === 'auto' && (flags.kubeconfig !== undefined || env.KUBERNETES_SERVICE_HOST !== undefined));
  const failover = flags.failover as FailoverMode;
  if (failover !== 'off' && !enabled) throw new UsageError(`--failover ${failover} needs the Kubernetes API (--kubernetes on, --kubeconfig, or running in a pod)`);
  const heartbeatIntervalSeconds = seconds('heartbeat-interval-seconds', flags.heartbeatIntervalSeconds, 0.1);
  const heartbeatDurationSeconds = seconds('heartbeat-duration-seconds', flags.heartbeatDurationSeconds, 1);
  if (!Number.isInteger(heartbeatDurationSeconds)) throw new UsageError('--heartbeat-duration-seconds: must be whole seconds (a Lease field)');
  if (heartbeatDurationSeconds <= heartbeatIntervalSeconds) {
    throw new UsageError('--heartbeat-duration-seconds must be longer than --heartbeat-interval-seconds, or every node would look dead between beats');
  }
  const lease = seconds('leader-lease-seconds', flags.leaderLeaseSeconds, 1);
  if (!Number.isInteger(lease)) throw new UsageError('--leader-lease-seconds: must be whole seconds (a Lease field)');
  const renew = seconds('leader-renew-deadline-seconds', flags.leaderRenewDeadlineSeconds, 0.1);
  const retry = seconds('leader-retry-period-seconds', flags.leaderRetryPeriodSeconds, 0.1);
  // As client-go insists: a leader must give up (renew deadline) before its Lease can be taken, and try more than once.
  if (!(lease > renew && renew > retry)) {
    throw new UsageError('--leader-lease-seconds > --leader-renew-deadline-seconds > --leader-retry-period-seconds, or two replicas could lead at once');
  }
  return {
    enabled,
    kubeconfig: flags.kubeconfig,
    namespace: flags.namespace,
    nodeName: flags.nodeName,
    heartbeatIntervalMs: Math.round(heartbeatIntervalSeconds * 1000),
    heartbeatDurationSeconds,
    failover,
    failoverIntervalMs: Math.round(seconds('failover-interval-seconds', flags.failoverIntervalSeconds, 0.1) * 1000),
    leaderElection: { leaseDurationSeconds: lease, renewDeadlineMs: Math.round(renew * 1000), retryPeriodMs: Math.round(retry * 1000) },
  };
}
