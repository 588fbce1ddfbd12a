import type { AccessMode, MdmConnectionState, VolumeType } from './wire.js';

/**
 * The pool's whole state: what state.json holds, and what reconciliation makes the disk, the loop devices and the
 * host links agree with. Loop device names are deliberately absent: they are the kernel's to choose and change on
 * every attach, so they are rediscovered from `losetup --list` (by backing file) instead of being remembered.
 */
export interface PoolState {
  version: 1;
  systemId: string;
  protectionDomain: NamedObject;
  storagePool: NamedObject;
  hosts: HostRecord[];
  volumes: VolumeRecord[];
}

export interface NamedObject {
  id: string;
  name: string;
}

/** An SDC: a host that volumes can be mapped to. */
export interface HostRecord {
  id: string;
  /** Upper-case, as hosts report it; matched case-insensitively. */
  guid: string;
  name: string;
  ip: string;
  mdmConnectionState: MdmConnectionState;
}

export interface MappingRecord {
  sdcId: string;
  accessMode: AccessMode;
  limitIops: number;
  limitBwInMbps: number;
}

export interface VolumeRecord {
  id: string;
  name: string | null;
  /** Provisioned size, a multiple of 8 GiB. */
  sizeKiB: bigint;
  volumeType: VolumeType;
  vtreeId: string;
  ancestorVolumeId: string | null;
  /** Snapshot group (consistency group) of a snapshot; null on base volumes. */
  consistencyGroupId: string | null;
  /** Epoch seconds. */
  creationTime: number;
  accessModeLimit: AccessMode;
  mappings: MappingRecord[];
}

/** Every name lives in one namespace: volumes and snapshots together. */
export function findVolumeByName(state: PoolState, name: string): VolumeRecord | undefined {
  return state.volumes.find((v) => v.name === name);
}

export function findVolume(state: PoolState, id: string): VolumeRecord | undefined {
  return state.volumes.find((v) => v.id === id);
}

export function findHost(state: PoolState, id: string): HostRecord | undefined {
  return state.hosts.find((h) => h.id === id);
}

export function findHostByGuid(state: PoolState, guid: string): HostRecord | undefined {
  const upper = guid.toUpperCase();
  return state.hosts.find((h) => h.guid === upper);
}

/** Ids of every volume below `id` in its snapshot tree (children, their children, ...). */
export function descendantsOf(state: PoolState, id: string): string[] {
  const found: string[] = [];
  const queue = [id];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const v of state.volumes) {
      if (v.ancestorVolumeId === parent && !found.includes(v.id)) {
        found.push(v.id);
        queue.push(v.id);
      }
    }
  }
  return found;
}
