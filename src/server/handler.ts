import { status, type handleUnaryCall, type ServerUnaryCall, type sendUnaryData, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { DomainError, errorMessage } from '../errors.js';
import { redact } from '../util/redact.js';
import type { Logger } from '../util/log.js';
import { ERROR_CODES, statusName } from './error-codes.js';
import { answerMarginMs, type InflightKeys, type Release } from './inflight.js';
import type { DriverMetrics } from './metrics.js';
import { checkRequestLimits, shortForMessage } from './request-limits.js';

/** What every CSI handler gets besides its request. */
export interface CallContext {
  readonly method: string;
  readonly requestId: string;
  readonly log: Logger;
  /** The caller's deadline, if it set one. */
  readonly deadline: Date | undefined;
  /** Aborted when the caller cancels or its deadline passes. */
  readonly signal: AbortSignal;
  /** Takes per-resource in-flight keys; they are released when the call ends, whatever happens. */
  lock(...keys: string[]): Promise<void>;
}

export type UnaryImpl<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;

/** The generated `XxxHandlers` interfaces carry an index signature; keep only the named methods. */
type NamedMethods<T> = { [K in keyof T as string extends K ? never : K]: T[K] };

/** An async implementation of some or all methods of a generated service handler interface. */
export type ServiceImpl<Handlers> = {
  [K in keyof NamedMethods<Handlers>]?: NamedMethods<Handlers>[K] extends handleUnaryCall<infer Req, infer Res> ? UnaryImpl<Req, Res> : never;
};

export interface HandlerDeps {
  log: Logger;
  metrics: DriverMetrics;
  inflight: InflightKeys;
}

/**
 * The longest status message a caller gets: messages name values (ids, paths, parameters) that came from outside,
 * and a message of megabytes holds up the HTTP/2 connection the sidecars share.
 */
const DETAILS_LIMIT = 1024;

/**
 * A request whose bytes are no message of the method's type. grpc-js answers a deserializer that throws with INTERNAL;
 * but the bytes are the caller's fault, so the decoder hands this on instead and wrapUnary answers INVALID_ARGUMENT.
 */
export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

/** `definition` with each method's request decoder answering UndecodableRequest instead of throwing. */
export function withCallerDecodingErrors(definition: ServiceDefinition): ServiceDefinition {
  const out: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(definition)) {
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          return new UndecodableRequest(errorMessage(err));
        }
      },
    };
  }
  return out as ServiceDefinition;
}

/** Methods called so often that their success is logged at debug. */
const QUIET_METHODS = new Set(['Probe', 'NodeGetCapabilities', 'ControllerGetCapabilities', 'GroupControllerGetCapabilities', 'GetPluginInfo', 'GetPluginCapabilities']);

interface GrpcStatusError {
  code: status;
  details: string;
}

export function toStatusError(err: unknown, requestId: string): GrpcStatusError & { internal: boolean } {
  if (err instanceof DomainError) {
    return { code: ERROR_CODES[err.kind], details: err.message, internal: err.kind === 'internal' };
  }
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'number' && err.code in status && 'details' in err) {
    return { code: err.code as status, details: String(err.details), internal: false };
  }
  return { code: status.INTERNAL, details: `internal error (request ${requestId}); see the driver's log`, internal: true };
}

