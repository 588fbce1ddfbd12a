import { readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { AccessMode, BandwidthCounter } from './wire.js';
import type { Logger } from '../util/log.js';
import { attachLoop, detachLoop, readIoCounters, refreshLoopSize, type IoCounters } from './loop.js';
import { copyVolumeFile } from './files.js';
import { volumeFile } from './paths.js';

/** The fresh copy a fence writes before it takes the volume's name (reconcile removes a leftover one). */
export const FENCE_SUFFIX = '.fence-tmp';

/** Whether a detached loop device is still configured: a holder keeps it open, so the kernel detaches it later. */
async function stillAttached(device: string): Promise<boolean> {
  try {
    return (await readFile(`/sys/block/${path.basename(device)}/loop/backing_file`, 'utf8')).trim() !== '';
  } catch {
    return false;
  }
}

/**
 * Which loop device serves which volume. A volume mapped to several hosts is ONE volume: all its read-write
 * mappings share one loop device, as hosts of a real pool share one volume; a second writable loop device over
 * the same file would be a second, incoherent cache of it. Read-only mappings share one read-only device, so a
 * ReadOnly host really cannot write. Nothing here is persisted: at start the table is rebuilt from losetup.
 */
export interface IoWindow {
  userDataReadBwc: BandwidthCounter;
  userDataWriteBwc: BandwidthCounter;
}

interface Attached {
  device: string;
  /** Counters at the last statistics query (or at attach): the start of the current window. */
  last: IoCounters;
  lastAt: number;
}

const ZERO: IoCounters = { readIos: 0n, readSectors: 0n, writeIos: 0n, writeSectors: 0n };

export class Attachments {
  private readonly table = new Map<string, Map<AccessMode, Attached>>();

  constructor(
    private readonly dataDir: string,
    private readonly logger: Logger,
  ) {}

  device(volumeId: string, mode: AccessMode): string | undefined {
    return this.table.get(volumeId)?.get(mode)?.device;
  }

  devicesOf(volumeId: string): string[] {
    return [...(this.table.get(volumeId)?.values() ?? [])].map((a) => a.device);
  }

  count(): number {
    let n = 0;
    for (const modes of this.table.values()) n += modes.size;
    return n;
  }

  /** Records a device found attached at start (reconciliation). */
  async adopt(volumeId: string, mode: AccessMode, device: string): Promise<void> {
    this.set(volumeId, mode, { device, last: await this.counters(device), lastAt: Date.now() });
  }

  /** The volume's device for `mode`, attaching one when there is none yet. */
  async ensure(volumeId: string, mode: AccessMode): Promise<string> {
    const existing = this.device(volumeId, mode);
    if (existing) return existing;
    const device = await attachLoop(volumeFile(this.dataDir, volumeId), mode === 'ReadOnly', this.logger);
    this.set(volumeId, mode, { device, last: await this.counters(device), lastAt: Date.now() });
    this.logger.info({ volumeId, mode, device }, 'attached loop device');
    return device;
  }

  async release(volumeId: string, mode: AccessMode): Promise<void> {
    const modes = this.table.get(volumeId);
    const attached = modes?.get(mode);
    if (!modes || !attached) return;
    await detachLoop(attached.device, this.logger);
    modes.delete(mode);
    if (modes.size === 0) this.table.delete(volumeId);
    this.logger.info({ volumeId, mode, device: attached.device }, 'detached loop device');
    if (mode === 'ReadWrite' && (await stillAttached(attached.device))) await this.fence(volumeId, attached.device);
  }

  /**
   * On a real system an unmapped host loses the volume: its device goes away and its writes fail. A loop device that
   * a host still holds open (mounted) outlives `losetup --detach` and would keep writing into the volume's file, and
   * a later mapping elsewhere would see both hosts' writes. So the pool fences it the only way a file allows: the
   * volume moves to a new inode (a copy, sharing blocks where the filesystem can), and the old device keeps the old,
   * unlinked one. Its later writes are lost, as a fenced host's are.
   */
  private async fence(volumeId: string, device: string): Promise<void> {
    if (this.devicesOf(volumeId).length > 0) {
      this.logger.warn({ volumeId, device }, 'an unmapped host still holds the device open, and another mapping shares the file: not fenced');
      return;
    }
    const file = volumeFile(this.dataDir, volumeId);
    const fresh = `${file}${FENCE_SUFFIX}`;
    await rm(fresh, { force: true });
    await copyVolumeFile(file, fresh, this.logger);
    await rename(fresh, file);
    this.logger.warn({ volumeId, device }, 'an unmapped host still holds the device open: fenced it off onto the old inode');
  }

  /** Makes every device of the volume see its file's current size. */
  async refresh(volumeId: string): Promise<void> {
    for (const device of this.devicesOf(volumeId)) await refreshLoopSize(device, this.logger);
  }

  /**
   * Real I/O of the volume since the previous query (or since attach): the gateway reports bandwidth counters over
   * a recent window, and a monitor that polls sees whether hosts did I/O in between.
   */
  async sampleIo(volumeId: string): Promise<IoWindow> {
    const now = Date.now();
    const read = { numOccured: 0n, totalWeightInKb: 0n };
    const write = { numOccured: 0n, totalWeightInKb: 0n };
    let windowMs = 0;
    for (const attached of this.table.get(volumeId)?.values() ?? []) {
      const current = await this.counters(attached.device);
      read.numOccured += current.readIos - attached.last.readIos;
      read.totalWeightInKb += (current.readSectors - attached.last.readSectors) / 2n;
      write.numOccured += current.writeIos - attached.last.writeIos;
      write.totalWeightInKb += (current.writeSectors - attached.last.writeSectors) / 2n;
      windowMs = Math.max(windowMs, now - attached.lastAt);
      attached.last = current;
      attached.lastAt = now;
    }
    const numSeconds = Math.max(1, Math.ceil(windowMs / 1000));
    const counter = (c: { numOccured: bigint; totalWeightInKb: bigint }): BandwidthCounter => ({
      numOccured: Number(c.numOccured < 0n ? 0n : c.numOccured),
      numSeconds,
      totalWeightInKb: Number(c.totalWeightInKb < 0n ? 0n : c.totalWeightInKb),
    });
    return { userDataReadBwc: counter(read), userDataWriteBwc: counter(write) };
  }

  private set(volumeId: string, mode: AccessMode, attached: Attached): void {
    let modes = this.table.get(volumeId);
    if (!modes) {
      modes = new Map();
      this.table.set(volumeId, modes);
    }
    modes.set(mode, attached);
  }

  private async counters(device: string): Promise<IoCounters> {
    try {
      return await readIoCounters(device);
    } catch (err) {
      this.logger.warn({ device, err }, 'cannot read I/O counters');
      return ZERO;
    }
  }
}
