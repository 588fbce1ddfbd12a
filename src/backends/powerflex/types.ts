/**
 * Wire shapes of the PowerFlex (ScaleIO) REST gateway, shared by the gateway client and `ferry pool`.
 * Pure types: nothing here exists at run time.
 *
 * Conventions (see the fact sheet, /work/shared/reference/powerflex-gateway.md):
 * - Request bodies: clients send numbers and booleans as strings ("8388608", "FALSE", "TRUE", "true"), so request
 *   fields are typed `WireInt` / `WireBool` and a server must accept every spelling.
 * - Responses: the gateway answers counts and sizes as JSON numbers (Go clients decode them into `int`). Every
 *   KiB figure stays below 2^53, so `number` is exact; convert to bigint once at the edge (util/size.ts int64ToBigInt
 *   accepts number or string). The few string-typed numbers (`maxVal` of a system limit) are typed `string`.
 * - Ids are 16 lower-case hex characters.
 * - Actions with nothing to answer (removeVolume, setVolumeSize, addMappedSdc, removeMappedSdc, ...) answer HTTP 200
 *   with `{}` (what PyPowerFlex, written against real gateways, decodes) or, on some gateways, an empty body: the
 *   client reads neither and accepts both. `ferry pool` answers `{}` and keeps shapes of its own (src/pool/wire.ts).
 */

/** An id: 16 lower-case hex characters (volumes, snapshots, pools, SDCs, systems, vtrees). */
export type Id = string;

/** A number as clients send it in a request body: a decimal string ("8388608") or a JSON number. */
export type WireInt = string | number;

/** A boolean as clients send it: "TRUE", "True", "true", "FALSE", ... or a JSON boolean. Parse case-insensitively. */
export type WireBool = string | boolean;

/** `{rel, href}`; clients follow `rel: "self"` and `rel: "/api/<Type>/relationship/<Type2>"`. */
export interface Link {
  rel: string;
  href: string;
}

/** Every object the gateway returns carries its links. */
export interface Linked {
  links: Link[];
}

/**
 * Error body. Business errors: HTTP 500 with a specific errorCode; validation: HTTP 400 with errorCode 0;
 * authentication: HTTP 401 with errorCode 0. Classify by errorCode and status, never by message.
 * (Some 4.x gateways send HTML instead: a client must fall back on the status text.)
 */
export interface ErrorBody {
  message: string;
  httpStatusCode: number;
  errorCode: number;
  details?: ErrorDetail[];
}

export interface ErrorDetail {
  error: string;
  rc: number;
  errorMessage: string;
}

/**
 * The errorCodes that matter to Ferry, by name; `ferry pool` answers with exactly these. A type, not a value (this
 * file has no run-time content): write `const CODES = { ... } as const satisfies GatewayErrorCodes` where numbers are needed.
 */
export interface GatewayErrorCodes {
  /** Invalid request (HTTP 400), and the code of a 401. */
  Invalid: 0;
  /** Generic not found (some versions use it for a volume name that does not resolve). */
  NotFound: 3;
  VolumeNotFound: 79;
  SdcNotFound: 80;
  AlreadyMappedToThisSdc: 81;
  NotMappedToThisSdc: 84;
  VolumeNameInUse: 99;
  VolumeIsMapped: 104;
  SizeCanOnlyGrow: 133;
  ProtectionDomainNotFound: 142;
  TooManySnapshots: 182;
  /** removeConsistencyGroupSnapshots of a group that does not exist (or has no volumes left). */
  SnapshotGroupNotFound: 185;
  NameTooLong: 226;
  MappedMoreMappingsNotAllowed: 297;
  /** Very old systems: "Only a single SDC may be mapped to this volume at a time". */
  OnlySingleSdc: 306;
  /**
   * Not enough capacity in the storage pool for a create, grow or snapshot. The real gateway's code for this is not
   * in the fact sheet; `ferry pool` answers it with this code (HTTP 500) and a client should map it to "no space".
   */
  PoolNoSpace: 1001;
}

export type GatewayErrorCode = GatewayErrorCodes[keyof GatewayErrorCodes];

