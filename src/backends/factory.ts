import type { BackendConfig, NodeConfig } from '../config/schema.js';
import type { Logger } from '../util/log.js';
import { formatScopedId } from '../csi/ids.js';
import type { Backend, BackendHooks } from './backend.js';
import { createNfsBackend } from './nfs/backend.js';
import { createPowerFlexBackend } from './powerflex/backend.js';

/**
 * A backend speaks its own volume ids; the recorder (logs, Events on the PV) and the volume class source (the PV's
 * VolumeAttributesClass, found by volume handle) need the CSI id.
 */
function scopedHooks(hooks: BackendHooks, backend: string): BackendHooks {
  const { recorder, volumeClasses } = hooks;
  const scoped: BackendHooks = { ...hooks };
  if (recorder) scoped.recorder = { record: (r) => recorder.record({ ...r, volumeId: formatScopedId(backend, r.volumeId) }) };
  if (volumeClasses) scoped.volumeClasses = { mutableParametersOf: (id, signal) => volumeClasses.mutableParametersOf(formatScopedId(backend, id), signal) };
  return scoped;
}

/** Builds the configured backends, in order (the first is the default for StorageClasses that name none). */
export async function createBackends(configs: readonly BackendConfig[], node: NodeConfig, log: Logger, hooks: BackendHooks = {}): Promise<Backend[]> {
  const backends: Backend[] = [];
  try {
    for (const config of configs) {
      const backendLog = log.child({ backend: config.name });
      switch (config.type) {
        case 'powerflex':
          backends.push(await createPowerFlexBackend(config, node, backendLog, scopedHooks(hooks, config.name)));
          break;
        case 'nfs':
          backends.push(await createNfsBackend(config, node, backendLog));
          break;
      }
    }
  } catch (err) {
    await Promise.allSettled(backends.map((b) => b.close()));
    throw err;
  }
  return backends;
}
