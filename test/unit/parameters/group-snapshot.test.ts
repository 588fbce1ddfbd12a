import { describe, expect, it } from '@jest/globals';
import { checkGroupSnapshotParameters } from '../../../src/parameters/group-snapshot.js';

describe('group snapshot parameters', () => {
  it("passes the snapshotter's keys and the class's deletionPolicy (Kubernetes' storage suite sends it)", () => {
    expect(() => checkGroupSnapshotParameters({})).not.toThrow();
    expect(() => checkGroupSnapshotParameters({ 'csi.storage.k8s.io/group-snapshotter-secret-name': 's', deletionPolicy: 'Delete' })).not.toThrow();
    expect(() => checkGroupSnapshotParameters({ deletionPolicy: 'Retain' })).not.toThrow();
  });

  it('refuses any other key, and a deletionPolicy that is neither Delete nor Retain', () => {
    expect(() => checkGroupSnapshotParameters({ consistency: 'crash' })).toThrow(/unknown group snapshot parameter\(s\) consistency/);
    expect(() => checkGroupSnapshotParameters({ deletionPolicy: 'Keep' })).toThrow(/deletionPolicy must be Delete or Retain/);
  });
});
