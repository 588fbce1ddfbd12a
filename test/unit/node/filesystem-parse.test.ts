import { describe, expect, it } from '@jest/globals';
import { isSupportedFsType, parseBlkidExport, parseDumpe2fs, parseFsType, parseXfsInfo } from '../../../src/node/filesystem.js';

describe('filesystem tool output', () => {
  it('parses blkid -o export', () => {
    const text = 'DEVNAME=/dev/loop0\nUUID=3b4dc691-fdf7\nVERSION=1.0\nBLOCK_SIZE=1024\nTYPE=ext4\nUSAGE=filesystem\n';
    expect(parseBlkidExport(text)).toMatchObject({ TYPE: 'ext4', USAGE: 'filesystem', DEVNAME: '/dev/loop0' });
    expect(parseBlkidExport('PTUUID=abcd\nPTTYPE=dos\n')).toEqual({ PTUUID: 'abcd', PTTYPE: 'dos' });
  });

  it('parses dumpe2fs -h', () => {
    const text = 'dumpe2fs 1.47.0 (5-Feb-2023)\nFilesystem volume name:   <none>\nBlock count:              65536\nReserved block count:     0\nBlock size:               1024\n';
    expect(parseDumpe2fs(text)).toEqual({ blockSize: 1024n, blockCount: 65536n, bytes: 64n * 1024n * 1024n });
    expect(() => parseDumpe2fs('nothing')).toThrow(/Block count/);
  });

  it('parses the data section of xfs_info', () => {
    const text = [
      'meta-data=/dev/loop0             isize=512    agcount=4, agsize=20480 blks',
      '         =                       sectsz=512   attr=2, projid32bit=1',
      'data     =                       bsize=4096   blocks=81920, imaxpct=25',
      '         =                       sunit=0      swidth=0 blks',
      'naming   =version 2              bsize=4096   ascii-ci=0, ftype=1',
      'log      =internal log           bsize=4096   blocks=16384, version=2',
    ].join('\n');
    expect(parseXfsInfo(text)).toEqual({ blockSize: 4096n, blockCount: 81920n, bytes: 81920n * 4096n });
    expect(() => parseXfsInfo('log =internal log bsize=4096 blocks=16384')).toThrow(/data section/);
  });

  it('supports exactly ext4 and xfs', () => {
    expect(parseFsType(undefined)).toBe('ext4');
    expect(parseFsType('')).toBe('ext4');
    expect(parseFsType('xfs')).toBe('xfs');
    expect(isSupportedFsType('btrfs')).toBe(false);
    for (const bad of ['ext3', 'XFS', 'btrfs', 'ext4 ']) {
      expect(() => parseFsType(bad)).toThrow(expect.objectContaining({ kind: 'invalid-argument' }));
    }
  });
});
