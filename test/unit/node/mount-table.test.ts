import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isDomainError } from '../../../src/errors.js';
import {
  findMount,
  findMountIn,
  isReadOnlyEntry,
  majorMinorOf,
  mountsOfSource,
  parseMountInfo,
  parseMountInfoLine,
  readMountTable,
  unescapeMountField,
  type MountEntry,
} from '../../../src/node/mount-table.js';

const GLOBAL = '/var/lib/kubelet/plugins/kubernetes.io/csi/ferry.csi/0a1b/globalmount';
const POD = '/var/lib/kubelet/pods/p1/volumes/kubernetes.io~csi/pvc-1/mount';
const BLOCK = '/var/lib/kubelet/plugins/kubernetes.io/csi/volumeDevices/publish/pvc-2/pod-uid';

// Captured from a node (trimmed), plus the awkward cases: escapes, a subdirectory bind, nesting, stacking.
const MOUNTINFO = [
  '22 27 0:21 / /proc rw,relatime shared:5 - proc proc rw',
  '27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard,errors=remount-ro',
  `100 27 7:0 / ${GLOBAL} rw,relatime shared:50 - ext4 /dev/loop0 rw`,
  `101 27 7:0 / ${POD} ro,relatime shared:50 - ext4 /dev/loop0 rw`,
  '102 27 7:0 /sub\\040dir /mnt/with\\040space\\011tab ro,nosuid master:3 unbindable - ext4 /dev/loop0 rw',
  '103 102 0:50 / /mnt/with\\040space\\011tab/nested rw,relatime - tmpfs back\\134slash rw,size=1024k',
  `104 27 0:6 /loop3 ${BLOCK} rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=100k,mode=755`,
  `105 100 0:51 / ${GLOBAL} rw - tmpfs none rw`,
  '106 27 253:3 / /data rw,relatime - xfs /dev/mapper/vg-data ro,attr2,inode64',
  '107 27 0:52 / /nfs rw,relatime - nfs4 server:/export\\040x rw,vers=4.1,addr=10.0.0.1',
  '',
].join('\n');

describe('mountinfo parsing', () => {
  const entries = parseMountInfo(MOUNTINFO);

  it('reads every field of a plain line', () => {
    expect(entries).toHaveLength(10);
    expect(entries[1]).toEqual({
      id: 27,
      parentId: 1,
      majorMinor: '254:0',
      root: '/',
      mountPoint: '/',
      options: ['rw', 'relatime'],
      optionalFields: ['shared:1'],
      fsType: 'ext4',
      source: '/dev/vda',
      superOptions: ['rw', 'discard', 'errors=remount-ro'],
    });
  });

  it('undoes the octal escapes in root, mount point and source', () => {
    const bind = entries.find((e) => e.id === 102);
    expect(bind?.root).toBe('/sub dir');
    expect(bind?.mountPoint).toBe('/mnt/with space\ttab');
    expect(bind?.optionalFields).toEqual(['master:3', 'unbindable']);
    expect(entries.find((e) => e.id === 103)?.source).toBe('back\\slash');
    expect(entries.find((e) => e.id === 107)?.source).toBe('server:/export x');
    expect(unescapeMountField('a\\012b\\134c')).toBe('a\nb\\c');
    expect(unescapeMountField('plain-ünïcode')).toBe('plain-ünïcode');
  });

  it('handles lines without optional fields and with empty-looking sources', () => {
    const stacked = entries.find((e) => e.id === 105);
    expect(stacked?.optionalFields).toEqual([]);
    expect(stacked?.source).toBe('none');
    expect(stacked?.options).toEqual(['rw']);
  });

  it('refuses a line without the " - " separator', () => {
    expect(() => parseMountInfoLine('1 2 3:4 / /x rw ext4 /dev/x rw')).toThrow(/unexpected mountinfo line/);
    try {
      parseMountInfoLine('garbage');
    } catch (err) {
      expect(isDomainError(err, 'internal')).toBe(true);
    }
  });

  it('finds the visible mount of a stack, and nested mounts by exact path', () => {
    expect(findMountIn(entries, GLOBAL)?.id).toBe(105);
    expect(findMountIn(entries, '/mnt/with space\ttab/nested')?.fsType).toBe('tmpfs');
    expect(findMountIn(entries, '/mnt/with space\ttab')?.id).toBe(102);
    expect(findMountIn(entries, '/mnt')).toBeUndefined();
    expect(findMountIn(entries, `${POD}/`)).toBeUndefined();
  });

  it('tells read-only per mount and per filesystem apart, and both count', () => {
    const byId = (id: number): MountEntry => {
      const found = entries.find((e) => e.id === id);
      if (found === undefined) throw new Error(`no entry ${id}`);
      return found;
    };
    expect(isReadOnlyEntry(byId(100))).toBe(false);
    expect(isReadOnlyEntry(byId(101))).toBe(true); // ro bind of a rw filesystem
    expect(isReadOnlyEntry(byId(106))).toBe(true); // rw mount of a filesystem that went ro
  });

  it('a raw block publish is a bind of the device node: root names the node', () => {
    const block = entries.find((e) => e.mountPoint === BLOCK);
    expect(block?.root).toBe('/loop3');
    expect(block?.fsType).toBe('devtmpfs');
  });
});

describe('mount table from a file', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-mountinfo-'));
    file = path.join(dir, 'mountinfo');
    await writeFile(file, MOUNTINFO);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads, finds and lists by source', async () => {
    expect(await readMountTable({ mountInfoPath: file })).toHaveLength(10);
    // Absent paths are compared as given (made absolute), so a vanished target is still found.
    expect((await findMount(POD, { mountInfoPath: file }))?.id).toBe(101);
    const ofLoop = await mountsOfSource('/dev/loop0', { mountInfoPath: file });
    expect(ofLoop.map((e) => e.id)).toEqual([100, 101, 102]);
  });

  it('reports an unreadable table as internal', async () => {
    await expect(readMountTable({ mountInfoPath: path.join(dir, 'missing') })).rejects.toMatchObject({ kind: 'internal' });
  });
});

describe('device numbers', () => {
  it('splits dev_t like the kernel', () => {
    expect(majorMinorOf(0x700n)).toBe('7:0');
    // minor 300 needs the high minor bits (above bit 20 of the encoding).
    expect(majorMinorOf(44n | (8n << 8n) | (256n << 12n))).toBe('8:300');
    expect(majorMinorOf((259n & 0xfffn) << 8n)).toBe('259:0');
  });
});
