/**
 * The errorCodes `ferry pool` answers, and for each the gateway's own message, word for word.
 *
 * The texts are the gateway's message table (the MDM's return codes, which Dell's Go client goscaleio ships as
 * `TranslateErrorCodeToErrorMessage` in types/v1); an errorCode is the position of its entry in that table
 * (NOT_FOUND is the fourth entry, code 3; VOL_NOT_FOUND code 79; ...). Clients do compare these texts: Dell's CSI
 * driver treats an error whose message equals "Could not find the volume" as a missing volume and "Not found"
 * from a name lookup as "no such name", so the pool must not add anything to them. What the pool knows beyond the
 * text (which id, which size) goes to its debug log, not into the answer.
 *
 * These are the pool's own: it mirrors the gateway, not Ferry's client (whose classification table is checked
 * against this one in test/unit/pool-gateway-errors.test.ts).
 */
export const POOL_CODES = {
  /** Invalid request (HTTP 400), and the code of a 401. */
  Invalid: 0,
  /** NOT_FOUND: a name lookup (queryIdByKey, getByName::) that resolves nothing, an unknown system or pool. */
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
  /** Ferry's own: not enough capacity in the storage pool (the gateway's code for this is not in our sources). */
  PoolNoSpace: 1001,
} as const;

export type PoolCodeName = keyof typeof POOL_CODES;

/** The codes whose text is the gateway's; the others (0, 1001) carry a message of the pool's own. */
export type GatewayCodeName = Exclude<PoolCodeName, 'Invalid' | 'PoolNoSpace'>;

export const GATEWAY_MESSAGES: Record<GatewayCodeName, string> = {
  NotFound: 'Not found',
  VolumeNotFound: 'Could not find the volume',
  SdcNotFound: 'Could not find the SDC',
  AlreadyMappedToThisSdc: 'The volume is already mapped to this SDC',
  NotMappedToThisSdc: 'The volume is not mapped to SDC',
  VolumeNameInUse: 'Volume name already in use. Please use a different name.',
  VolumeIsMapped: 'Volume is mapped',
  SizeCanOnlyGrow: 'Volume capacity can only be increased',
  ProtectionDomainNotFound: 'Could not find Protection Domain',
  TooManySnapshots: 'There are too many snapshots in the VTree',
  SnapshotGroupNotFound: 'No volumes were found under the given consistency group or the consistency group ID is not valid',
  NameTooLong: 'The given name exceeds the allowed length of 31 characters.',
  MappedMoreMappingsNotAllowed: 'This volume is already mapped and may not be mapped to additional SDCs.',
};
