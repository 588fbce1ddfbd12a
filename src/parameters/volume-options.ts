import { DomainError, isDomainError } from '../errors.js';
import { DEFAULT_FS_TYPE, isSupportedFsType, SUPPORTED_FS_TYPES, type FsType } from '../node/filesystem.js';
import { parseMkfsArgs } from '../node/mkfs-options.js';
import { parsePreemptionMode, PARAM_PREEMPTION } from '../preemption/policy.js';
import { parseQos } from './qos.js';

/**
 * The filesystem and policy values a StorageClass sets and the volume context carries to ControllerPublish and the
 * node (fsType, mkfsOptions, preemption; QoS limits in ./qos.ts), checked with the node's own allow-lists: a value the node would refuse is
 * refused at CreateVolume or ControllerPublish, with the parameter named, before anything exists in the storage system.
 */

/** mke2fs keeps the inode count in 32 bits. */
const EXT4_MAX_INODES = 0xffff_ffffn;
/**
 * mke2fs cannot give a filesystem more inodes than blocks (an inode bitmap covers as many inodes per group as a block
 * bitmap covers blocks), and the smallest ext4 block is 1 KiB: more than one inode per KiB of the volume never fits.
 */
const EXT4_MIN_BYTES_PER_INODE = 1024n;

export function checkFsType(value: string, field: string): FsType {
  if (!isSupportedFsType(value)) throw new DomainError('invalid-argument', `${field}: "${value}" is not supported (${SUPPORTED_FS_TYPES.join(', ')})`);
  return value;
}

/**
 * `mkfsOptions` through the node's allow-list (src/node/mkfs-options.ts), plus bounds the allow-list cannot know
 * without the volume's size: ext4's `-N` (an inode count) must be a decimal number mke2fs can honour on a volume of
 * at most `maxBytes` (when the request bounds the size).
 */
export function checkMkfsOptions(text: string, fsType: FsType, field: string, maxBytes?: bigint): void {
  if (text.trim() === '') return;
  try {
    const args = parseMkfsArgs(text.trim().split(/\s+/), fsType);
    for (const arg of args) {
      if (fsType === 'ext4' && arg.flag === 'N') checkInodeCount(arg.value ?? '', maxBytes);
    }
  } catch (err) {
    if (isDomainError(err, 'invalid-argument')) throw new DomainError('invalid-argument', `${field}: ${err.message}`, { cause: err });
    throw err;
  }
}

function checkInodeCount(value: string, maxBytes: bigint | undefined): void {
  if (!/^[0-9]{1,20}$/.test(value)) throw new DomainError('invalid-argument', `mkfs option "-N ${value}" is not allowed: the inode count must be a decimal number`);
  const count = BigInt(value);
  if (count < 1n || count > EXT4_MAX_INODES) throw new DomainError('invalid-argument', `mkfs option "-N ${value}" is not allowed: ext4 holds 1 to ${EXT4_MAX_INODES} inodes`);
  if (maxBytes !== undefined && maxBytes > 0n && count > maxBytes / EXT4_MIN_BYTES_PER_INODE) {
    throw new DomainError(
      'invalid-argument',
      `mkfs option "-N ${value}" is not allowed: a volume of at most ${maxBytes} bytes holds at most ${maxBytes / EXT4_MIN_BYTES_PER_INODE} inodes (one per KiB)`,
    );
  }
}

/** Volume context keys Ferry writes at CreateVolume and reads back at ControllerPublish and on the node. */
export const CONTEXT_FS_TYPE = 'fsType';
export const CONTEXT_MKFS_OPTIONS = 'mkfsOptions';

/**
 * The volume context a ControllerPublish carries (Ferry's own from CreateVolume, or a static PV's attributes): every
 * value Ferry reads from it is checked as at CreateVolume. Keys Ferry does not read are the CO's business.
 * `capabilityFsType` is the publish request's mount fs_type ('' for none or a block volume).
 */
export function checkVolumeContext(context: Readonly<Record<string, string>>, capabilityFsType = ''): void {
  const fsType = context[CONTEXT_FS_TYPE];
  const contextFsType = fsType === undefined || fsType === '' ? undefined : checkFsType(fsType, `volume_context.${CONTEXT_FS_TYPE}`);
  const mkfsOptions = context[CONTEXT_MKFS_OPTIONS];
  // The filesystem the node will make, by the node's rule: the capability's fs_type, else the context's, else ext4.
  const madeFsType = capabilityFsType !== '' && isSupportedFsType(capabilityFsType) ? capabilityFsType : (contextFsType ?? DEFAULT_FS_TYPE);
  if (mkfsOptions !== undefined) checkMkfsOptions(mkfsOptions, madeFsType, `volume_context.${CONTEXT_MKFS_OPTIONS}`);
  parseQos(context, 'volume_context');
  const preemption = context[PARAM_PREEMPTION];
  if (preemption !== undefined) {
    try {
      parsePreemptionMode(preemption, 'safe');
    } catch (err) {
      if (isDomainError(err, 'invalid-argument')) throw new DomainError('invalid-argument', `volume_context.${err.message.replace(/^parameter /, '')}`, { cause: err });
      throw err;
    }
  }
}
