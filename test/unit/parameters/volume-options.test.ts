import { refusal } from '../../helpers/refusal.js';
import { checkMkfsOptions, checkVolumeContext } from '../../../src/parameters/volume-options.js';

const GiB = 1n << 30n;

describe('checkMkfsOptions: the node allow-list plus the -N bound', () => {
  test.each(['-F /dev/sda', '; rm -rf /', '$(id)', '-d /etc', '-E offset=4096', '--help', '-N', '-N -1', '-N 1e6', '-N 0x10', '-N 0'])('ext4 "%s" is refused, naming the field', (text) => {
    expect(refusal(() => checkMkfsOptions(text, 'ext4', 'parameter mkfsOptions', GiB))).toMatch(/^parameter mkfsOptions: mkfs option /);
  });

  test('-N is bounded by one inode per KiB of the requested size, and by 32 bits without one', () => {
    expect(() => checkMkfsOptions('-N 1048576', 'ext4', 'f', GiB)).not.toThrow();
    expect(refusal(() => checkMkfsOptions('-N 1048577', 'ext4', 'f', GiB))).toContain('at most 1048576 inodes');
    expect(() => checkMkfsOptions('-N 4294967295', 'ext4', 'f')).not.toThrow();
    expect(refusal(() => checkMkfsOptions('-N 4294967296', 'ext4', 'f'))).toContain('ext4 holds 1 to 4294967295 inodes');
  });

  test('good options and blank text pass; xfs keeps its own list', () => {
    expect(() => checkMkfsOptions('-b 4096 -E stride=16,lazy_itable_init=0 -L data', 'ext4', 'f', GiB)).not.toThrow();
    expect(() => checkMkfsOptions('  ', 'ext4', 'f')).not.toThrow();
    expect(() => checkMkfsOptions('-m crc=1 -i size=512', 'xfs', 'f', GiB)).not.toThrow();
    expect(refusal(() => checkMkfsOptions('-N', 'xfs', 'f'))).toContain('dry run');
  });
});

describe('checkVolumeContext', () => {
  test('mkfsOptions are checked for the filesystem the node will make: the capability\'s fs_type first', () => {
    // xfs -n sets the directory block size; ext4 -n is a dry run.
    expect(() => checkVolumeContext({ fsType: 'ext4', mkfsOptions: '-n size=8192' }, 'xfs')).not.toThrow();
    expect(refusal(() => checkVolumeContext({ fsType: 'xfs', mkfsOptions: '-n size=8192' }, 'ext4'))).toMatch(/^volume_context\.mkfsOptions/);
    expect(refusal(() => checkVolumeContext({ mkfsOptions: '-n size=8192' }))).toMatch(/^volume_context\.mkfsOptions/);
  });

  test('Ferry\'s own context passes; keys it does not read are left alone', () => {
    expect(() => checkVolumeContext({ backend: 'pool', fsType: 'xfs', mkfsOptions: '-m crc=1', preemption: 'force', 'storage.kubernetes.io/csiProvisionerIdentity': 'x' })).not.toThrow();
    expect(() => checkVolumeContext({})).not.toThrow();
  });

  test.each([
    [{ preemption: 'yolo' }, 'volume_context.preemption'],
    [{ fsType: 'btrfs' }, 'volume_context.fsType'],
    [{ fsType: 'ext4', mkfsOptions: '-d /etc' }, 'volume_context.mkfsOptions'],
    [{ fsType: 'xfs', mkfsOptions: '-p file' }, 'volume_context.mkfsOptions'],
    [{ mkfsOptions: '-z undo' }, 'volume_context.mkfsOptions'],
  ])('%j is refused, naming %s', (context, field) => {
    expect(refusal(() => checkVolumeContext(context))).toMatch(new RegExp(`^${field.replace('.', '\\.')}`));
  });
});
