import { DomainError } from '../../errors.js';
import type { ProvisioningType } from './types.js';

/** StorageClass parameters the PowerFlex backend owns (REX-Ray's names where it had one). */
export const POWERFLEX_PARAMETER_KEYS = ['storagePool', 'protectionDomain', 'thinOrThick'] as const;

export interface PowerFlexParameters {
  storagePool: string;
  protectionDomain: string | undefined;
  provisioning: ProvisioningType;
}

export interface ParameterDefaults {
  storagePool: string;
  protectionDomain: string | undefined;
  thinOrThick: ProvisioningType;
}

/** Parameters over the backend's configured defaults; the CSI layer already rejected unknown keys. */
export function parseParameters(parameters: Readonly<Record<string, string>>, defaults: ParameterDefaults): PowerFlexParameters {
  const thinOrThick = parameters['thinOrThick'] ?? defaults.thinOrThick;
  if (thinOrThick !== 'ThinProvisioned' && thinOrThick !== 'ThickProvisioned') {
    throw new DomainError('invalid-argument', `parameter thinOrThick: "${thinOrThick}" is not ThinProvisioned or ThickProvisioned`);
  }
  const storagePool = parameters['storagePool'] ?? defaults.storagePool;
  if (storagePool.trim() === '') throw new DomainError('invalid-argument', 'parameter storagePool: must not be empty');
  const protectionDomain = parameters['protectionDomain'] ?? defaults.protectionDomain;
  return { storagePool, protectionDomain: protectionDomain === '' ? undefined : protectionDomain, provisioning: thinOrThick };
}
