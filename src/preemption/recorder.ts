import type { KubernetesEvidence } from './evidence.js';
import type { PreemptionMode } from './policy.js';

/** One preemption decision, for the log, a Kubernetes Event on the volume, and a metric. */
export interface PreemptionRecord {
  volumeId: string;
  /** The node that asked for the volume. */
  nodeId: string;
  /** The node that held it. */
  holderNodeId: string;
  mode: PreemptionMode;
  outcome: 'taken-over' | 'refused';
  /** Why it was taken over, or what evidence was missing. */
  why: string[];
}

/** Where decisions are recorded; the driver wires metrics and Kubernetes Events behind it. */
export interface PreemptionRecorder {
  record(record: PreemptionRecord): void;
}

/** Answers what Kubernetes knows of a node, by its CSI node id; undefined = no Kubernetes API is configured. */
export interface NodeLivenessSource {
  observe(nodeId: string, signal: AbortSignal): Promise<KubernetesEvidence>;
}
