import { isDomainError } from '../../errors.js';
import type { NodeFencing, NodeStorageView, OpContext } from '../backend.js';
import type { PowerFlexClient } from './client.js';
import { gatherStorageEvidence } from './holder-evidence.js';
import type { System } from './types.js';
import { formatLocalId } from './volume-id.js';

/**
 * A whole node as the PowerFlex system sees it (its SDC, found by the node id = SDC GUID, and every volume mapped to
 * it), and fencing it: every mapping of that SDC removed, so the host cannot write even if it comes back.
 */
export class PowerFlexNodeFencer implements NodeFencing {
  constructor(
    private readonly client: PowerFlexClient,
    private readonly system: (ctx: OpContext) => Promise<System>,
    private readonly confirmWindowMs: number,
  ) {}

  async observeNode(nodeId: string, ctx: OpContext): Promise<NodeStorageView> {
    const held = await this.held(nodeId, ctx);
    if (!held) return { known: false };
    const evidence = await gatherStorageEvidence(
      this.client,
      held.sdc,
      held.volumes.map((v) => v.id),
      this.confirmWindowMs,
      ctx,
    );
    return { known: true, evidence, volumes: held.volumes.map((v) => formatLocalId({ systemId: held.systemId, volumeId: v.id })) };
  }

  async fenceNode(nodeId: string, ctx: OpContext): Promise<string[]> {
    const held = await this.held(nodeId, ctx);
    if (!held) return [];
    const fenced: string[] = [];
    for (const volume of held.volumes) {
      try {
        await this.client.mappings.unmapVolume(volume.id, { sdcId: held.sdc.id }, { signal: ctx.signal });
      } catch (err) {
        if (!isDomainError(err, 'not-mapped') && !isDomainError(err, 'not-found')) throw err;
      }
      fenced.push(formatLocalId({ systemId: held.systemId, volumeId: volume.id }));
    }
    return fenced;
  }

  private async held(nodeId: string, ctx: OpContext) {
    const systemId = (await this.system(ctx)).id;
    const sdc = await this.client.sdcs.findSdcByGuid(nodeId, systemId, { signal: ctx.signal });
    if (!sdc) return undefined;
    const volumes = (await this.client.volumes.listVolumes(undefined, { signal: ctx.signal })).filter((v) => v.mappings.some((m) => m.sdcId === sdc.id));
    return { systemId, sdc, volumes };
  }
}
