import { DomainError, type ErrorKind } from '../../errors.js';
import { GATEWAY_ERROR_CODES } from './error-codes.js';

export { GATEWAY_ERROR_CODES };

/**
 * Gateway errors, classified by errorCode and HTTP status only: message texts differ between gateway versions and
 * languages, codes do not. The gateway's own figures stay on the error for callers that need more than the kind.
 */

/** Older ScaleIO releases answered an unknown volume with 78 instead of 79 (Cinder still checks both). */
const OLD_VOLUME_NOT_FOUND = 78;

/** errorCode → kind, for codes whose meaning does not depend on the HTTP status they arrive with. */
export const ERROR_CODE_KINDS: ReadonlyMap<number, ErrorKind> = new Map<number, ErrorKind>([
  [GATEWAY_ERROR_CODES.NotFound, 'not-found'],
  [OLD_VOLUME_NOT_FOUND, 'not-found'],
  [GATEWAY_ERROR_CODES.VolumeNotFound, 'not-found'],
  [GATEWAY_ERROR_CODES.SdcNotFound, 'not-found'],
  [GATEWAY_ERROR_CODES.ProtectionDomainNotFound, 'not-found'],
  [GATEWAY_ERROR_CODES.SnapshotGroupNotFound, 'not-found'],
  [GATEWAY_ERROR_CODES.AlreadyMappedToThisSdc, 'already-mapped'],
  [GATEWAY_ERROR_CODES.NotMappedToThisSdc, 'not-mapped'],
  [GATEWAY_ERROR_CODES.VolumeNameInUse, 'name-in-use'],
  [GATEWAY_ERROR_CODES.VolumeIsMapped, 'failed-precondition'],
  [GATEWAY_ERROR_CODES.SizeCanOnlyGrow, 'failed-precondition'],
  [GATEWAY_ERROR_CODES.TooManySnapshots, 'resource-exhausted'],
  // A name over 31 characters is the caller's mistake, not a size problem: too-large is kept for sizes.
  [GATEWAY_ERROR_CODES.NameTooLong, 'invalid-argument'],
  [GATEWAY_ERROR_CODES.MappedMoreMappingsNotAllowed, 'mapped-elsewhere'],
  [GATEWAY_ERROR_CODES.OnlySingleSdc, 'mapped-elsewhere'],
  // Ferry pool's code for a full pool (the real gateway's is not in the fact sheet).
  [GATEWAY_ERROR_CODES.PoolNoSpace, 'no-space'],
]);

export interface GatewayErrorDetails {
  /** The gateway's errorCode, when the answer carried one. */
  errorCode?: number;
  /** The HTTP status, when there was an answer at all. */
  httpStatus?: number;
  /** What was asked, e.g. "GET /api/instances/Volume::0123456789abcdef" (no credentials, no body). */
  operation?: string;
  /** The socket-level code (ECONNREFUSED, CERT_HAS_EXPIRED, ...) of a transport failure. */
  transportCode?: string;
  cause?: unknown;
}

export class GatewayError extends DomainError {
  readonly errorCode: number | undefined;
  readonly httpStatus: number | undefined;
  readonly operation: string | undefined;
  readonly transportCode: string | undefined;

  constructor(kind: ErrorKind, message: string, details: GatewayErrorDetails = {}) {
    super(kind, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.errorCode = details.errorCode;
    this.httpStatus = details.httpStatus;
    this.operation = details.operation;
    this.transportCode = details.transportCode;
  }
}

export function isGatewayError(err: unknown, kind?: ErrorKind): err is GatewayError {
  return err instanceof GatewayError && (kind === undefined || err.kind === kind);
}

/**
 * The kind of an HTTP error answer. A known errorCode decides regardless of status (business errors come as 500,
 * but a proxy or version may change the status); otherwise the status does.
 */
export function classifyGatewayAnswer(httpStatus: number, errorCode: number | undefined): ErrorKind {
  if (httpStatus === 401) return 'unauthorized';
  if (errorCode !== undefined) {
    const known = ERROR_CODE_KINDS.get(errorCode);
    if (known !== undefined) return known;
  }
  if (httpStatus === 400 || httpStatus === 422) return 'invalid-argument';
  if (httpStatus === 403) return 'unauthorized';
  if (httpStatus === 404) return 'not-found';
  if (httpStatus === 408 || httpStatus === 429) return 'unavailable';
  // A 5xx without a code Ferry knows: the gateway (or a proxy in front of it) is in trouble; a later call may work.
  if (httpStatus >= 500) return 'unavailable';
  // Any other 4xx means Ferry asked something the gateway does not understand: a bug on our side.
  return 'internal';
}

/** Parsed error body: JSON when the gateway sent JSON, otherwise (4.x HTML pages, proxies) only the status text. */
export interface ParsedErrorBody {
  errorCode?: number;
  message?: string;
}

export function parseErrorBody(body: string, contentType: string | undefined): ParsedErrorBody {
  const looksJson = (contentType ?? '').includes('json') || /^\s*[{[]/.test(body);
  if (!looksJson) return {};
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    const record = parsed as Record<string, unknown>;
    const result: ParsedErrorBody = {};
    const code = record['errorCode'];
    if (typeof code === 'number' && Number.isInteger(code)) result.errorCode = code;
    else if (typeof code === 'string' && /^\d+$/.test(code)) result.errorCode = Number(code);
    const message = record['message'];
    if (typeof message === 'string' && message.length > 0) result.message = message;
    return result;
  } catch {
    return {};
  }
}

/** Node's and OpenSSL's codes for a certificate the client refused: not worth a retry, worth a clear hint. */
const TLS_VERIFY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

export function isTlsVerificationCode(code: string | undefined): boolean {
  return code !== undefined && TLS_VERIFY_CODES.has(code);
}

/**
 * Socket-level failures after which an idempotent request may be sent again: the gateway was unreachable, refused,
 * or dropped the connection. DNS "not found" and TLS refusals are not here: repeating them cannot help.
 */
const RETRYABLE_TRANSPORT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ECONNABORTED',
  // Ferry's own codes (transport.ts): the connect phase timed out, or the answer broke off half-way.
  'FERRY_CONNECT_TIMEOUT',
  'FERRY_RESPONSE_INTERRUPTED',
]);

export function isRetryableTransportCode(code: string | undefined): boolean {
  return code !== undefined && RETRYABLE_TRANSPORT_CODES.has(code);
}

/** Statuses a load balancer in front of a gateway answers while a gateway node restarts. */
export function isRetryableStatus(httpStatus: number, errorCode: number | undefined): boolean {
  return errorCode === undefined && (httpStatus === 502 || httpStatus === 503 || httpStatus === 504);
}
