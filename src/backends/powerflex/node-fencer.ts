import { isDomainError } from '../../errors.js';
import type { NodeFencing, NodeStorageView, ObserveNodeOptions, OpContext } from '../backend.js';
import type { PowerFlexClient } from './client.js';
import { gatherStorageEvidence } from './holder-evidence.js';
import type { System } from './types.js';
import { formatLocalId } from './volume-id.js';

/** Unmaps in flight at once while fencing a node. */
const FENCE_CONCURRENCY = 8;

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

  async observeNode(nodeId: string, ctx: OpContext, options: ObserveNodeOptions = {}): Promise<NodeStorageView> {
    const held = await this.held(nodeId, ctx);
    if (!held) return { known: false };
    const evidence = await gatherStorageEvidence(
      this.client,
      held.sdc,
      held.volumes.map((v) => v.id),
      options.continuing ? 'since-last-read' : this.confirmWindowMs,
      ctx,
    );
    return { known: true, evidence, volumes: held.volumes.map((v) => formatLocalId({ systemId: held.systemId, volumeId: v.id })) };
  }

  async fenceNode(nodeId: string, ctx: OpContext): Promise<string[]> {
    const held = await this.held(nodeId, ctx);
    if (!held) return [];
    // The gateway has no call that unmaps an SDC from everything: one removeMappedSdc per volume, several in flight
    // (a dead node with 20 volumes is fenced in the time of a few calls, not of 20 in a row). Every one must succeed:
    // the first failure fails the fence, which the next round tries again.
    let next = 0;
    const unmapOne = async (): Promise<void> => {
      while (next < held.volumes.length) {
        const volume = held.volumes[next++];
        if (volume === undefined) return;
        try {
          await this.client.mappings.unmapVolume(volume.id, { sdcId: held.sdc.id }, { signal: ctx.signal });
        } catch (err) {
          if (!isDomainError(err, 'not-mapped') && !isDomainError(err, 'not-found')) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FENCE_CONCURRENCY, held.volumes.length) }, unmapOne));
    return held.volumes.map((volume) => formatLocalId({ systemId: held.systemId, volumeId: volume.id }));
  }

  private async held(nodeId: string, ctx: OpContext) {
    const systemId = (await this.system(ctx)).id;
    const sdc = await this.client.sdcs.findSdcByGuid(nodeId, systemId, { signal: ctx.signal });
    if (!sdc) return undefined;
    const volumes = (await this.client.volumes.listVolumes(undefined, { signal: ctx.signal })).filter((v) => v.mappings.some((m) => m.sdcId === sdc.id));
    return { systemId, sdc, volumes };
  }
}
