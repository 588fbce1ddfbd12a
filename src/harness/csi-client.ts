import { credentials, status, type CallOptions, type Client, type ClientUnaryCall, type requestCallback, type ServiceError } from '@grpc/grpc-js';
import type { ControllerClient } from '../gen/csi/v1/Controller.js';
import type { GroupControllerClient } from '../gen/csi/v1/GroupController.js';
import type { IdentityClient } from '../gen/csi/v1/Identity.js';
import type { NodeClient } from '../gen/csi/v1/Node.js';
import { loadCsi } from '../grpc/csi-package.js';

/** gRPC clients of one `ferry driver` over its Unix socket, as a CO (kubelet, the external sidecars) holds them. */
export interface CsiClients {
  identity: IdentityClient;
  controller: ControllerClient;
  groupController: GroupControllerClient;
  node: NodeClient;
  close(): void;
}

/** `socket` is a path (or already `unix:/path`). */
export function csiClients(socket: string): CsiClients {
  const { grpc } = loadCsi();
  const target = socket.startsWith('/') ? `unix:${socket}` : socket;
  const creds = credentials.createInsecure();
  const identity = new grpc.csi.v1.Identity(target, creds);
  const controller = new grpc.csi.v1.Controller(target, creds);
  const groupController = new grpc.csi.v1.GroupController(target, creds);
  const node = new grpc.csi.v1.Node(target, creds);
  return {
    identity,
    controller,
    groupController,
    node,
    close: () => {
      for (const c of [identity, controller, groupController, node] as Client[]) c.close();
    },
  };
}

/*
 * The generated client methods are overloaded; inference reads the last overload, `(argument, callback)`, which is
 * enough to recover the request and response types.
 */
export type RequestOf<F> = F extends (argument: infer Req, callback: requestCallback<infer _Res>) => ClientUnaryCall ? Req : never;
export type ResponseOf<F> = F extends (argument: infer _Req, callback: requestCallback<infer Res>) => ClientUnaryCall ? Res : never;
type UnaryWithOptions = (argument: unknown, options: CallOptions, callback: (err: ServiceError | null, value?: unknown) => void) => ClientUnaryCall;

/** A failed CSI call, with the method and the gRPC status by name. */
export class CsiCallError extends Error {
  override readonly name = 'CsiCallError';

  constructor(
    readonly method: string,
    readonly code: number | undefined,
    readonly details: string,
  ) {
    // grpc-js appends an empty "Resolution note:" to connection failures; it says nothing.
    super(`${method}: ${code === undefined ? 'failed' : (status[code] ?? `code ${code}`)}: ${details.replace(/\s*Resolution note:\s*$/, '')}`);
  }
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && 'code' in err && typeof err.code === 'number';
}

/** One unary call with a deadline, as a promise: `await call(clients.controller, 'CreateVolume', {...})`. */
export function call<C extends Client, K extends keyof C & string>(client: C, method: K, request: RequestOf<C[K]>, timeoutMs = 120_000): Promise<ResponseOf<C[K]>> {
  const fn = client[method] as unknown as UnaryWithOptions | undefined;
  if (typeof fn !== 'function') return Promise.reject(new Error(`no method ${method}`));
  return new Promise((resolve, reject) => {
    fn.call(client, request, { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
      if (err) reject(isServiceError(err) ? new CsiCallError(method, err.code, err.details) : err);
      else resolve(res as ResponseOf<C[K]>);
    });
  });
}
