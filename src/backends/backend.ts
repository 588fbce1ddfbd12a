import type { BackendConfig } from '../config/schema.js';

/**
 * What the CSI services need from a storage system. Backends speak in domain terms and throw DomainError;
 * they never see gRPC. Later issues widen this interface (volumes, mappings, snapshots).
 */
export interface Backend {
  readonly name: string;
  readonly type: BackendConfig['type'];
  /** Resolves when the storage system answers its own health check; rejects with a DomainError otherwise. */
  checkHealth(signal: AbortSignal): Promise<void>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
