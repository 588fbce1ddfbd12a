/**
 * The signals that say whether a node holding a volume is gone. Each is gathered by whoever can see it: the storage
 * system (its data client's connection, the volume's I/O) and, where configured, Kubernetes (the node's heartbeat
 * Lease, its Ready condition, the out-of-service taint).
 */
export interface StorageEvidence {
  /** The storage system's own view of the holder's data client. */
  clientState: 'Connected' | 'Disconnected' | 'Unknown';
  /**
   * Whether the volume did I/O during the confirmation window; undefined when it was not measured (the client was
   * connected, so the answer could not change the decision).
   */
  ioDuringWindow: boolean | undefined;
}

export type KubernetesEvidence =
  | { configured: false }
  | {
      configured: true;
      /** The holder's Node object exists. */
      nodeExists: boolean;
      /** Ready condition; undefined when the Node is absent or reports none. */
      nodeReady: boolean | undefined;
      /** `node.kubernetes.io/out-of-service` is set on the Node. */
      outOfService: boolean;
      /** The node plugin's heartbeat Lease is past its duration; undefined when there is no Lease to judge by. */
      heartbeatExpired: boolean | undefined;
    };

export interface HolderEvidence {
  storage: StorageEvidence;
  kubernetes: KubernetesEvidence;
}
