import type { CallOptions, GatewayConnection } from './gateway.js';
import type { Sdc } from './types.js';
import { asEntities, asEntity, checkId } from './wire.js';

/** SDCs: the data client on every host, found by the GUID the host reports (Dell's driver uses it as the node id). */
export class SdcsApi {
  constructor(private readonly gateway: GatewayConnection) {}

  /** Every SDC, or those of one system. */
  async listSdcs(systemId?: string, options?: CallOptions): Promise<Sdc[]> {
    const path = systemId === undefined ? '/types/Sdc/instances' : `/instances/System::${checkId(systemId, 'system')}/relationships/Sdc`;
    return asEntities<Sdc>(await this.gateway.request({ method: 'GET', path }, options), 'SDCs');
  }

  async getSdc(id: string, options?: CallOptions): Promise<Sdc> {
    const sid = checkId(id, 'SDC');
    return asEntity<Sdc>(await this.gateway.request({ method: 'GET', path: `/instances/Sdc::${sid}` }, options), 'SDC');
  }

  /** The SDC whose GUID is `guid`, compared case-insensitively (hosts upper-case it, gateways may not); or undefined. */
  async findSdcByGuid(guid: string, systemId?: string, options?: CallOptions): Promise<Sdc | undefined> {
    const wanted = guid.trim().toUpperCase();
    const sdcs = await this.listSdcs(systemId, options);
    return sdcs.find((sdc) => typeof sdc.sdcGuid === 'string' && sdc.sdcGuid.toUpperCase() === wanted);
  }
}
