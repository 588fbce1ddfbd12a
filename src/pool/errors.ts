import { GATEWAY_MESSAGES, POOL_CODES, type GatewayCodeName } from './gateway-errors.js';
import type { ErrorBody } from './wire.js';

/** The errorCodes, under the short name the pool's handlers use. */
export const CODES = POOL_CODES;

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
    /** What the pool knows beyond the gateway's text (an id, sizes): logged at debug, never answered. */
    readonly context?: string,
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

/** A refusal with a code of the pool's own (HTTP 500), and a message of its own. */
export function businessError(errorCode: number, message: string): PoolError {
  return new PoolError(500, errorCode, message);
}

/** A refusal the gateway knows: HTTP 500, its errorCode and its message word for word; `context` only for the log. */
export function gatewayError(code: GatewayCodeName, context?: string): PoolError {
  return new PoolError(500, CODES[code], GATEWAY_MESSAGES[code], context);
}

/** The gateway's 401, word for word. */
export function unauthorized(): PoolError {
  return new PoolError(401, CODES.Invalid, 'Unauthorized');
}

export function volumeNotFound(id: string): PoolError {
  return gatewayError('VolumeNotFound', `volume ${id}`);
}
