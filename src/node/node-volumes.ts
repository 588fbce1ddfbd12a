import { readFile, stat } from 'node:fs/promises';
import type { Capability, NodeSource, OpContext } from '../backends/backend.js';
import { publishShare, releaseShare, shareMountAt, shareUsage, stageShare } from '../backends/nfs/node-shares.js';
import { DomainError } from '../errors.js';
import { errnoCode } from './common.js';
import { waitForDevice } from './devices.js';
import {
  checkGrowth,
  deviceSize,
  growFilesystem,
  isUnfinishedFilesystem,
  makeFilesystem,
  parseMkfsOptions,
  probeFilesystem,
  rollBackCutShortResize,
  type FsType,
} from './filesystem.js';
import { findMount, majorMinorOf, type MountEntry } from './mount-table.js';
import { bindMount, mount, unmount } from './mounter.js';
import { refuseStagingPathAsTarget, requireOwnMount } from './own-mounts.js';
import { ensureDirectory, removeTarget } from './paths.js';
import { blockDeviceStats, volumeCondition, volumeStats, type VolumeStats } from './stats.js';
import type { NodeStateStore, StagedVolume } from './state-store.js';

export interface StageInput {
  volumeId: string;
  source: NodeSource;
  stagingPath: string;
  capability: Capability;
  fsType: FsType;
  mkfsOptions: string | undefined;
}

export interface PublishInput {
  volumeId: string;
  source: NodeSource;
  stagingPath: string;
  targetPath: string;
  capability: Capability;
  readOnly: boolean;
}

export interface VolumeUsage {
  kind: 'filesystem' | 'block';
  stats: VolumeStats | undefined;
  totalBytes: bigint;
  condition: { abnormal: boolean; message: string };
}

async function majorMinorOfDevice(device: string): Promise<string> {
  return majorMinorOf((await stat(device, { bigint: true })).rdev);
}

/**
 * The node plugin's work on this host: stage (wait for the device, format once, mount, grow), publish (bind mount),
 * and the reverse, each safe to repeat after a crash at any point. Every step first looks at what is already there.
 */
export class NodeVolumes {
  constructor(
    private readonly store: NodeStateStore,
    private readonly deviceWaitMs: number,
  ) {}

