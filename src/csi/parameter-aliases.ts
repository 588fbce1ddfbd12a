import { DomainError } from '../errors.js';

/**
 * csi-powerflex's StorageClass keys, accepted as aliases of Ferry's own so that its StorageClasses work unchanged
 * (docs/drop-in.md). Resolved first, in the one place parameters are checked (splitParameters): every later check,
 * the backend's included, sees only Ferry's names. `systemID` names the array a volume goes to; on Ferry the
 * PowerFlex backend checks it is the system it serves.
 */
export const PARAMETER_ALIASES: Readonly<Record<string, string>> = {
  storagepool: 'storagePool',
  protectiondomain: 'protectionDomain',
  mkfsFormatOption: 'mkfsOptions',
  systemID: 'systemId',
};

/** The parameters under Ferry's names; an alias and its key both set to different values is INVALID_ARGUMENT. */
export function canonicalParameters(parameters: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(parameters)) {
    if (PARAMETER_ALIASES[key] === undefined) out[key] = value;
  }
  for (const [alias, key] of Object.entries(PARAMETER_ALIASES)) {
    const value = parameters[alias];
    if (value === undefined) continue;
    const own = out[key];
    if (own !== undefined && own !== value) {
      throw new DomainError('invalid-argument', `parameters ${alias} (csi-powerflex's name for ${key}) and ${key} disagree: "${value}" and "${own}"`);
    }
    out[key] = value;
  }
  return out;
}
