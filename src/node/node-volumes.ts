import { readFile, stat } from 'node:fs/promises';
import type { Capability, NodeSource, OpContext } from '../backends/backend.js';
import { isShareOf, publishShare, releaseShare, shareMountAt, shareUsage, stageShare } from '../backends/nfs/node-shares.js';
import { DomainError, errorMessage, isDomainError } from '../errors.js';
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
import { isOwnMount, mountedDevice as mountedDeviceOf, refuseStagingPathAsTarget, requireOwnMount } from './own-mounts.js';
import { closeViewIfUnused, openView, refreshViewSize, viewBoundAt, viewedDevice, viewsOf } from './read-only-view.js';
import { ensureDirectory, removeTarget } from './paths.js';
import { blockDeviceStats, volumeCondition, volumeStats, type VolumeStats } from './stats.js';
import { isVfsFlag } from '../parameters/mount-flags.js';
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
    if (known) await this.refuseOtherStage(known, input, deviceNumber, ctx);
    // The targets an earlier mapping's device is bound at hold a copy that no longer sees the volume's writes: they
    // come off as the stale sweep would take them off, before this mapping is staged.
    const targets = known === undefined ? [] : known.deviceNumber === deviceNumber ? known.targets : await this.dropStaleTargets(known, ctx);
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
      targets,
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
      // Staged already as another filesystem: an incompatible second stage, and the other filesystem's tools would
      // only fail on it.
      if (mounted.fsType !== input.fsType) {
        throw new DomainError('already-exists', `volume ${input.volumeId} is staged at ${input.stagingPath} as ${mounted.fsType} already, not ${input.fsType}`);
      }
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
    } else if (input.fsType === 'ext4' && !(await isReadOnlyDevice(device))) {
      // (A read-only mapping cannot be written: neither undone nor grown here; it mounts as it is, or the mount says why.)
      // Before anything reads its size: a grow cut short by a crash is undone first, or it would be mounted half-made.
      const undoFile = this.store.undoFile(input.volumeId);
      await rollBackCutShortResize(device, undoFile, call);
      // ext4 grows offline before the mount, which needs no CAP_SYS_RESOURCE (an online resize does).
      const growth = await checkGrowth(device, 'ext4', call);
      if (growth.needsGrow) await growFilesystem(device, undefined, 'ext4', { ...call, undoFile });
    }

    // Two xfs filesystems with one UUID (a snapshot and its source) may only meet on one host with nouuid.
    const options = [...input.capability.mountFlags, ...(input.fsType === 'xfs' ? ['nouuid'] : [])];
    await mount(device, input.stagingPath, { fsType: input.fsType, options, logger: ctx.log, signal: ctx.signal }).catch(async (err: unknown) => {
      // A read-only mapping (ControllerPublish readonly) of a filesystem that cannot be mounted read-only (its journal
      // wants recovery): the volume's state, not a fault of ours.
      if (isDomainError(err, 'internal') && (await isReadOnlyDevice(device))) {
        throw new DomainError('failed-precondition', `volume ${input.volumeId} is mapped read-only here and its ${input.fsType} cannot be mounted from a read-only device: ${errorMessage(err)}`, { cause: err });
      }
      throw err;
    });
    if (input.fsType === 'xfs') await this.growMounted(device, input.stagingPath, 'xfs', ctx);
  }

  async unstage(volumeId: string, stagingPath: string, source: NodeSource | undefined, ctx: OpContext): Promise<void> {
    // A share may not answer: it is looked at only from child processes, and detached lazily when stale.
    const share = await shareMountAt(stagingPath, ctx);
    if (share) {
      if (!isShareOf(share, source)) {
        throw new DomainError('failed-precondition', `${stagingPath} holds ${share.source} (${share.fsType}), which is not volume ${volumeId}: not unmounted`);
      }
      await releaseShare(stagingPath, false, ctx);
    }
    const record = await this.store.get(volumeId);
    // Never the stage from under a pod: a target this node published the volume to, still mounted, comes off first.
    if (record?.stagingPath === stagingPath) {
      for (const target of record.targets) {
        const held = await findMount(target, { logger: ctx.log });
        if (held && (await isOwnMount(target, held, record, source))) {
          throw new DomainError('failed-precondition', `volume ${volumeId} is still published at ${target}: NodeUnpublishVolume first`);
        }
      }
    }
    // A mount may be stacked (a crash between two mounts): take every layer off, each proven the volume's own first.
    for (let entry = await findMount(stagingPath, { logger: ctx.log }); entry; entry = await findMount(stagingPath, { logger: ctx.log })) {
      await requireOwnMount(volumeId, stagingPath, entry, record, source);
      if (!(await unmount(stagingPath, { logger: ctx.log, signal: ctx.signal }))) break;
    }
    // A read-only view left by a publish cut short between losetup and the bind: no target of this stage binds it now.
    if (record?.stagingPath === stagingPath && record.accessType === 'block' && record.deviceNumber !== undefined) {
      for (const view of await viewsOf(record.deviceNumber)) await closeViewIfUnused(view, record.targets, { signal: ctx.signal, logger: ctx.log });
    }
    // The record of a stage elsewhere stays: that stage is still up.
    if (record === undefined || record.stagingPath === stagingPath) await this.store.remove(volumeId);
  }

  async publish(input: PublishInput, ctx: OpContext): Promise<void> {
    if (input.targetPath === input.stagingPath) {
      throw new DomainError('invalid-argument', `target_path ${input.targetPath} is the staging path itself: a publish goes to a path of its own`);
    }
    if (input.source.kind === 'share') return publishShare({ ...input, source: input.source }, ctx);
    const record = await this.store.get(input.volumeId);
    refuseStagingPathAsTarget(input.volumeId, input.targetPath, record);
    if (input.capability.accessType === 'block') {
      const device = await waitForDevice(input.source.devicePath, { timeoutMs: this.deviceWaitMs, signal: ctx.signal, logger: ctx.log });
      const deviceNumber = await majorMinorOfDevice(device);
      // Staged on the device of an earlier mapping (the volume was unmapped and mapped again since): the stage is
      // stale, and a target bound to this device would be one the record cannot prove the volume's once it is gone.
      if (record?.deviceNumber !== undefined && record.deviceNumber !== deviceNumber) {
        throw new DomainError('failed-precondition', `volume ${input.volumeId} was staged on device ${record.deviceNumber}, an earlier mapping; it is device ${deviceNumber} now: NodeStageVolume first`);
      }
      // Read-only asked of a writable mapping: a read-only view of the device is bound, never the device itself.
      const viaView = input.readOnly && !(await isReadOnlyDevice(device));
      const existing = await findMount(input.targetPath, { logger: ctx.log });
      if (existing) {
        // A bound device node shows as devtmpfs in the mount table; the node itself tells which device it is.
        const bound = await stat(input.targetPath, { bigint: true });
        const boundNumber = bound.isBlockDevice() ? majorMinorOf(bound.rdev) : undefined;
        const shown = boundNumber === undefined ? undefined : ((await viewedDevice(boundNumber)) ?? boundNumber);
        if (shown !== deviceNumber) {
          throw new DomainError('already-exists', `${input.targetPath} holds another device, not volume ${input.volumeId}`);
        }
        if ((shown !== boundNumber) !== viaView) {
          throw new DomainError('already-exists', `volume ${input.volumeId} is published at ${input.targetPath} ${viaView ? 'read-write' : 'read-only'} already`);
        }
      } else {
        await this.remember(record, input, deviceNumber);
        const call = { signal: ctx.signal, logger: ctx.log };
        const source = viaView ? await openView(device, deviceNumber, call) : device;
        try {
          await bindMount(source, input.targetPath, call);
        } catch (err) {
          if (viaView) await closeViewIfUnused(await majorMinorOfDevice(source), record?.targets ?? [], call).catch(() => undefined);
          throw err;
        }
      }
      return;
    }

    const staged = await findMount(input.stagingPath, { logger: ctx.log });
    // Only the volume's own stage is bound: another volume's staging path given with this id is not this volume's.
    if (!staged || !(await isOwnMount(input.stagingPath, staged, record, input.source))) throw new DomainError('failed-precondition', `volume ${input.volumeId} is not staged at ${input.stagingPath}: NodeStageVolume first`);
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
    // The filesystem's own options were set at stage; a bind takes the per-mount ones (checked at the CSI layer).
    const flags = input.capability.mountFlags.filter((f) => f !== 'ro' && f !== 'rw' && isVfsFlag(f));
    await bindMount(input.stagingPath, input.targetPath, { readOnly: input.readOnly, options: flags, logger: ctx.log, signal: ctx.signal });
  }

  async unpublish(volumeId: string, targetPath: string, source: NodeSource | undefined, ctx: OpContext): Promise<void> {
    const record = await this.store.get(volumeId);
    refuseStagingPathAsTarget(volumeId, targetPath, record);
    const share = await shareMountAt(targetPath, ctx);
    if (share) {
      // An export's bind mount is told apart by the share layer itself (share-mounts.ts); it must be this volume's.
      if (!isShareOf(share, source)) {
        throw new DomainError('failed-precondition', `${targetPath} holds ${share.source} (${share.fsType}), which is not volume ${volumeId}: not unmounted`);
      }
      await releaseShare(targetPath, true, ctx);
      while (await unmount(targetPath, { logger: ctx.log, signal: ctx.signal })) {
        /* one layer per call */
      }
    } else {
      // Every layer is looked at before it comes off: each must be this volume's.
      for (let entry = await findMount(targetPath, { logger: ctx.log }); entry; entry = await findMount(targetPath, { logger: ctx.log })) {
        await requireOwnMount(volumeId, targetPath, entry, record, source);
        const view = await viewBoundAt(targetPath);
        if (!(await unmount(targetPath, { logger: ctx.log, signal: ctx.signal }))) break;
        // Proven this volume's above (a view stands for the device it shows): detached once no other target binds it.
        if (view !== undefined) await closeViewIfUnused(view, (record?.targets ?? []).filter((t) => t !== targetPath), { signal: ctx.signal, logger: ctx.log });
      }
    }
    await removeTarget(targetPath, { logger: ctx.log, signal: ctx.signal });
    // Not fsynced: a crash that undoes it leaves a record naming a target that is no longer mounted, which every later
    // step (unstage, the stale sweep) already finds empty. (A record written before a mount is fsynced: see remember.)
    if (record?.targets.includes(targetPath)) await this.store.put({ ...record, targets: record.targets.filter((t) => t !== targetPath) }, { durable: false });
  }

  /**
   * Usage of a published or staged path of this volume; not-found when nothing of this volume is there: the share
   * mounted there must be the volume's directory, and the device behind the mount (or the device node bound there)
   * must be the volume's own (its record's, or its current mapping's). Nothing of a stranger is ever stat'ed.
   */
  async usage(volumeId: string, volumePath: string, source: NodeSource | undefined, ctx: OpContext): Promise<VolumeUsage> {
    const share = await shareMountAt(volumePath, ctx);
    if (share) {
      if (!isShareOf(share, source)) throw notThisVolume(volumeId, volumePath);
      const { stats, condition } = await shareUsage(volumePath, share, ctx);
      return { kind: 'filesystem', stats, totalBytes: stats?.totalBytes ?? 0n, condition };
    }
    const entry = await this.ownMountAt(volumeId, volumePath, source, ctx);
    const call = { signal: ctx.signal, logger: ctx.log };
    const info = await stat(volumePath, { bigint: true }).catch((err: unknown) => {
      if (errnoCode(err) === 'ENOENT') throw new DomainError('not-found', `${volumePath} does not exist`);
      throw err;
    });
    if (info.isBlockDevice()) {
      const { totalBytes } = await blockDeviceStats(majorMinorOf(info.rdev));
      return { kind: 'block', stats: undefined, totalBytes, condition: await volumeCondition(volumePath, { ...call, block: true }) };
    }
    const stats = await volumeStats(volumePath, call);
    // Read-only on purpose (a read-only publish, a read-only mapping) shows in the mount's own flags; a filesystem
    // that went read-only on errors shows only in its superblock's.
    const readOnly = entry.options.includes('ro');
    return { kind: 'filesystem', stats, totalBytes: stats.totalBytes, condition: await volumeCondition(volumePath, { ...call, readOnly }) };
  }

  /** Grows the filesystem mounted at volumePath (this volume's own) to its device; answers the device size. */
  async expand(volumeId: string, volumePath: string, source: NodeSource | undefined, ctx: OpContext): Promise<bigint> {
    // An export has no quota here: the controller recorded the new size, and there is nothing to grow (0: unknown).
    const share = await shareMountAt(volumePath, ctx);
    if (share) {
      if (!isShareOf(share, source)) throw notThisVolume(volumeId, volumePath);
      return 0n;
    }
    await this.ownMountAt(volumeId, volumePath, source, ctx);
    // A read-only view keeps the size it was made with: it takes the device's new size first.
    const view = await viewBoundAt(volumePath);
    if (view !== undefined) await refreshViewSize(view, { signal: ctx.signal, logger: ctx.log });
    const usage = await this.usage(volumeId, volumePath, source, ctx);
    const call = { signal: ctx.signal, logger: ctx.log };
    if (usage.kind === 'block') return usage.totalBytes;
    const entry = await this.ownMountAt(volumeId, volumePath, source, ctx);
    const fsType = entry.fsType === 'xfs' ? 'xfs' : entry.fsType === 'ext4' ? 'ext4' : undefined;
    if (!fsType) throw new DomainError('failed-precondition', `${volumePath} is ${entry.fsType}, which Ferry does not grow`);
    await this.growMounted(entry.source, volumePath, fsType, ctx);
    return deviceSize(entry.source, call);
  }

  /** The mount at exactly `volumePath`, proven this volume's by its device; not-found otherwise. */
  private async ownMountAt(volumeId: string, volumePath: string, source: NodeSource | undefined, ctx: OpContext): Promise<MountEntry> {
    const entry = await findMount(volumePath, { logger: ctx.log });
    if (!entry) throw new DomainError('not-found', `no volume is mounted at ${volumePath}`);
    const record = await this.store.get(volumeId);
    if (!(await isOwnMount(volumePath, entry, record, source))) throw notThisVolume(volumeId, volumePath);
    return entry;
  }

  /**
   * A volume staged here already is not staged a second time somewhere else, nor for the other access type (a raw
   * block volume mounted would be formatted): already-exists, as CSI has it for an incompatible second stage. A stage
   * elsewhere that is still up, on this mapping's device or an earlier one's, keeps its record: overwriting it would
   * lose track of mounts only the record knows (the stale sweep takes an earlier mapping's down, then this may go on).
   */
  private async refuseOtherStage(known: StagedVolume, input: StageInput, deviceNumber: string, ctx: OpContext): Promise<void> {
    if (known.deviceNumber === deviceNumber && known.accessType !== input.capability.accessType) {
      throw new DomainError('already-exists', `volume ${input.volumeId} is staged here for ${known.accessType} access already, not ${input.capability.accessType}`);
    }
    if (known.stagingPath === input.stagingPath) return;
    const own = new Set([known.deviceNumber, deviceNumber].filter((n): n is string => n !== undefined));
    const paths = [...(known.accessType === 'mount' ? [known.stagingPath] : []), ...known.targets];
    for (const p of paths) {
      const entry = await findMount(p, { logger: ctx.log });
      if (entry && own.has(await mountedDeviceOf(p, entry))) {
        throw new DomainError('already-exists', `volume ${input.volumeId} is staged at ${known.stagingPath} already (still mounted at ${p})`);
      }
    }
  }

  /** Unmounts (lazily) the targets where `known`'s earlier device is still bound; answers the targets left. */
  private async dropStaleTargets(known: StagedVolume, ctx: OpContext): Promise<string[]> {
    const left: string[] = [];
    for (const target of known.targets) {
      const entry = await findMount(target, { logger: ctx.log });
      if (entry && known.deviceNumber !== undefined && (await mountedDeviceOf(target, entry)) === known.deviceNumber) {
        ctx.log.warn({ volumeId: known.volumeId, target, stale: known.deviceNumber }, 'taking down a publish of an old mapping');
        while (await unmount(target, { lazy: true, logger: ctx.log, signal: ctx.signal })) {
          /* one layer per call */
        }
        await removeTarget(target, { logger: ctx.log, signal: ctx.signal });
      } else if (entry) {
        left.push(target);
      }
    }
    // Read-only views of the earlier device that no target left binds go too (found by the fuzzer, seed 1325839503:
    // a view left attached over a deleted volume once its target was taken down here).
    if (known.deviceNumber !== undefined) {
      for (const view of await viewsOf(known.deviceNumber)) await closeViewIfUnused(view, left, { signal: ctx.signal, logger: ctx.log });
    }
    return left;
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

  /** Adds the target to the volume's record (made now if the volume was never staged: its device is then recorded). */
  private async remember(record: StagedVolume | undefined, input: PublishInput, deviceNumber?: string): Promise<void> {
    const base: StagedVolume = record ?? {
      volumeId: input.volumeId,
      devicePath: input.source.kind === 'block' ? input.source.devicePath : input.source.source,
      stagingPath: input.stagingPath,
      accessType: input.capability.accessType,
      ...(deviceNumber !== undefined ? { deviceNumber } : {}),
      targets: [],
    };
    if (!base.targets.includes(input.targetPath)) await this.store.put({ ...base, targets: [...base.targets, input.targetPath] });
  }
}

function notThisVolume(volumeId: string, volumePath: string): DomainError {
  return new DomainError('not-found', `nothing of volume ${volumeId} is mounted at ${volumePath}`);
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
