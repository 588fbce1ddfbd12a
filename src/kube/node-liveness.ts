import { DomainError, errorMessage } from '../errors.js';
import type { KubernetesEvidence } from '../preemption/evidence.js';
import type { NodeLivenessSource } from '../preemption/recorder.js';
import { HEARTBEAT_LABEL, heartbeatLeaseName, NODE_ID_ANNOTATION, readHeartbeat } from './heartbeat-lease.js';
import type { KubeApi } from './kube-api.js';

export const OUT_OF_SERVICE_TAINT = 'node.kubernetes.io/out-of-service';

/**
 * What Kubernetes knows of the node behind a CSI node id: found through the CSINode objects the kubelets publish
 * (and, failing that, the node plugins' heartbeat Leases, which carry the id too).
 */
export class KubeNodeLiveness implements NodeLivenessSource {
  constructor(
    private readonly api: KubeApi,
    private readonly driverName: string,
    private readonly namespace: string,
  ) {}

  async observe(nodeId: string): Promise<KubernetesEvidence> {
    try {
      const nodeName = await this.nodeNameOf(nodeId);
      if (nodeName === undefined) return { configured: true, nodeExists: false, nodeReady: undefined, outOfService: false, heartbeatExpired: undefined };
      const [node, lease] = await Promise.all([this.api.getNode(nodeName), this.api.getLease(this.namespace, heartbeatLeaseName(nodeName))]);
      return {
        configured: true,
        nodeExists: node !== undefined,
        nodeReady: node?.ready,
        outOfService: node?.taints.some((t) => t.key === OUT_OF_SERVICE_TAINT) ?? false,
        heartbeatExpired: lease ? readHeartbeat(lease, new Date()).expired : undefined,
      };
    } catch (err) {
      throw new DomainError('unavailable', `cannot ask Kubernetes whether node ${nodeId} is alive: ${errorMessage(err)}`, { cause: err });
    }
  }

  private async nodeNameOf(nodeId: string): Promise<string | undefined> {
    const wanted = nodeId.toUpperCase();
    for (const [name, id] of await this.api.csiNodeIds(this.driverName)) if (id.toUpperCase() === wanted) return name;
    const leases = await this.api.listLeases(this.namespace, `${HEARTBEAT_LABEL}=${this.driverName}`);
    const lease = leases.find((l) => l.annotations[NODE_ID_ANNOTATION]?.toUpperCase() === wanted);
    return lease?.holder;
  }
}