  async stage(input: StageInput, ctx: OpContext): Promise<void> {
    // A share is mounted, never formatted; and never recorded: the stale sweep judges records by their block device.
    if (input.source.kind === 'share') return stageShare({ ...input, source: input.source }, ctx);
    const call = { signal: ctx.signal, logger: ctx.log };
    const { rescan } = input.source;
    const device = await waitForDevice(input.source.devicePath, {
      timeoutMs: this.deviceWaitMs,
      signal: ctx.signal,
      logger: ctx.log,
      ...(rescan ? { rescan: () => rescan(ctx) } : {}),
    });
    const deviceNumber = await majorMinorOfDevice(device);
    const known = await this.store.get(input.volumeId);
    await ensureDirectory(input.stagingPath, { logger: ctx.log, signal: ctx.signal });
    let mounted = input.capability.accessType === 'mount' ? await findMount(input.stagingPath, { logger: ctx.log }) : undefined;
    if (mounted && mounted.majorMinor !== deviceNumber) {
      // Our own earlier mount of this volume, on the device of a mapping since taken away and given back: let it go.
      if (known?.deviceNumber === mounted.majorMinor && known.stagingPath === input.stagingPath) {
        ctx.log.warn({ volumeId: input.volumeId, stale: mounted.majorMinor, current: deviceNumber }, 'replacing a staging mount of an old mapping');
        while (await unmount(input.stagingPath, { lazy: true, logger: ctx.log, signal: ctx.signal })) {
          /* one layer per call */
        }
        mounted = undefined;
      } else {
        throw new DomainError('already-exists', `${input.stagingPath} holds another device (${mounted.source}), not volume ${input.volumeId}`);
      }
    }
    // Recorded before anything is mounted: a restart must find what a crash mid-stage left behind.
    const record: StagedVolume = {
      volumeId: input.volumeId,
      devicePath: input.source.devicePath,
      stagingPath: input.stagingPath,
      accessType: input.capability.accessType,
      deviceNumber,
      targets: known?.deviceNumber === deviceNumber ? known.targets : [],
    };
    // Our own mkfs on this very device never finished: what it left may be replaced.
    const unfinishedFormat = !mounted && known?.formatting === deviceNumber;
    // Probed before the record is written (blkid only reads): a blank volume's record is then written once, already
    // marked as being formatted, rather than once plain and once marked (each write is two fsyncs).
    const toMount = input.capability.accessType === 'mount' && !mounted;
    const existing = toMount ? await probeFilesystem(device, call) : undefined;
    const redo = existing !== undefined && unfinishedFormat && (await isUnfinishedFilesystem(device, existing, call));
    const format = toMount && (existing === undefined || redo);
    await this.store.put(unfinishedFormat || format ? { ...record, formatting: deviceNumber } : record);
    if (input.capability.accessType === 'block') return;
    if (mounted) {
      await this.growMounted(device, input.stagingPath, input.fsType, ctx);
      return;
    }

    if (format) {
      ctx.log.info({ volumeId: input.volumeId, device, fsType: input.fsType, ...(redo ? { unfinished: existing } : {}) },
        redo ? 'formatting again: our earlier mkfs of this volume was cut short' : 'formatting a blank volume');
      const mkfsOptions = parseMkfsOptions(input.mkfsOptions, input.fsType);
      await makeFilesystem(device, input.fsType, mkfsOptions, { ...call, timeoutMs: undefined, replaceUnfinished: redo });
      await this.store.put(record);
    } else if (existing !== input.fsType) {
      // Never format over data: a volume that holds something else is the operator's to sort out.
      throw new DomainError('failed-precondition', `volume ${input.volumeId} holds ${existing}, not ${input.fsType}; it is not reformatted`);
    } else if (input.fsType === 'ext4') {
      // Before anything reads its size: a grow cut short by a crash is undone first, or it would be mounted half-made.
      const undoFile = this.store.undoFile(input.volumeId);
      await rollBackCutShortResize(device, undoFile, call);
      // ext4 grows offline before the mount, which needs no CAP_SYS_RESOURCE (an online resize does).
      const growth = await checkGrowth(device, 'ext4', call);
      if (growth.needsGrow) await growFilesystem(device, undefined, 'ext4', { ...call, undoFile });
    }

    // Two xfs filesystems with one UUID (a snapshot and its source) may only meet on one host with nouuid.
    const options = [...input.capability.mountFlags, ...(input.fsType === 'xfs' ? ['nouuid'] : [])];
    await mount(device, input.stagingPath, { fsType: input.fsType, options, logger: ctx.log, signal: ctx.signal });
    if (input.fsType === 'xfs') await this.growMounted(device, input.stagingPath, 'xfs', ctx);
  }

  async unstage(volumeId: string, stagingPath: string, ctx: OpContext): Promise<void> {
    // A share may not answer: it is looked at only from child processes, and detached lazily when stale.
    if (await shareMountAt(stagingPath, ctx)) await releaseShare(stagingPath, false, ctx);
    // A mount may be stacked (a crash between two mounts): take every layer off.
    while (await unmount(stagingPath, { logger: ctx.log, signal: ctx.signal })) {
      /* one layer per call */
    }
    await this.store.remove(volumeId);
  }

