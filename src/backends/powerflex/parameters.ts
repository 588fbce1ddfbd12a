import { DomainError } from '../../errors.js';
import type { ProvisioningType } from './types.js';

/** StorageClass parameters the PowerFlex backend owns (REX-Ray's names where it had one). */
export const POWERFLEX_PARAMETER_KEYS = ['storagePool', 'protectionDomain', 'thinOrThick', 'systemId'] as const;

export interface PowerFlexParameters {
  storagePool: string;
  protectionDomain: string | undefined;
  provisioning: ProvisioningType;
  /** The system the StorageClass expects (csi-powerflex's `systemID`); undefined: whatever system the backend serves. */
  systemId: string | undefined;
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
  // Dell's tools print system ids in either case; the gateway's are lower-case.
  const systemId = parameters['systemId']?.toLowerCase();
  if (systemId !== undefined && !/^[0-9a-f]{16}$/.test(systemId)) throw new DomainError('invalid-argument', `parameter systemId: "${systemId}" is not a system id (16 lower-case hex characters)`);
  return { storagePool, protectionDomain: protectionDomain === '' ? undefined : protectionDomain, provisioning: thinOrThick, systemId };
}

/** A StorageClass that names a system must be served by the backend of that system. */
export function checkSystem(params: PowerFlexParameters, systemId: string): void {
  if (params.systemId !== undefined && params.systemId !== systemId) {
    throw new DomainError('invalid-argument', `parameter systemId: ${params.systemId} is not the system this backend serves (${systemId})`);
  }
}
