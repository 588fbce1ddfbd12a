import { GATEWAY_ERROR_CODES } from '../backends/powerflex/error-codes.js';
import type { ErrorBody } from '../backends/powerflex/types.js';

/** The gateway's errorCodes, under the short name the pool's handlers use. */
export const CODES = GATEWAY_ERROR_CODES;

/**
 * An answer that is an error, in the gateway's own shape. Handlers throw these; the server turns them into the
 * body `{message, httpStatusCode, errorCode}` with the same status code on the wire.
 */
export class PoolError extends Error {
  override readonly name = 'PoolError';

  constructor(
    readonly httpStatusCode: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }

  body(): ErrorBody {
    return { message: this.message, httpStatusCode: this.httpStatusCode, errorCode: this.errorCode };
  }
}

/** A malformed request: the gateway answers these with HTTP 400 and errorCode 0. */
export function invalidRequest(message: string): PoolError {
  return new PoolError(400, CODES.Invalid, message);
}

/** A request the system refuses for a reason of its own: HTTP 500 with a specific errorCode. */
export function businessError(errorCode: number, message: string): PoolError {
  return new PoolError(500, errorCode, message);
}

/** The gateway's 401, word for word. */
export function unauthorized(): PoolError {
  return new PoolError(401, CODES.Invalid, 'Unauthorized');
}

export function volumeNotFound(id: string): PoolError {
  return businessError(CODES.VolumeNotFound, `Could not find the volume (id ${id})`);
}
