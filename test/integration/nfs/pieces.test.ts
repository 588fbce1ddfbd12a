import { configSchema } from '../../../src/config/schema.js';
import { splitParameters } from '../../../src/csi/parameters.js';
import { DomainError } from '../../../src/errors.js';
import { NFS_PARAMETER_KEYS, expandSubDir, parseParameters } from '../../../src/backends/nfs/parameters.js';
import { archivedName, fitsRange, sizeFor } from '../../../src/backends/nfs/provisioner.js';
import { mergeMountOptions } from '../../../src/backends/nfs/node-shares.js';
import { isShareEntry, parseStatfsLine, sharePathOf } from '../../../src/backends/nfs/share-mounts.js';
import {
  formatSnapshotId,
  formatVolumeId,
  isValidVolumeDir,
  mountSource,
  parseSnapshotId,
  parseVolumeId,
} from '../../../src/backends/nfs/share-ref.js';
import { parseMountInfoLine } from '../../../src/node/mount-table.js';

/** The NFS backend's pure parts: ids, parameters, templates, options, mount-table reading, sizes, config. */

function kindOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? err.kind : 'not a DomainError';
  }
  return undefined;
}

describe('volume and snapshot ids', () => {
  it('round-trip server, export, directory and policy', () => {
    const ref = { server: 'nfs1.example.com', share: '/exports/k8s', dir: 'team-a/pvc-42', onDelete: 'retain' as const };
    const id = formatVolumeId(ref);
    expect(id).toBe('nfs1.example.com:/exports/k8s#team-a/pvc-42#retain');
    expect(parseVolumeId(id)).toEqual(ref);
    const v6 = { server: '[fd00::5]', share: '/', dir: 'v', onDelete: 'delete' as const };
    expect(parseVolumeId(formatVolumeId(v6))).toEqual(v6);
    expect(mountSource(v6, 'v')).toBe('[fd00::5]:/v');
    expect(mountSource(ref, ref.dir)).toBe('nfs1.example.com:/exports/k8s/team-a/pvc-42');
    const snap = { server: '10.0.0.5', share: '/x', key: '0123456789abcdef0123456789abcdef' };
    expect(parseSnapshotId(formatSnapshotId(snap))).toEqual(snap);
  });

  it.each([
    'fake-vol-id',
    'srv:/x#pvc#shred',
    'srv:/x#../etc#delete',
    'srv:/x#.ferry/volumes#delete',
    'srv:x#pvc#delete',
    'srv:/x#pvc#delete#more',
    'a b:/x#pvc#delete',
    'srv:/x#/abs#delete',
  ])('treat %s as not found', (id) => {
    expect(kindOf(() => parseVolumeId(id))).toBe('not-found');
  });

  it('keep volume directories inside the export and out of Ferry’s corner', () => {
    expect(isValidVolumeDir('pvc-1')).toBe(true);
    expect(isValidVolumeDir('ns/pvc-1')).toBe(true);
    for (const bad of ['', '/a', 'a/', 'a//b', 'a/../b', '.', '.ferry', '.ferry/x', 'a b', 'a:b', 'a#b', 'a,b']) expect(isValidVolumeDir(bad)).toBe(false);
  });
});