/** The 401 body, word for word. */
export type UnauthorizedBody = ErrorBody & { message: 'Unauthorized'; httpStatusCode: 401; errorCode: 0 };

// ---------------------------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------------------------

/** `GET /api/login` (Basic user:password) answers a bare JSON string: the token. */
export type LoginResponse = string;

/** `GET /api/version` answers a quoted string, e.g. "3.6". */
export type VersionResponse = string;

// ---------------------------------------------------------------------------------------------------------------
// System, protection domain, storage pool
// ---------------------------------------------------------------------------------------------------------------

export type RestrictedSdcMode = 'None' | 'Guid' | 'ApprovedIp';

/** `GET /api/types/System/instances` → System[]; `GET /api/instances/System::{id}` → System. */
export interface System extends Linked {
  id: Id;
  name: string | null;
  /** e.g. "DellEMC PowerFlex Version: R3_6.0.0". */
  systemVersionName: string;
  restrictedSdcMode: RestrictedSdcMode;
  restrictedSdcModeEnabled?: boolean;
  mdmCluster?: unknown;
  installId?: string;
  swid?: string;
  maxCapacityInGb?: string;
  capacityAlertHighThresholdPercent?: number;
  capacityAlertCriticalThresholdPercent?: number;
}

/** `POST /api/instances/System/action/querySystemLimits {}`. */
export type QuerySystemLimitsRequest = Record<string, never>;

export interface SystemLimitEntry {
  /** e.g. "volumeSizeGb". */
  type: string;
  description: string;
  /** A decimal string, e.g. "1048576" (GiB for volumeSizeGb). */
  maxVal: string;
  defaultVal?: string | null;
}

export interface QuerySystemLimitsResponse {
  systemLimitEntryList: SystemLimitEntry[];
}

export type ProtectionDomainState = 'Active' | 'Inactive' | 'ActivePending' | 'InactivePending';

/**
 * `GET /api/instances/System::{id}/relationships/ProtectionDomain` → ProtectionDomain[].
 * By name: `POST /api/types/ProtectionDomain/instances/action/queryIdByKey {"name"}` → quoted id, or 500 errorCode 142.
 */
export interface ProtectionDomain extends Linked {
  id: Id;
  name: string;
  systemId: Id;
  protectionDomainState: ProtectionDomainState;
}

export type DataLayout = 'MediumGranularity' | 'FineGranularity';

/**
 * `GET /api/types/StoragePool/instances`, `GET /api/instances/StoragePool::{id}`,
 * `GET /api/instances/ProtectionDomain::{id}/relationships/StoragePool`.
 * Two pools in different protection domains may share a name.
 */
export interface StoragePool extends Linked {
  id: Id;
  name: string;
  protectionDomainId: Id;
  dataLayout: DataLayout;
  zeroPaddingEnabled: boolean;
  sparePercentage: number;
  capacityAlertHighThreshold: number;
  capacityAlertCriticalThreshold: number;
  rebuildEnabled?: boolean;
  rebalanceEnabled?: boolean;
  useRmcache?: boolean;
  useRfcache?: boolean;
}

/**
 * `GET /api/instances/StoragePool::{id}/relationships/Statistics`. All figures in KiB (JSON numbers).
 * For GetCapacity Dell's driver reports: thin pools `volumeAllocationLimitInKb * 1024`, thick pools
 * `capacityAvailableForVolumeAllocationInKb * 1024`.
 */
