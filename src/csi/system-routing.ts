import { PARAM_BACKEND } from './parameters.js';
import type { BackendRegistry } from './registry.js';

/**
 * csi-powerflex picks the array of a StorageClass by its `systemID` (the default array when it names none). Ferry
 * names the backends it makes from csi-powerflex's arrays by their system ids (config/csi-powerflex-arrays.ts), so a
 * StorageClass that names a system and no `backend` goes to the backend of that name. Anything else is left as it is:
 * an explicit `backend` wins, and the PowerFlex backend still checks the system is its own.
 */
export function routeBySystem(parameters: Readonly<Record<string, string>>, backends: BackendRegistry): Readonly<Record<string, string>> {
  if (parameters[PARAM_BACKEND] !== undefined) return parameters;
  const system = (parameters['systemID'] ?? parameters['systemId'])?.toLowerCase();
  if (system === undefined || !backends.has(system)) return parameters;
  return { ...parameters, [PARAM_BACKEND]: system };
}