  async publish(input: PublishInput, ctx: OpContext): Promise<void> {
    if (input.source.kind === 'share') return publishShare({ ...input, source: input.source }, ctx);
    const record = await this.store.get(input.volumeId);
    if (input.capability.accessType === 'block') {
      const device = await waitForDevice(input.source.devicePath, { timeoutMs: this.deviceWaitMs, signal: ctx.signal, logger: ctx.log });
      const existing = await findMount(input.targetPath, { logger: ctx.log });
      if (existing) {
        // A bound device node shows as devtmpfs in the mount table; the node itself tells which device it is.
        const bound = await stat(input.targetPath, { bigint: true });
        if (!bound.isBlockDevice() || majorMinorOf(bound.rdev) !== (await majorMinorOfDevice(device))) {
          throw new DomainError('already-exists', `${input.targetPath} holds another device, not volume ${input.volumeId}`);
        }
      } else {
        await this.remember(record, input);
        // A device the controller published read-only is read-only itself; a bind cannot make a writable one so.
        if (input.readOnly && !(await isReadOnlyDevice(device))) {
          throw new DomainError('invalid-argument', `a read-only raw block publish needs the volume published read-only by the controller`);
        }
        await bindMount(device, input.targetPath, { logger: ctx.log, signal: ctx.signal });
      }
      return;
    }

    const staged = await findMount(input.stagingPath, { logger: ctx.log });
    if (!staged) throw new DomainError('failed-precondition', `volume ${input.volumeId} is not staged at ${input.stagingPath}: NodeStageVolume first`);
    const existing = await findMount(input.targetPath, { logger: ctx.log });
    if (existing) {
      if (!sameFilesystem(existing, staged)) {
        throw new DomainError('already-exists', `${input.targetPath} holds another volume (${existing.source}), not ${input.volumeId}`);
      }
      const readOnly = existing.options.includes('ro');
      if (readOnly !== input.readOnly) {
        throw new DomainError('already-exists', `volume ${input.volumeId} is published at ${input.targetPath} ${readOnly ? 'read-only' : 'read-write'} already`);
      }
      return;
    }
    await this.remember(record, input);
    const flags = input.capability.mountFlags.filter((f) => f !== 'ro' && f !== 'rw');
    await bindMount(input.stagingPath, input.targetPath, { readOnly: input.readOnly, options: flags, logger: ctx.log, signal: ctx.signal });
  }

  async unpublish(volumeId: string, targetPath: string, source: NodeSource | undefined, ctx: OpContext): Promise<void> {
    const record = await this.store.get(volumeId);
    refuseStagingPathAsTarget(volumeId, targetPath, record);
    if (await shareMountAt(targetPath, ctx)) {
      // An export's bind mount is told apart by the share layer itself (share-mounts.ts).
      await releaseShare(targetPath, true, ctx);
      while (await unmount(targetPath, { logger: ctx.log, signal: ctx.signal })) {
        /* one layer per call */
      }
    } else {
      // Every layer is looked at before it comes off: each must be this volume's.
      for (let entry = await findMount(targetPath, { logger: ctx.log }); entry; entry = await findMount(targetPath, { logger: ctx.log })) {
        await requireOwnMount(volumeId, targetPath, entry, record, source);
        if (!(await unmount(targetPath, { logger: ctx.log, signal: ctx.signal }))) break;
      }
    }
    await removeTarget(targetPath, { logger: ctx.log, signal: ctx.signal });
    if (record?.targets.includes(targetPath)) await this.store.put({ ...record, targets: record.targets.filter((t) => t !== targetPath) });
  }

