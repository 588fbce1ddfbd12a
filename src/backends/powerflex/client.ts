import { GatewayConnection, type CallOptions, type GatewayOptions } from './gateway.js';
import { MappingsApi } from './mappings.js';
import { SdcsApi } from './sdcs.js';
import { SnapshotsApi } from './snapshots.js';
import { SystemsApi } from './systems.js';
import { VolumesApi } from './volumes.js';

/**
 * The typed PowerFlex gateway client: one connection (token, keep-alive sockets, TLS settings) shared by areas that
 * each speak one part of the API. Every operation takes an optional `{ signal }` and throws GatewayError.
 */
export class PowerFlexClient {
  readonly gateway: GatewayConnection;
  readonly systems: SystemsApi;
  readonly sdcs: SdcsApi;
  readonly volumes: VolumesApi;
  readonly mappings: MappingsApi;
  readonly snapshots: SnapshotsApi;

  constructor(options: GatewayOptions) {
    this.gateway = new GatewayConnection(options);
    this.systems = new SystemsApi(this.gateway);
    this.sdcs = new SdcsApi(this.gateway);
    this.volumes = new VolumesApi(this.gateway);
    this.mappings = new MappingsApi(this.gateway);
    this.snapshots = new SnapshotsApi(this.gateway);
  }

  /** Logs in (once, unless a token is cached) and learns the API version. */
  connect(options?: CallOptions): Promise<void> {
    return this.gateway.connect(options);
  }

  get apiVersion(): string | undefined {
    return this.gateway.apiVersion;
  }

  /** Logs out and closes every connection. */
  close(): Promise<void> {
    return this.gateway.close();
  }
}

export type { CallOptions, GatewayOptions, GatewayCredentials } from './gateway.js';
export { GatewayError, isGatewayError } from './errors.js';
export type { VolumeInfo, CreateVolumeOptions } from './volumes.js';
export type { PoolStatistics, SystemLimits, PoolSelector, ResolvedPool } from './systems.js';
export type { MapOptions, UnmapTarget, MappingLimits } from './mappings.js';
export type { SnapshotResult } from './snapshots.js';
