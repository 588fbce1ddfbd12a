import { describe, expect, it } from '@jest/globals';
import { mkfsArguments, parseMkfsOptions, type MkfsFsType } from '../../../src/node/mkfs-options.js';

describe('mkfsOptions parameter', () => {
  it('accepts ordinary shaping options, with separate or attached values', () => {
    expect(parseMkfsOptions('-b 4096  -E stride=16,stripe_width=64 -L data -m1', 'ext4')).toEqual(['-b', '4096', '-E', 'stride=16,stripe_width=64', '-L', 'data', '-m', '1']);
    expect(parseMkfsOptions('-O ^metadata_csum -T largefile', 'ext4')).toEqual(['-O', '^metadata_csum', '-T', 'largefile']);
    expect(parseMkfsOptions('-i size=512 -d su=64k,sw=4 -K', 'xfs')).toEqual(['-i', 'size=512', '-d', 'su=64k,sw=4', '-K']);
    expect(parseMkfsOptions(undefined, 'xfs')).toEqual([]);
    expect(parseMkfsOptions('   ', 'ext4')).toEqual([]);
  });

  it.each<[string, MkfsFsType, RegExp]>([
    ['-L data; rm -rf /', 'ext4', /not allowed/],
    ['-L $(reboot)', 'ext4', /no paths, no shell/],
    ['-L `x`', 'ext4', /no paths/],
    ['-J device=/dev/sdb', 'ext4', /no paths/],
    ['-J device=UUID=1234', 'ext4', /another device/],
    ['-E offset=4096', 'ext4', /another device or file, or move/],
    ['-O journal_dev', 'ext4', /mountable/],
    ['-d root', 'ext4', /host directory/],
    ['-t ext2', 'ext4', /changes the filesystem type/],
    ['-n', 'ext4', /dry run/],
    ['-S', 'ext4', /superblocks only/],
    ['-Fq', 'ext4', /no bundling/],
    ['/dev/sdb', 'ext4', /no paths/],
    ['-b 4096 1000', 'ext4', /bare word/],
    ['--help', 'ext4', /long options/],
    ['-E', 'ext4', /needs a value/],
    ['-x', 'ext4', /not a known/],
    ['-l logdev=sdb', 'xfs', /another device/],
    ['-r rtdev=sdc', 'xfs', /another device/],
    ['-d name=img', 'xfs', /another device/],
    ['-p proto', 'xfs', /prototype/],
    ['-N', 'xfs', /dry run/],
    ['-c options=x', 'xfs', /configuration file/],
    ['-L a|b', 'xfs', /no paths/],
  ])('refuses %p for %s', (text, fsType, message) => {
    expect(() => parseMkfsOptions(text, fsType)).toThrow(message);
    try {
      parseMkfsOptions(text, fsType);
    } catch (err) {
      expect(err).toMatchObject({ kind: 'invalid-argument' });
    }
  });
});

describe('mkfs arguments with defaults', () => {
  it('ext4: force, no reserved blocks, lazy init', () => {
    expect(mkfsArguments('ext4', [])).toEqual(['-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1']);
  });

  it('ext4: the caller overrides -m and individual -E keys, and all -E lists end up in one', () => {
    expect(mkfsArguments('ext4', ['-m', '5', '-E', 'lazy_itable_init=0,stride=8', '-E', 'nodiscard', '-L', 'x'])).toEqual([
      '-F',
      '-E',
      'lazy_journal_init=1,lazy_itable_init=0,stride=8,nodiscard',
      '-m',
      '5',
      '-L',
      'x',
    ]);
  });

  it('xfs: -f once, extra arguments after it', () => {
    expect(mkfsArguments('xfs', ['-f', '-L', 'data'])).toEqual(['-f', '-L', 'data']);
  });

  it('validates extra arguments handed in as an array too', () => {
    expect(() => mkfsArguments('xfs', ['-l', 'logdev=sdz'])).toThrow(/another device/);
    expect(() => mkfsArguments('ext4', ['-L', 'a b'])).toThrow(/no paths, no shell/);
  });
});
