import { mkdir, readdir, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import type { AccessMode, MdmConnectionState, ProvisioningType, RemoveMode } from './wire.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../util/log.js';
import { GiB, KiB } from '../util/size.js';
import { measureUsage, requireRoom, roundToAllocationUnit, type Usage } from './accounting.js';
import { Attachments, type IoWindow } from './attachments.js';
import { BlkioThrottle } from './blkio-throttle.js';
import { syncDeviceLimits } from './mapping-limits.js';
import { CODES, PoolError, gatewayError, invalidRequest, volumeNotFound } from './errors.js';
import { copyVolumeFile, createVolumeFile, growVolumeFile, removeVolumeFile } from './files.js';
import { newId } from './ids.js';
import { removeLink, setLink } from './links.js';
import { Mutex } from './mutex.js';
import { holdWrites, thawLeftovers } from './write-hold.js';
import { isValidObjectName, normaliseGuid, type HostDeclaration } from './options.js';
import { heldWritesFile, hostDeviceLink, hostsDir, volumeFile, volumesDir } from './paths.js';
import { reconcile } from './reconcile.js';
import {
  descendantsOf,
  findHost,
  findHostByGuid,
  findVolume,
  findVolumeByName,
  type HostRecord,
  type PoolState,
  type VolumeRecord,
} from './state.js';
import { StateFileError, loadState, saveState } from './store.js';

/** Most snapshots one volume tree may hold. */
export const MAX_SNAPSHOTS_PER_VTREE = 126;

export interface PoolSettings {
  dataDir: string;
  capacityBytes: bigint;
  /** From --system-id; a fresh pool generates one. */
  systemId: string | undefined;
  /** From --system-name: what System.name answers (not stored: a restart may rename the system). */
  systemName: string | undefined;
  protectionDomain: string;
  storagePool: string;
  hosts: HostDeclaration[];
  logger: Logger;
}

export interface CreateVolumeInput {
  name: string | undefined;
  sizeKiB: bigint;
  volumeType: ProvisioningType;
}

/** An SDC as requests name it: by id, or by the GUID its host reports (matched case-insensitively). */
export type SdcRef = { sdcId: string } | { guid: string };

export interface AddMappingInput {
  sdc: SdcRef;
  allowMultipleMappings: boolean;
  accessMode: AccessMode;
}

export interface SnapshotInput {
  volumeId: string;
  snapshotName: string;
}

/**
 * The pool's state machine: every gateway operation in domain terms, with the gateway's own error codes.
 *
 * Changes run one at a time (one mutex) on a copy of the state; the copy replaces the live state only once it
 * is on disk, so readers, which never wait, see either the old state or the new one. Each change orders its
 * steps so that a kill -9 at any point leaves something `reconcile` repairs at the next start without losing
 * data: steps that create (files, loop devices, links) happen BEFORE the state names them (a crash leaves an
 * orphan, which reconcile removes); steps that remove or grow happen AFTER the state records it (a crash leaves
 * work that reconcile finishes).
 */
export class Pool {
  readonly attachments: Attachments;
  private readonly mutex = new Mutex();
  private readonly capacityKiB: bigint;

  private constructor(
    private state: PoolState,
    readonly dataDir: string,
    capacityBytes: bigint,
    private readonly logger: Logger,
    readonly systemName: string | null,
    /** Enforces the mappings' limits (setMappedSdcLimits) on their loop devices. */
    private readonly throttle: BlkioThrottle,
  ) {
    this.capacityKiB = capacityBytes / KiB;
    this.attachments = new Attachments(dataDir, logger);
  }

  /** Loads (or creates) the pool in `dataDir`, applies the start-up flags and reconciles the host side. */
  static async open(settings: PoolSettings): Promise<Pool> {
    const { dataDir, logger } = settings;
    await mkdir(volumesDir(dataDir), { recursive: true, mode: 0o700 });
    await mkdir(hostsDir(dataDir), { recursive: true });
    const saved = await loadState(dataDir);
    if (!saved && (await readdir(volumesDir(dataDir))).length > 0) {
      // Starting afresh here would make reconcile delete every volume file as an orphan.
      throw new StateFileError(`${dataDir} holds volume files but no state.json: refusing to start over them`);
    }
    if (saved && settings.systemId !== undefined && saved.systemId !== settings.systemId) {
      throw new StateFileError(
        `${dataDir} belongs to system ${saved.systemId}, not ${settings.systemId}: device names embed the system id, so it cannot change`,
      );
    }
    const state: PoolState = saved ?? {
      version: 1,
      systemId: settings.systemId ?? newId(),
      protectionDomain: { id: newId(), name: settings.protectionDomain },
      storagePool: { id: newId(), name: settings.storagePool },
      hosts: [],
      volumes: [],
    };
    state.protectionDomain.name = settings.protectionDomain;
    state.storagePool.name = settings.storagePool;
    for (const declared of settings.hosts) upsertHost(state, declared.name, declared.guid, undefined);
    await saveState(dataDir, state);
    const pool = new Pool(state, dataDir, settings.capacityBytes, logger, settings.systemName ?? null, await BlkioThrottle.open(logger));
    await pool.mutex.run(async () => {
      await thawLeftovers(heldWritesFile(dataDir), logger);
      await reconcile(state, dataDir, pool.attachments, logger);
      for (const volume of state.volumes) await syncDeviceLimits(volume, pool.attachments, pool.throttle);
    });
    logger.info(
      { systemId: state.systemId, volumes: state.volumes.length, hosts: state.hosts.length, loopDevices: pool.attachments.count() },
      saved ? 'pool reopened and reconciled' : 'pool created',
    );
    return pool;
  }

  /** The last committed state. Callers must treat it as read-only. */
  current(): PoolState {
    return this.state;
  }

  async usage(): Promise<Usage> {
    return measureUsage(this.state, this.dataDir);
  }

  get capacityInKiB(): bigint {
    return this.capacityKiB;
  }

  /** Waits for the change in progress (if any) to finish; nothing new should be started afterwards. */
  async close(): Promise<void> {
    // The rules go with the process: a loop number reused after the pool is gone must not inherit them.
    await this.mutex.run(() => this.throttle.close());
  }

  // ---------------------------------------------------------------------------------------------------------
  // Volumes
  // ---------------------------------------------------------------------------------------------------------

  createVolume(input: CreateVolumeInput): Promise<VolumeRecord> {
    return this.change(async (draft, commit) => {
      if (input.name !== undefined) checkNewName(draft, input.name, undefined);
      const sizeKiB = roundToAllocationUnit(input.sizeKiB);
      requireRoom(await measureUsage(draft, this.dataDir), this.capacityKiB, sizeKiB);
      const id = unusedId(draft);
      const file = volumeFile(this.dataDir, id);
      await createVolumeFile(file, sizeKiB * KiB, input.volumeType === 'ThickProvisioned', this.logger);
      const record: VolumeRecord = {
        id,
        name: input.name ?? null,
        sizeKiB,
        volumeType: input.volumeType,
        vtreeId: unusedId(draft),
        ancestorVolumeId: null,
        consistencyGroupId: null,
        creationTime: Math.floor(Date.now() / 1000),
        accessModeLimit: 'ReadWrite',
        mappings: [],
      };
      draft.volumes.push(record);
      await commitOrUndo(commit, () => removeVolumeFile(file));
      return record;
    });
  }

  removeVolume(id: string, mode: RemoveMode): Promise<void> {
    return this.change(async (draft, commit) => {
      const volume = requireVolume(draft, id);
      const targets = removalTargets(draft, volume, mode);
      const mapped = targets.find((v) => v.mappings.length > 0);
      if (mapped) throw gatewayError('VolumeIsMapped', `volume ${mapped.id}`);
      const ids = new Set(targets.map((v) => v.id));
      draft.volumes = draft.volumes.filter((v) => !ids.has(v.id));
      await commit();
      await this.removeFiles([...ids]);
    });
  }

  setVolumeSize(id: string, sizeGiB: bigint): Promise<void> {
    return this.change(async (draft, commit) => {
      const volume = requireVolume(draft, id);
      const sizeKiB = roundToAllocationUnit(sizeGiB * (GiB / KiB));
      if (sizeKiB < volume.sizeKiB) {
        throw gatewayError('SizeCanOnlyGrow', `${volume.sizeKiB} KB now, ${sizeKiB} KB asked`);
      }
      if (sizeKiB === volume.sizeKiB) return;
      requireRoom(await measureUsage(draft, this.dataDir), this.capacityKiB, sizeKiB - volume.sizeKiB);
      const previous = this.state;
      const oldBytes = volume.sizeKiB * KiB;
      volume.sizeKiB = sizeKiB;
      await commit();
      const file = volumeFile(this.dataDir, id);
      try {
        await growVolumeFile(file, sizeKiB * KiB, volume.volumeType === 'ThickProvisioned', this.logger);
      } catch (err) {
        // No device has seen the new size yet, so nothing can live past the old end: shrinking back is safe.
        await truncate(file, Number(oldBytes)).catch(() => undefined);
        await this.restore(previous);
        throw err;
      }
      await this.attachments.refresh(id);
    });
  }

  setVolumeName(id: string, newName: string): Promise<void> {
    return this.change(async (draft, commit) => {
      const volume = requireVolume(draft, id);
      if (volume.name === newName) return;
      checkNewName(draft, newName, id);
      volume.name = newName;
      await commit();
    });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Mappings
  // ---------------------------------------------------------------------------------------------------------

  addMapping(id: string, input: AddMappingInput): Promise<void> {
    return this.change(async (draft, commit) => {
      const volume = requireVolume(draft, id);
      const host = requireSdc(draft, input.sdc);
      if (volume.mappings.some((m) => m.sdcId === host.id)) {
        throw gatewayError('AlreadyMappedToThisSdc', `SDC ${host.id}`);
      }
      if (volume.mappings.length > 0 && !input.allowMultipleMappings) {
        throw gatewayError('MappedMoreMappingsNotAllowed', `mapped to ${volume.mappings.map((m) => m.sdcId).join(', ')}`);
      }
      // A read-only limited volume (a ReadOnly snapshot) can only ever be exposed read-only.
      const accessMode: AccessMode = volume.accessModeLimit === 'ReadOnly' ? 'ReadOnly' : input.accessMode;
      const hadDevice = this.attachments.device(id, accessMode) !== undefined;
      const link = hostDeviceLink(this.dataDir, host.guid, draft.systemId, id);
      const device = await this.attachments.ensure(id, accessMode);
      volume.mappings.push({ sdcId: host.id, accessMode, limitIops: 0, limitBwInMbps: 0 });
      await commitOrUndo(
        async () => {
          await setLink(link, device);
          await commit();
        },
        async () => {
          await removeLink(link);
          if (!hadDevice) await this.attachments.release(id, accessMode);
        },
      );
      await syncDeviceLimits(volume, this.attachments, this.throttle);
      this.logger.info({ volumeId: id, sdcId: host.id, device, link, accessMode }, 'mapped');
    });
  }

  /** Unmaps from one SDC (by id or GUID), or from every SDC when `sdc` is 'all'. */
  removeMapping(id: string, sdc: SdcRef | 'all'): Promise<void> {
    return this.change(async (draft, commit) => {
      const volume = requireVolume(draft, id);
      const host = sdc === 'all' ? undefined : requireSdc(draft, sdc);
      const removed = volume.mappings.filter((m) => host === undefined || m.sdcId === host.id);
      if (removed.length === 0) throw gatewayError('NotMappedToThisSdc', host ? `SDC ${host.id}` : 'no SDC');
      volume.mappings = volume.mappings.filter((m) => !removed.includes(m));
      await commit();
      for (const mapping of removed) {
        const host = findHost(draft, mapping.sdcId);
        if (host) await removeLink(hostDeviceLink(this.dataDir, host.guid, draft.systemId, id));
      }
      for (const mode of new Set(removed.map((m) => m.accessMode))) {
        if (volume.mappings.some((m) => m.accessMode === mode)) continue;
        try {
          const device = this.attachments.device(id, mode);
          if (device !== undefined) await this.throttle.clear(device);
          await this.attachments.release(id, mode);
        } catch (err) {
          // The state no longer wants the device; the next start detaches it if this attempt could not.
          this.logger.warn({ volumeId: id, mode, err: errorMessage(err) }, 'cannot detach loop device');
        }
      }
      await syncDeviceLimits(volume, this.attachments, this.throttle);
      this.logger.info({ volumeId: id, sdcIds: removed.map((m) => m.sdcId) }, 'unmapped');
    });
  }

  setMappingLimits(id: string, sdc: SdcRef, limits: { iops?: number; bandwidthKbps?: number }): Promise<void> {
    return this.change(async (draft, commit) => {
      const volume = requireVolume(draft, id);
      const host = requireSdc(draft, sdc);
      const mapping = volume.mappings.find((m) => m.sdcId === host.id);
      if (!mapping) throw gatewayError('NotMappedToThisSdc', `SDC ${host.id}`);
      if (limits.iops !== undefined) mapping.limitIops = limits.iops;
      if (limits.bandwidthKbps !== undefined) mapping.limitBwInMbps = Math.floor(limits.bandwidthKbps / 1024);
      await commit();
      await syncDeviceLimits(volume, this.attachments, this.throttle);
      this.logger.info({ volumeId: id, sdcId: host.id, limitIops: mapping.limitIops, limitBwInMbps: mapping.limitBwInMbps }, 'mapping limits set');
    });
  }

  /** Real I/O on the volume's loop devices since the previous query. */
  async volumeIo(id: string): Promise<IoWindow> {
    requireVolume(this.state, id);
    return this.attachments.sampleIo(id);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Snapshots
  // ---------------------------------------------------------------------------------------------------------

  snapshotVolumes(systemId: string, defs: SnapshotInput[], accessModeLimit: AccessMode): Promise<{ ids: string[]; groupId: string }> {
    return this.change(async (draft, commit) => {
      requireSystem(draft, systemId);
      if (defs.length === 0) throw invalidRequest('snapshotDefs must name at least one volume');
      const sources = defs.map((d) => requireVolume(draft, d.volumeId));
      const names = new Set<string>();
      for (const def of defs) {
        checkNewName(draft, def.snapshotName, undefined);
        if (names.has(def.snapshotName)) throw gatewayError('VolumeNameInUse', `name ${def.snapshotName} twice in one request`);
        names.add(def.snapshotName);
      }
      const perTree = new Map<string, number>();
      for (const source of sources) perTree.set(source.vtreeId, (perTree.get(source.vtreeId) ?? 0) + 1);
      for (const [vtreeId, adding] of perTree) {
        const existing = draft.volumes.filter((v) => v.vtreeId === vtreeId && v.volumeType === 'Snapshot').length;
        if (existing + adding > MAX_SNAPSHOTS_PER_VTREE) {
          throw gatewayError('TooManySnapshots', `V-Tree ${vtreeId} (at most ${MAX_SNAPSHOTS_PER_VTREE})`);
        }
      }
      requireRoom(
        await measureUsage(draft, this.dataDir),
        this.capacityKiB,
        sources.reduce((sum, s) => sum + s.sizeKiB, 0n),
      );
      const groupId = unusedId(draft);
      const created: VolumeRecord[] = [];
      const undo = (): Promise<void> => this.removeFiles(created.map((v) => v.id));
      // Every member's writers wait from before the first copy until after the last: one point in time for all.
      const writable = sources.flatMap((s) => this.attachments.device(s.id, 'ReadWrite') ?? []);
      const hold = await holdWrites(writable, this.logger, heldWritesFile(this.dataDir));
      if (hold.unheld.length > 0) {
        this.logger.warn({ devices: hold.unheld }, 'no filesystem is mounted from these devices: writes to them are not held during the snapshot');
      }
      try {
        for (const [i, source] of sources.entries()) {
          const id = unusedId(draft, created);
          await copyVolumeFile(volumeFile(this.dataDir, source.id), volumeFile(this.dataDir, id), this.logger);
          created.push({
            id,
            name: defs[i]?.snapshotName ?? null,
            sizeKiB: source.sizeKiB,
            volumeType: 'Snapshot',
            vtreeId: source.vtreeId,
            ancestorVolumeId: source.id,
            consistencyGroupId: groupId,
            creationTime: Math.floor(Date.now() / 1000),
            accessModeLimit,
            mappings: [],
          });
        }
      } catch (err) {
        await undo();
        throw err;
      } finally {
        await hold.release();
      }
      draft.volumes.push(...created);
      await commitOrUndo(commit, undo);
      return { ids: created.map((v) => v.id), groupId };
    });
  }

  removeSnapshotGroup(systemId: string, groupId: string): Promise<number> {
    return this.change(async (draft, commit) => {
      requireSystem(draft, systemId);
      const members = draft.volumes.filter((v) => v.consistencyGroupId === groupId);
      if (members.length === 0) throw gatewayError('SnapshotGroupNotFound', `group ${groupId}`);
      const mapped = members.find((v) => v.mappings.length > 0);
      if (mapped) throw gatewayError('VolumeIsMapped', `volume ${mapped.id}`);
      draft.volumes = draft.volumes.filter((v) => v.consistencyGroupId !== groupId);
      await commit();
      await this.removeFiles(members.map((v) => v.id));
      return members.length;
    });
  }

  /** Reverts `destId` to the content of `srcId` (same tree), in place: a loop device on it stays attached. */
  overwriteVolumeContent(destId: string, srcId: string): Promise<void> {
    return this.change(async (draft) => {
      const dest = requireVolume(draft, destId);
      const src = requireVolume(draft, srcId);
      if (dest.id === src.id) throw invalidRequest('srcVolumeId must differ from the volume being overwritten');
      if (dest.vtreeId !== src.vtreeId) throw invalidRequest('The source and destination volumes must be in the same V-Tree');
      if (src.sizeKiB > dest.sizeKiB) throw invalidRequest('The source volume is larger than the destination volume');
      const file = volumeFile(this.dataDir, dest.id);
      await copyVolumeFile(volumeFile(this.dataDir, src.id), file, this.logger);
      // cp leaves the destination at the source's length: give back its own size (and reservation, if thick).
      await growVolumeFile(file, dest.sizeKiB * KiB, dest.volumeType === 'ThickProvisioned', this.logger);
    });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Hosts (SDCs), managed through /pool
  // ---------------------------------------------------------------------------------------------------------

  addHost(name: string, guid: string, ip: string | undefined): Promise<HostRecord> {
    return this.change(async (draft, commit) => {
      if (!isValidObjectName(name)) throw invalidRequest('name: 1 to 31 characters, no spaces');
      let normalised: string;
      try {
        normalised = normaliseGuid(guid);
      } catch (err) {
        throw invalidRequest(errorMessage(err));
      }
      const host = upsertHost(draft, name, normalised, ip);
      await commit();
      return host;
    });
  }

  removeHost(guid: string): Promise<void> {
    return this.change(async (draft, commit) => {
      const host = findHostByGuid(draft, guid);
      if (!host) throw new PoolError(404, CODES.SdcNotFound, `No host with GUID ${guid}`);
      const mapped = draft.volumes.filter((v) => v.mappings.some((m) => m.sdcId === host.id));
      if (mapped.length > 0) {
        throw new PoolError(409, CODES.VolumeIsMapped, `Host ${host.guid} still has ${mapped.length} mapped volume(s): unmap them first`);
      }
      draft.hosts = draft.hosts.filter((h) => h !== host);
      await commit();
      await rm(path.join(hostsDir(this.dataDir), host.guid), { recursive: true, force: true });
    });
  }

  setHostState(guid: string, state: MdmConnectionState): Promise<HostRecord> {
    return this.change(async (draft, commit) => {
      const host = findHostByGuid(draft, guid);
      if (!host) throw new PoolError(404, CODES.SdcNotFound, `No host with GUID ${guid}`);
      host.mdmConnectionState = state;
      await commit();
      return host;
    });
  }

  // ---------------------------------------------------------------------------------------------------------

  /**
   * Runs one change under the mutex on a deep copy of the state. `commit` writes the copy to disk and makes it
   * the live state; a change that throws before committing leaves the live state untouched.
   */
  private change<T>(work: (draft: PoolState, commit: () => Promise<void>) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      const draft = structuredClone(this.state);
      const commit = async (): Promise<void> => {
        await saveState(this.dataDir, draft);
        this.state = draft;
      };
      return work(draft, commit);
    });
  }

  private async restore(previous: PoolState): Promise<void> {
    await saveState(this.dataDir, previous);
    this.state = previous;
  }

  private async removeFiles(ids: string[]): Promise<void> {
    for (const id of ids) {
      try {
        await removeVolumeFile(volumeFile(this.dataDir, id));
      } catch (err) {
        // The state no longer names it: the next start removes the orphan.
        this.logger.warn({ volumeId: id, err: errorMessage(err) }, 'cannot remove volume file');
      }
    }
  }
}

async function commitOrUndo(commit: () => Promise<void>, undo: () => Promise<void>): Promise<void> {
  try {
    await commit();
  } catch (err) {
    await undo().catch(() => undefined);
    throw err;
  }
}

function requireVolume(state: PoolState, id: string): VolumeRecord {
  const volume = findVolume(state, id);
  if (!volume) throw volumeNotFound(id);
  return volume;
}

function requireSdc(state: PoolState, ref: SdcRef): HostRecord {
  const host = 'sdcId' in ref ? findHost(state, ref.sdcId) : findHostByGuid(state, ref.guid);
  if (!host) throw gatewayError('SdcNotFound', 'sdcId' in ref ? `SDC ${ref.sdcId}` : `GUID ${ref.guid}`);
  return host;
}

function requireSystem(state: PoolState, systemId: string): void {
  if (systemId !== state.systemId) throw gatewayError('NotFound', `system ${systemId}`);
}

/** The gateway's name rules: length first (226), then characters, then uniqueness across volumes and snapshots (99). */
function checkNewName(state: PoolState, name: string, selfId: string | undefined): void {
  if (name.length > 31) throw gatewayError('NameTooLong', `${name.length} characters`);
  if (!isValidObjectName(name)) throw invalidRequest(`Invalid name "${name}": names must be 1 to 31 characters without spaces`);
  const holder = findVolumeByName(state, name);
  if (holder && holder.id !== selfId) throw gatewayError('VolumeNameInUse', `held by ${holder.id}`);
}

function removalTargets(state: PoolState, volume: VolumeRecord, mode: RemoveMode): VolumeRecord[] {
  const byIds = (ids: string[]): VolumeRecord[] => state.volumes.filter((v) => ids.includes(v.id));
  switch (mode) {
    case 'ONLY_ME':
      return [volume];
    case 'INCLUDING_DESCENDANTS':
      return byIds([volume.id, ...descendantsOf(state, volume.id)]);
    case 'DESCENDANTS_ONLY':
      return byIds(descendantsOf(state, volume.id));
    case 'WHOLE_VTREE':
      return state.volumes.filter((v) => v.vtreeId === volume.vtreeId);
  }
}

/** A fresh id that no object (volume, vtree, group) of the pool uses. */
function unusedId(state: PoolState, pending: readonly VolumeRecord[] = []): string {
  const used = new Set<string>([state.systemId, state.protectionDomain.id, state.storagePool.id]);
  for (const v of [...state.volumes, ...pending]) {
    used.add(v.id);
    used.add(v.vtreeId);
    if (v.consistencyGroupId) used.add(v.consistencyGroupId);
  }
  for (const h of state.hosts) used.add(h.id);
  for (;;) {
    const id = newId();
    if (!used.has(id)) return id;
  }
}

function upsertHost(state: PoolState, name: string, guid: string, ip: string | undefined): HostRecord {
  const existing = findHostByGuid(state, guid);
  if (existing) {
    existing.name = name;
    if (ip !== undefined) existing.ip = ip;
    return existing;
  }
  const host: HostRecord = { id: unusedId(state), guid, name, ip: ip ?? '127.0.0.1', mdmConnectionState: 'Connected' };
  state.hosts.push(host);
  return host;
}