describe('parameters', () => {
  const defaults = { server: 'nfs1', share: '/exports', onDelete: 'delete' as const, mountPermissions: 0o777, maxLocalIdBytes: 124 };

  it('default to the backend’s export and one directory per PV', () => {
    expect(parseParameters({}, 'pvc-1', defaults)).toEqual({ server: 'nfs1', share: '/exports', dir: 'pvc-1', onDelete: 'delete', mountPermissions: 0o777 });
    expect(parseParameters({ server: 'nfs2', share: '/b', onDelete: 'archive', mountPermissions: '0770' }, 'pvc-1', defaults)).toMatchObject({
      server: 'nfs2',
      share: '/b',
      onDelete: 'archive',
      mountPermissions: 0o770,
    });
  });

  it('expand subDir templates from the provisioner’s metadata, and nothing else', () => {
    const meta = { 'csi.storage.k8s.io/pvc/name': 'data-0', 'csi.storage.k8s.io/pvc/namespace': 'prod', 'csi.storage.k8s.io/pv/name': 'pvc-9' };
    expect(expandSubDir('${pvc.metadata.namespace}/${pvc.metadata.name}-${pv.metadata.name}', meta)).toBe('prod/data-0-pvc-9');
    expect(kindOf(() => expandSubDir('${pvc.metadata.uid}', meta))).toBe('invalid-argument');
    expect(kindOf(() => expandSubDir('${pvc.metadata.name}', {}))).toBe('invalid-argument');
    expect(kindOf(() => parseParameters({ subDir: 'x/../../y' }, 'pvc', defaults))).toBe('invalid-argument');
    expect(kindOf(() => parseParameters({ server: 'bad server' }, 'pvc', defaults))).toBe('invalid-argument');
  });

  it('reach the backend, provisioner metadata included, only when it lists them', () => {
    const params = { subDir: 'x', 'csi.storage.k8s.io/pvc/name': 'data-0', 'csi.storage.k8s.io/provisioner-secret-name': 's' };
    expect(splitParameters(params, () => NFS_PARAMETER_KEYS).backendParameters).toEqual({ subDir: 'x', 'csi.storage.k8s.io/pvc/name': 'data-0' });
    expect(splitParameters({ 'csi.storage.k8s.io/pvc/name': 'data-0' }, () => ['storagePool']).backendParameters).toEqual({});
    let message = '';
    try {
      splitParameters({ shares: '/x' }, () => NFS_PARAMETER_KEYS);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('unknown parameter shares');
    expect(message).not.toContain('csi.storage.k8s.io/pvc/name');
  });
});

describe('mount options', () => {
  it('let a later key=value (or ro/rw) win and refuse option injection', () => {
    expect(mergeMountOptions(['nfsvers=4.1', 'hard'], ['nfsvers=3', 'noatime'], ['ro'])).toEqual(['hard', 'nfsvers=3', 'noatime', 'ro']);
    expect(mergeMountOptions(['rw'], ['ro'])).toEqual(['ro']);
    expect(kindOf(() => mergeMountOptions(['a,b']))).toBe('invalid-argument');
    expect(kindOf(() => mergeMountOptions(['a b']))).toBe('invalid-argument');
  });
});

describe('the mount table, read for shares', () => {
  const nfs = parseMountInfoLine('40 27 0:53 / /var/lib/kubelet/st rw,relatime shared:1 - nfs4 srv:/exports/pvc-1 rw,vers=4.1,hard');
  const bind = parseMountInfoLine('41 27 0:39 /pvc-1 /tmp/t rw,relatime - tmpfs srv:/exports rw,size=1024k');
  const gone = parseMountInfoLine('42 27 0:39 /pvc-1//deleted /tmp/u rw,relatime - tmpfs srv:/exports rw');
  const local = parseMountInfoLine('43 27 254:0 /data /tmp/v rw,relatime - ext4 /dev/vda rw');

  it('names the same share for a kernel NFS mount and a bind of a subdirectory of a mounted export', () => {
    expect(sharePathOf(nfs)).toBe('srv:/exports/pvc-1');
    expect(sharePathOf(bind)).toBe('srv:/exports/pvc-1');
    expect(sharePathOf(gone)).toBe('srv:/exports/pvc-1');
    expect([nfs, bind, gone, local].map(isShareEntry)).toEqual([true, true, true, false]);
  });

  it('reads statfs from stat -f', () => {
    expect(parseStatfsLine('4096 100 40 30 1000 900\n')).toEqual({
      totalBytes: 409600n,
      availableBytes: 122880n,
      usedBytes: 245760n,
      totalInodes: 1000n,
      freeInodes: 900n,
      usedInodes: 100n,
    });
    expect(kindOf(() => parseStatfsLine('stat: cannot read file system information'))).toBe('internal');
  });
});

describe('sizes and names', () => {
  it('record what was asked for, and check retries against it', () => {
    expect(sizeFor({ requiredBytes: 5n, limitBytes: 0n })).toBe(5n);
    expect(sizeFor({ requiredBytes: 0n, limitBytes: 9n })).toBe(9n);
    expect(sizeFor({ requiredBytes: 0n, limitBytes: 0n })).toBe(0n);
    expect(kindOf(() => sizeFor({ requiredBytes: 10n, limitBytes: 9n }))).toBe('invalid-argument');
    expect(fitsRange(5n, { requiredBytes: 5n, limitBytes: 0n })).toBe(true);
    expect(fitsRange(5n, { requiredBytes: 6n, limitBytes: 0n })).toBe(false);
    expect(fitsRange(5n, { requiredBytes: 1n, limitBytes: 4n })).toBe(false);
  });

  it('archive a volume beside itself', () => {
    expect(archivedName('pvc-1', '20250101T000000Z')).toBe('archived-pvc-1-20250101T000000Z');
    expect(archivedName('ns/pvc-1', '20250101T000000Z')).toBe('ns/archived-pvc-1-20250101T000000Z');
  });
});

describe('configuration', () => {
  const base = { name: 'nfs', type: 'nfs', server: 'nfs1.example.com', share: '/exports/k8s' };

  it('fills defaults', () => {
    const config = configSchema.parse({ backends: [base] });
    expect(config.backends[0]).toMatchObject({ mountOptions: ['nfsvers=4.1'], onDelete: 'delete', mountPermissions: 0o777, mountTimeoutSeconds: 30 });
    expect(configSchema.parse({ backends: [{ ...base, mountPermissions: '0770' }] }).backends[0]).toMatchObject({ mountPermissions: 0o770 });
  });

  it('refuses misspelt keys and unusable values', () => {
    for (const bad of [{ ...base, sever: 'x' }, { ...base, server: 'a b' }, { ...base, share: 'exports' }, { ...base, onDelete: 'shred' }, { ...base, mountOptions: ['a,b'] }, { ...base, mountPermissions: 777 }]) {
      expect(configSchema.safeParse({ backends: [bad] }).success).toBe(false);
    }
  });
});
