import { DomainError } from '../errors.js';

/**
 * A VolumeGroupSnapshotClass's parameters, as CreateVolumeGroupSnapshot receives them. Ferry takes none of its own;
 * the csi-snapshotter's `csi.storage.k8s.io/*` keys pass, and so does `deletionPolicy` (Delete or Retain):
 * Kubernetes' own storage suite (test/e2e/storage, v1.36) puts the class's deletion policy into its parameters as
 * well. It is the class's field, acted on by the snapshot controller; the driver has nothing to do with it. Any other
 * key is refused, so a typo never passes for a setting.
 */
const DELETION_POLICIES = new Set(['Delete', 'Retain']);

export function checkGroupSnapshotParameters(parameters: Readonly<Record<string, string>>): void {
  const unknown = Object.keys(parameters).filter((k) => !k.startsWith('csi.storage.k8s.io/') && k !== 'deletionPolicy');
  if (unknown.length > 0) throw new DomainError('invalid-argument', `unknown group snapshot parameter(s) ${unknown.sort().join(', ')}`);
  const policy = parameters.deletionPolicy;
  if (policy !== undefined && !DELETION_POLICIES.has(policy)) {
    throw new DomainError('invalid-argument', `group snapshot parameter deletionPolicy must be Delete or Retain, not ${JSON.stringify(policy)}`);
  }
}
