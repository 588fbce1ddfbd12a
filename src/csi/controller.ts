import type { ControllerHandlers } from '../gen/csi/v1/Controller.js';
import type { ControllerGetCapabilitiesResponse } from '../gen/csi/v1/ControllerGetCapabilitiesResponse.js';
import type { ServiceImpl } from '../server/handler.js';

/**
 * The Controller service. Volume operations arrive with the block backend; until then it states, truthfully,
 * that it offers no optional controller capability, and every other RPC answers UNIMPLEMENTED.
 */
export class ControllerService implements ServiceImpl<ControllerHandlers> {
  async ControllerGetCapabilities(): Promise<ControllerGetCapabilitiesResponse> {
    return { capabilities: [] };
  }
}
