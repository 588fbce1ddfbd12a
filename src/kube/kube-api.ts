/**
 * What Ferry needs from the Kubernetes API, in its own terms. The failover controller, the node heartbeat, the
 * liveness source and the Event recorder speak to this interface; `ClientNodeKubeApi` is the one implementation that
 * talks to a real API server (@kubernetes/client-node), and tests run it against a real kube-apiserver.
 */

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface NodeView {
  name: string;
  /** The Ready condition: True → true, False or Unknown → false, no condition → undefined. */
  ready: boolean | undefined;
  taints: Taint[];
  annotations: Record<string, string>;
}

/** The parts of a Node the failover controller changes; the rest of the object is left as it is. */
export interface NodeMarks {
  taints: Taint[];
  annotations: Record<string, string | null>;
}

export interface LeaseView {
  namespace: string;
  name: string;
  holder: string | undefined;
  acquireTime: Date | undefined;
  renewTime: Date | undefined;
  durationSeconds: number | undefined;
  transitions: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ownerPod: { name: string; uid: string } | undefined;
  /** For optimistic concurrency: a replace with a stale version fails with KubeConflictError. */
  resourceVersion: string;
}

export interface LeaseWrite {
  /** The Pod whose deletion deletes the Lease too (Kubernetes' garbage collector), if any. */
  ownerPod?: { name: string; uid: string };
  holder: string;
  durationSeconds: number;
  acquireTime: Date;
  renewTime: Date;
  transitions: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

/** Where an Event is attached: a cluster-scoped object (Node, PersistentVolume) or a namespaced one (Pod). */
export interface EventTarget {
  kind: 'Node' | 'PersistentVolume' | 'Pod';
  name: string;
  namespace?: string;
  uid?: string;
}

export interface EventInput {
  target: EventTarget;
  type: 'Normal' | 'Warning';
  /** UpperCamelCase, as Kubernetes reasons are. */
  reason: string;
  message: string;
}

export interface KubeApi {
  getNode(name: string): Promise<NodeView | undefined>;
  listNodes(): Promise<NodeView[]>;
  /**
   * Read-modify-write of a Node's taints and annotations, retried on conflicts. `change` sees the current Node and
   * answers the marks to write, or undefined to write nothing. Answers whether it wrote.
   */
  updateNodeMarks(name: string, change: (node: NodeView) => NodeMarks | undefined): Promise<boolean>;
  /** Node name → this driver's node id, from the CSINode objects the kubelets publish. */
  csiNodeIds(driverName: string): Promise<Map<string, string>>;

  getLease(namespace: string, name: string): Promise<LeaseView | undefined>;
  listLeases(namespace: string, labelSelector: string): Promise<LeaseView[]>;
  /** KubeConflictError when it already exists. */
  createLease(namespace: string, name: string, write: LeaseWrite): Promise<LeaseView>;
  /** KubeConflictError when the Lease changed since `current` was read. */
  replaceLease(current: LeaseView, write: LeaseWrite): Promise<LeaseView>;
  /** Deletes the Lease if it is still the version read (a Lease already gone is success). */
  deleteLease(current: LeaseView): Promise<void>;

  /** The name of the PersistentVolume with this CSI volume handle, if any. */
  persistentVolumeOf(driverName: string, volumeHandle: string): Promise<string | undefined>;
  /**
   * The parameters of the VolumeAttributesClass that the PersistentVolume with this CSI volume handle belongs to
   * (spec.volumeAttributesClassName, which the csi-resizer sets once a ControllerModifyVolume succeeded); undefined
   * when there is no such PV, it names no class, or the class is gone or another driver's.
   */
  volumeAttributesOf(driverName: string, volumeHandle: string): Promise<Record<string, string> | undefined>;
  /** Pods bound to the node that mount a PersistentVolumeClaim whose volume belongs to this driver. */
  podsUsingDriver(nodeName: string, driverName: string): Promise<PodRef[]>;
  /** Deletes a pod with no grace period, as the pod garbage collector does on out-of-service nodes. */
  forceDeletePod(pod: PodRef): Promise<void>;

  /** Best effort: Events are for people reading `kubectl describe`. */
  createEvent(event: EventInput): Promise<void>;
}

/** A write lost a race (HTTP 409, or a failed JSON-patch test). */
export class KubeConflictError extends Error {
  override readonly name = 'KubeConflictError';
}

/** Any other failure of an API call, with the HTTP status when there was one. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';

  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
