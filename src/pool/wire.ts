/**
 * What `ferry pool` answers, in the gateway's shapes: the pool's own, written from what the gateway is documented
 * and recorded to send (the fact sheet, and the public clients that drive the pool in test/contract/), not from
 * Ferry's client. Sharing the client's types would make a mistake in them invisible: both sides would agree on it.
 * Pure types. Numbers are JSON numbers (KiB figures stay far below 2^53); ids are 16 lower-case hex characters.
 */
export type Id = string;

/** A number as clients send it in a request body: a decimal string ("8388608") or a JSON number. */
export type WireInt = string | number;

/** A boolean as clients send it: "TRUE", "True", "true", "FALSE", ... or a JSON boolean. */
export type WireBool = string | boolean;

export interface Link {
  rel: string;
  href: string;
}

export interface Linked {
  links: Link[];
}

/** Every error: business errors HTTP 500 with a specific code, validation 400 with code 0, authentication 401. */
export interface ErrorBody {
  message: string;
  httpStatusCode: number;
  errorCode: number;
}

/**
 * The answer of an action that has nothing else to say (addMappedSdc, removeMappedSdc, setMappedSdcLimits,
 * setVolumeSize, setVolumeName, removeVolume, overwriteVolumeContent): HTTP 200 with an empty JSON object. Clients
 * written against real gateways parse it as JSON (PyPowerFlex decodes every answer), others ignore it.
 */
export type ActionAnswer = Record<string, never>;

export type AccessMode = 'ReadWrite' | 'ReadOnly';
export type MdmConnectionState = 'Connected' | 'Disconnected';
export type VolumeType = 'ThinProvisioned' | 'ThickProvisioned' | 'Snapshot';
export type ProvisioningType = Exclude<VolumeType, 'Snapshot'>;
export type RemoveMode = 'ONLY_ME' | 'INCLUDING_DESCENDANTS' | 'DESCENDANTS_ONLY' | 'WHOLE_VTREE';

export interface System extends Linked {
  id: Id;
  /** What a client configured with a system name matches (goscaleio's FindSystem, Dell's driver); null when unnamed. */
  name: string | null;
  systemVersionName: string;
  restrictedSdcMode: 'None' | 'Guid' | 'ApprovedIp';
  restrictedSdcModeEnabled: boolean;
  installId: string;
}

export interface ProtectionDomain extends Linked {
  id: Id;
  name: string;
  systemId: Id;
  protectionDomainState: 'Active' | 'Inactive';
}

export interface StoragePool extends Linked {
  id: Id;
  name: string;
  protectionDomainId: Id;
  dataLayout: 'MediumGranularity' | 'FineGranularity';
  zeroPaddingEnabled: boolean;
  sparePercentage: number;
  capacityAlertHighThreshold: number;
  capacityAlertCriticalThreshold: number;
  rebuildEnabled: boolean;
  rebalanceEnabled: boolean;
  useRmcache: boolean;
  useRfcache: boolean;
}

/** Capacity figures in KiB, and object counts: the statistics of a storage pool or protection domain. */
export interface StoragePoolStatistics {
  maxCapacityInKb: number;
  capacityInUseInKb: number;
  capacityAvailableForVolumeAllocationInKb: number;
  volumeAllocationLimitInKb: number;
  /** The licensed/usable capacity: older clients (OpenStack) read it as the total. */
  capacityLimitInKb: number;
  netCapacityInUseInKb: number;
  netUnusedCapacityInKb: number;
  thinCapacityAllocatedInKb: number;
  thinCapacityInUseInKb: number;
  thickCapacityInUseInKb: number;
  snapCapacityInUseInKb: number;
  snapCapacityInUseOccupiedInKb: number;
  unusedCapacityInKb: number;
  spareCapacityInKb: number;
  numOfVolumes: number;
  numOfSnapshots: number;
  numOfMappedToAllVolumes: number;
  numOfThinBaseVolumes: number;
  numOfThickBaseVolumes: number;
  numOfVtrees: number;
}

/** The system's statistics: the pool's figures (one pool is the whole system) plus the object counts. */
export interface SystemStatistics extends StoragePoolStatistics {
  numOfSdc: number;
  numOfProtectionDomains: number;
  numOfStoragePools: number;
  numOfSds: number;
  numOfFaultSets: number;
}

/** `querySelectedStatistics` of a type with ids (StoragePool, Volume): `{"<id>": {"<property>": value}}`. */
export type SelectedStatisticsById = Record<Id, Record<string, number>>;

/** `querySelectedStatistics` of the System (there is one): `{"<property>": value}`. */
export type SelectedStatistics = Record<string, number>;

export interface SystemLimitEntry {
  type: string;
  description: string;
  /** A decimal string (GiB for volumeSizeGb). */
  maxVal: string;
  defaultVal: string | null;
}

export interface QuerySystemLimitsAnswer {
  systemLimitEntryList: SystemLimitEntry[];
}

export interface Sdc extends Linked {
  id: Id;
  name: string | null;
  sdcGuid: string;
  sdcIp: string;
  sdcApproved: boolean;
  mdmConnectionState: MdmConnectionState;
  systemId: Id;
  onVmWare: boolean;
  perfProfile: string;
}

export interface MappedSdcInfo {
  sdcId: Id;
  sdcIp: string;
  sdcName: string | null;
  accessMode: AccessMode;
  /** 0 = unlimited. */
  limitIops: number;
  /** 0 = unlimited. */
  limitBwInMbps: number;
}

export interface Volume extends Linked {
  id: Id;
  name: string | null;
  /** A multiple of 8 GiB. */
  sizeInKb: number;
  storagePoolId: Id;
  vtreeId: Id;
  volumeType: VolumeType;
  ancestorVolumeId: Id | null;
  consistencyGroupId: Id | null;
  /** null when unmapped. */
  mappedSdcInfo: MappedSdcInfo[] | null;
  /** Epoch seconds. */
  creationTime: number;
  accessModeLimit: AccessMode;
  mappingToAllSdcsEnabled: boolean;
  useRmcache: boolean;
  isObfuscated: boolean;
  dataLayout: 'MediumGranularity' | 'FineGranularity';
}

export interface BandwidthCounter {
  numOccured: number;
  numSeconds: number;
  totalWeightInKb: number;
}

export interface VolumeStatistics {
  userDataReadBwc: BandwidthCounter;
  userDataWriteBwc: BandwidthCounter;
  numOfMappedSdcs: number;
  numOfChildVolumes: number;
  numOfDescendantVolumes: number;
  numOfMappedScsiInitiators: number;
}

/** Every create answers `{"id": "..."}`. */
export interface CreateAnswer {
  id: Id;
}

export interface SnapshotVolumesAnswer {
  volumeIdList: Id[];
  snapshotGroupId: Id;
}

export interface RemoveConsistencyGroupSnapshotsAnswer {
  numberOfVolumes: number;
}