export interface StoragePoolStatistics {
  /** Usable capacity of the pool (after protection overhead; the pool's raw net size). */
  maxCapacityInKb: number;
  /** Physically written: thick volumes in full plus the data actually written to thin ones. */
  capacityInUseInKb: number;
  /** What a new volume may still reserve (thick accounting: max minus every volume's full provisioned size). */
  capacityAvailableForVolumeAllocationInKb: number;
  /** Upper bound on the sum of provisioned sizes (thin over-provisioning limit). */
  volumeAllocationLimitInKb: number;
  netCapacityInUseInKb: number;
  netUnusedCapacityInKb: number;
  /** Sum of provisioned sizes of thin volumes and snapshots. */
  thinCapacityAllocatedInKb: number;
  /** Written data of thin volumes and snapshots. */
  thinCapacityInUseInKb: number;
  /** Provisioned sizes of thick volumes (fully reserved). */
  thickCapacityInUseInKb: number;
  snapCapacityInUseInKb: number;
  snapCapacityInUseOccupiedInKb?: number;
  unusedCapacityInKb: number;
  spareCapacityInKb: number;
  numOfVolumes: number;
  numOfSnapshots?: number;
  numOfMappedToAllVolumes: number;
  numOfThinBaseVolumes: number;
  numOfThickBaseVolumes: number;
  numOfVtrees: number;
}

/**
 * `POST /api/types/StoragePool/instances/action/querySelectedStatistics {"ids":[...],"properties":[...]}`.
 * Answers `{"<poolId>": {"<property>": value, ...}, ...}` with only the asked properties.
 */
export interface QuerySelectedStatisticsRequest {
  ids: Id[];
  properties: (keyof StoragePoolStatistics | string)[];
}

export type QuerySelectedStatisticsResponse = Record<Id, Partial<Record<keyof StoragePoolStatistics | string, number>>>;

// ---------------------------------------------------------------------------------------------------------------
// SDC (the host's data client)
// ---------------------------------------------------------------------------------------------------------------

export type MdmConnectionState = 'Connected' | 'Disconnected';

/**
 * `GET /api/types/Sdc/instances` or `GET /api/instances/System::{id}/relationships/Sdc`. Match `sdcGuid`
 * case-insensitively (hosts report it upper-cased). `mdmConnectionState` is the storage side's view of host liveness.
 */