function deadlineOf(call: ServerUnaryCall<unknown, unknown>): Date | undefined {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

/**
 * The one wrapper around every CSI handler: request id, child logger, redacted request/response logging,
 * duration and status metrics, in-flight keys released in `finally`, and domain errors mapped to codes.
 */
export function wrapUnary<Req, Res>(method: string, impl: UnaryImpl<Req, Res>, deps: HandlerDeps): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const requestId = randomUUID().slice(0, 8);
    const log = deps.log.child({ method, requestId });
    const quiet = QUIET_METHODS.has(method);
    const started = performance.now();
    const deadline = deadlineOf(call as ServerUnaryCall<unknown, unknown>);
    const abort = new AbortController();
    const onCancel = (): void => abort.abort(new DomainError('aborted', 'the caller cancelled the call'));
    call.on('cancelled', onCancel);
    // The work stops a little before the deadline, so that the caller hears this call's own DEADLINE_EXCEEDED rather
    // than its deadline running out on it (fuzzer seed 659000258: a NodeStage waiting on a device under load). Half the
    // in-flight waiters' margin: a call still queued for its key answers ABORTED first, as before.
    const deadlineTimer = deadline
      ? setTimeout(
          () => abort.abort(new DomainError('deadline-exceeded', 'the call deadline is about to pass')),
          Math.max(0, deadline.getTime() - Date.now() - answerMarginMs(deadline) / 2),
        )
      : undefined;
    const releases: Release[] = [];
    const ctx: CallContext = {
      method,
      requestId,
      log,
      deadline,
      signal: abort.signal,
      lock: async (...keys: string[]) => {
        releases.push(await deps.inflight.acquire(keys, deadline, abort.signal));
      },
    };

    deps.metrics.callStarted(method);
    // Before anything logs or echoes the request: a field over CSI's size limits is refused unread.
    let oversized: unknown;
    try {
      if (call.request instanceof UndecodableRequest) {
        throw new DomainError('invalid-argument', `the request is not a ${method} message: ${shortForMessage(call.request.reason, 200)}`);
      }
      checkRequestLimits(call.request);
    } catch (err) {
      oversized = err;
    }
    (quiet ? log.debug : log.info).call(log, { request: oversized === undefined ? redact(call.request) : '(over CSI size limits: not logged)' }, 'call');

    const finish = (code: status): void => {
      const seconds = (performance.now() - started) / 1000;
      deps.metrics.callFinished(method, statusName(code), seconds);
      if (deadlineTimer) clearTimeout(deadlineTimer);
      call.off('cancelled', onCancel);
      return;
    };

    (oversized === undefined ? impl(call.request, ctx) : Promise.reject(oversized))
      .then(
        (response) => {
          finish(status.OK);
          const ms = Math.round(performance.now() - started);
          (quiet ? log.debug : log.info).call(log, { response: redact(response), ms }, 'ok');
          callback(null, response);
        },
        (err: unknown) => {
          const full = toStatusError(err, requestId);
          const mapped = { ...full, details: shortForMessage(full.details, DETAILS_LIMIT) };
          finish(mapped.code);
          const ms = Math.round(performance.now() - started);
          const fields = { code: statusName(mapped.code), details: mapped.details, ms };
          if (mapped.internal) log.error({ ...fields, err }, 'failed');
          else if (mapped.code === status.UNIMPLEMENTED) log.debug(fields, 'failed');
          else log.warn({ ...fields, cause: errorMessage(err) }, 'failed');
          callback({ code: mapped.code, details: mapped.details, name: 'Error', message: mapped.details });
        },
      )
      .finally(() => {
        for (const release of releases) release();
      });
  };
}

/**
 * Builds a complete grpc-js implementation for `definition`: every method the service declares is
 * registered, and those `impl` does not offer answer UNIMPLEMENTED.
 */
export function buildService<Handlers>(
  definition: ServiceDefinition,
  impl: ServiceImpl<Handlers>,
  deps: HandlerDeps,
): UntypedServiceImplementation {
  const handlers: UntypedServiceImplementation = {};
  const offered = impl as Record<string, UnaryImpl<unknown, unknown> | undefined>;
  for (const method of Object.keys(definition)) {
    const fn: UnaryImpl<unknown, unknown> =
      offered[method]?.bind(impl) ??
      (() => Promise.reject(new DomainError('unimplemented', `${method} is not offered by this driver in its current mode`)));
    handlers[method] = wrapUnary(method, fn, deps);
  }
  return handlers;
}
