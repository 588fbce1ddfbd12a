import type { NodeHandlers } from '../gen/csi/v1/Node.js';
import type { NodeGetCapabilitiesResponse } from '../gen/csi/v1/NodeGetCapabilitiesResponse.js';
import type { NodeGetInfoResponse } from '../gen/csi/v1/NodeGetInfoResponse.js';
import type { ServiceImpl } from '../server/handler.js';

export interface NodeOptions {
  nodeId: string;
}

/** The Node service. Staging and publishing arrive with the block backend. */
export class NodeService implements ServiceImpl<NodeHandlers> {
  constructor(private readonly options: NodeOptions) {}

  async NodeGetCapabilities(): Promise<NodeGetCapabilitiesResponse> {
    return { capabilities: [] };
  }

  async NodeGetInfo(): Promise<NodeGetInfoResponse> {
    return { node_id: this.options.nodeId, max_volumes_per_node: 0 };
  }
}