export interface Sdc extends Linked {
  id: Id;
  name: string | null;
  sdcGuid: string;
  sdcIp: string;
  sdcApproved: boolean;
  mdmConnectionState: MdmConnectionState;
  systemId: Id;
  onVmWare?: boolean;
  perfProfile?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Volumes and snapshots
// ---------------------------------------------------------------------------------------------------------------

export type VolumeType = 'ThinProvisioned' | 'ThickProvisioned' | 'Snapshot';
export type ProvisioningType = Exclude<VolumeType, 'Snapshot'>;
export type AccessMode = 'ReadWrite' | 'ReadOnly';

/** One entry of `Volume.mappedSdcInfo`. */
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

/**
 * `GET /api/instances/Volume::{id}` (unknown → 500 errorCode 79; malformed id → "must be a hexadecimal number", also not found)
 * and `GET /api/types/Volume/instances` (volumes and snapshots together).
 */
export interface Volume extends Linked {
  id: Id;
  /** null for a volume created without a name. */
  name: string | null;
  /** Provisioned size in KiB: always a multiple of 8 GiB. */
  sizeInKb: number;
  storagePoolId: Id;
  vtreeId: Id;
  volumeType: VolumeType;
  /** null on base volumes; the source volume on snapshots. */
  ancestorVolumeId: Id | null;
  /** The snapshot group a snapshot was taken in; null on base volumes. */
  consistencyGroupId: Id | null;
  /** null when unmapped. */
  mappedSdcInfo: MappedSdcInfo[] | null;
  /** Epoch seconds. */
  creationTime: number;
  accessModeLimit: AccessMode;
  mappingToAllSdcsEnabled: boolean;
  useRmcache?: boolean;
  isObfuscated?: boolean;
  dataLayout?: DataLayout;
}

/**
 * `POST /api/types/Volume/instances` → `{"id": ...}`. Either `volumeSizeInKb` or `volumeSizeInGb`.
 * Missing `storagePoolId` → 400 errorCode 0. The size is rounded up to a multiple of 8 GiB.
 */
export interface CreateVolumeRequest {
  name?: string;
  volumeSizeInKb?: WireInt;
  volumeSizeInGb?: WireInt;
  storagePoolId: Id;
  protectionDomainId?: Id;
  /** Default ThinProvisioned. */
  volumeType?: ProvisioningType;
  useRmcache?: WireBool;
}

/** The answer of every create: `{"id": "..."}`. */
export interface CreateResponse {
  id: Id;
}

/** `POST /api/types/{Volume|ProtectionDomain|StoragePool}/instances/action/queryIdByKey` → quoted id. */
export interface QueryIdByKeyRequest {
  name: string;
}

export type QueryIdByKeyResponse = Id;

export type RemoveMode = 'ONLY_ME' | 'INCLUDING_DESCENDANTS' | 'DESCENDANTS_ONLY' | 'WHOLE_VTREE';

/** `POST /api/instances/Volume::{id}/action/removeVolume`. Mapped → 500 errorCode 104; bad mode → 400. */
export interface RemoveVolumeRequest {
  removeMode: RemoveMode;
}

/** `POST .../action/setVolumeSize`. GiB as a string, a multiple of 8; shrinking → 500 errorCode 133. */
export interface SetVolumeSizeRequest {
  sizeInGB: WireInt;
}

/** `POST .../action/setVolumeName`. Same name rules as create (226, 99). */
export interface SetVolumeNameRequest {
  newName: string;
}

/**
 * `POST .../action/addMappedSdc`. `guid` may stand in for `sdcId`. Already mapped to this SDC → 81;
 * mapped elsewhere without allowMultipleMappings → 297.
 */
export interface AddMappedSdcRequest {
  sdcId?: Id;
  guid?: string;
  allowMultipleMappings?: WireBool;
  accessMode?: AccessMode;
}

/** `POST .../action/removeMappedSdc`: one SDC, or every one with `allSdcs: ""` (or "true"). Not mapped → 84. */
export interface RemoveMappedSdcRequest {
  sdcId?: Id;
  allSdcs?: string | boolean;
  ignoreScsiInitiators?: WireBool;
}

/** `POST .../action/setMappedSdcLimits`. 0 = unlimited. */
export interface SetMappedSdcLimitsRequest {
  sdcId: Id;
  bandwidthLimitInKbps?: WireInt;
  iopsLimit?: WireInt;
}

/** A bandwidth counter: operations, the window in seconds, and KiB moved. */
export interface BandwidthCounter {
  numOccured: number;
  numSeconds: number;
  totalWeightInKb: number;
}

/**
 * `GET /api/instances/Volume::{id}/relationships/Statistics`. Dell's health check treats
 * `userDataReadBwc.numOccured + userDataWriteBwc.numOccured > 0` as "I/O in progress".
 */
export interface VolumeStatistics {
  userDataReadBwc: BandwidthCounter;
  userDataWriteBwc: BandwidthCounter;
  numOfMappedSdcs: number;
  numOfChildVolumes: number;
  numOfDescendantVolumes: number;
  numOfMappedScsiInitiators: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------------------------

export interface SnapshotDef {
  volumeId: Id;
  snapshotName: string;
}

/**
 * `POST /api/instances/System::{id}/action/snapshotVolumes`. A snapshot is a volume (volumeType "Snapshot",
 * ancestorVolumeId = source, same vtreeId). 126 per tree; one more → 500 errorCode 182.
 * Dell's driver clones (and creates volumes from snapshots) with `accessModeLimit: "ReadWrite"`.
 */
export interface SnapshotVolumesRequest {
  snapshotDefs: SnapshotDef[];
  accessModeLimit?: AccessMode;
  retentionPeriodInMin?: WireInt;
}

export interface SnapshotVolumesResponse {
  volumeIdList: Id[];
  snapshotGroupId: Id;
}

/** `POST /api/instances/System::{id}/action/removeConsistencyGroupSnapshots`. */
export interface RemoveConsistencyGroupSnapshotsRequest {
  snapGroupId: Id;
}

export interface RemoveConsistencyGroupSnapshotsResponse {
  numberOfVolumes: number;
}

/** `POST /api/instances/Volume::{dest}/action/overwriteVolumeContent`: revert in place, same vtree only. */
export interface OverwriteVolumeContentRequest {
  srcVolumeId: Id;
}
