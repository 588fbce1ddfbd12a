import type { GatewayErrorCodes } from './types.js';

/** The gateway's errorCodes as values, shared by the client (to classify) and `ferry pool` (to answer). */
export const GATEWAY_ERROR_CODES = {
  Invalid: 0,
  NotFound: 3,
  VolumeNotFound: 79,
  SdcNotFound: 80,
  AlreadyMappedToThisSdc: 81,
  NotMappedToThisSdc: 84,
  VolumeNameInUse: 99,
  VolumeIsMapped: 104,
  SizeCanOnlyGrow: 133,
  ProtectionDomainNotFound: 142,
  TooManySnapshots: 182,
  SnapshotGroupNotFound: 185,
  NameTooLong: 226,
  MappedMoreMappingsNotAllowed: 297,
  OnlySingleSdc: 306,
  PoolNoSpace: 1001,
} as const satisfies GatewayErrorCodes;