  /** Usage of a published or staged path; not-found when nothing of this volume is there. */
  async usage(volumePath: string, ctx: OpContext): Promise<VolumeUsage> {
    const share = await shareMountAt(volumePath, ctx);
    if (share) {
      const { stats, condition } = await shareUsage(volumePath, share, ctx);
      return { kind: 'filesystem', stats, totalBytes: stats?.totalBytes ?? 0n, condition };
    }
    let info;
    try {
      info = await stat(volumePath);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw new DomainError('not-found', `${volumePath} does not exist`);
      throw err;
    }
    const call = { signal: ctx.signal, logger: ctx.log };
    if (info.isBlockDevice()) {
      const { totalBytes } = await blockDeviceStats(volumePath, call);
      return { kind: 'block', stats: undefined, totalBytes, condition: await volumeCondition(volumePath, { ...call, block: true }) };
    }
    const entry = await findMount(volumePath, { logger: ctx.log });
    if (!entry) throw new DomainError('not-found', `no volume is mounted at ${volumePath}`);
    const stats = await volumeStats(volumePath, call);
    // Read-only on purpose (a read-only publish, a read-only mapping) shows in the mount's own flags; a filesystem
    // that went read-only on errors shows only in its superblock's.
    const readOnly = entry.options.includes('ro');
    return { kind: 'filesystem', stats, totalBytes: stats.totalBytes, condition: await volumeCondition(volumePath, { ...call, readOnly }) };
  }

  /** Grows the filesystem mounted at volumePath to its device; answers the device size. */
  async expand(volumePath: string, ctx: OpContext): Promise<bigint> {
    // An export has no quota here: the controller recorded the new size, and there is nothing to grow (0: unknown).
    if (await shareMountAt(volumePath, ctx)) return 0n;
    const usage = await this.usage(volumePath, ctx);
    const call = { signal: ctx.signal, logger: ctx.log };
    if (usage.kind === 'block') return usage.totalBytes;
    const entry = await findMount(volumePath, { logger: ctx.log });
    if (!entry) throw new DomainError('not-found', `no volume is mounted at ${volumePath}`);
    const fsType = entry.fsType === 'xfs' ? 'xfs' : entry.fsType === 'ext4' ? 'ext4' : undefined;
    if (!fsType) throw new DomainError('failed-precondition', `${volumePath} is ${entry.fsType}, which Ferry does not grow`);
    await this.growMounted(entry.source, volumePath, fsType, ctx);
    return deviceSize(entry.source, call);
  }

  /** Staged volumes this node recorded (for the start-up clean-up). */
  records(): Promise<StagedVolume[]> {
    return this.store.list();
  }

  record(volumeId: string): Promise<StagedVolume | undefined> {
    return this.store.get(volumeId);
  }

  forget(volumeId: string): Promise<void> {
    return this.store.remove(volumeId);
  }

  private async growMounted(device: string, mountPath: string, fsType: FsType, ctx: OpContext): Promise<void> {
    const call = { signal: ctx.signal, logger: ctx.log };
    const growth = await checkGrowth(device, fsType, { ...call, mountPath });
    if (!growth.needsGrow) return;
    ctx.log.info({ device, mountPath, fromBytes: String(growth.filesystemBytes), toBytes: String(growth.deviceBytes) }, 'growing the filesystem');
    await growFilesystem(device, mountPath, fsType, call);
  }

  private async remember(record: StagedVolume | undefined, input: PublishInput): Promise<void> {
    const base: StagedVolume = record ?? {
      volumeId: input.volumeId,
      devicePath: input.source.kind === 'block' ? input.source.devicePath : input.source.source,
      stagingPath: input.stagingPath,
      accessType: input.capability.accessType,
      targets: [],
    };
    if (!base.targets.includes(input.targetPath)) await this.store.put({ ...base, targets: [...base.targets, input.targetPath] });
  }
}

/** A bind of the staging mount: the same filesystem (device) and the same directory within it. */
function sameFilesystem(a: MountEntry, b: MountEntry): boolean {
  return a.majorMinor === b.majorMinor && a.root === b.root;
}

/** The kernel's own read-only flag of a block device (a read-only mapping makes one). */
async function isReadOnlyDevice(device: string): Promise<boolean> {
  const name = device.replace(/^\/dev\//, '');
  try {
    return (await readFile(`/sys/class/block/${name}/ro`, 'utf8')).trim() === '1';
  } catch {
    return false;
  }
}
