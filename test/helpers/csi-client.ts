import { credentials, type CallOptions, type Client, type ClientUnaryCall, type requestCallback, type ServiceError } from '@grpc/grpc-js';
import { loadCsi } from '../../src/grpc/csi-package.js';
import type { ControllerClient } from '../../src/gen/csi/v1/Controller.js';
import type { IdentityClient } from '../../src/gen/csi/v1/Identity.js';
import type { NodeClient } from '../../src/gen/csi/v1/Node.js';

/** Real gRPC clients for a driver under test, over its Unix socket (or tcp host:port). */
export interface CsiClients {
  identity: IdentityClient;
  controller: ControllerClient;
  node: NodeClient;
  close(): void;
}

export function csiClients(address: string): CsiClients {
  const { grpc } = loadCsi();
  const target = address.startsWith('/') ? `unix:${address}` : address;
  const creds = credentials.createInsecure();
  const identity = new grpc.csi.v1.Identity(target, creds);
  const controller = new grpc.csi.v1.Controller(target, creds);
  const node = new grpc.csi.v1.Node(target, creds);
  return {
    identity,
    controller,
    node,
    close: () => [identity, controller, node].forEach((c: Client) => c.close()),
  };
}

/*
 * The generated client methods are overloaded; inference reads the last overload, `(argument, callback)`,
 * which is enough to recover the request and response types.
 */
type RequestOf<F> = F extends (argument: infer Req, callback: requestCallback<infer _Res>) => ClientUnaryCall ? Req : never;
type ResponseOf<F> = F extends (argument: infer _Req, callback: requestCallback<infer Res>) => ClientUnaryCall ? Res : never;
type UnaryWithOptions = (argument: unknown, options: CallOptions, callback: (err: ServiceError | null, value?: unknown) => void) => ClientUnaryCall;

/** One unary call with a deadline, as a promise: `await call(clients.identity, 'GetPluginInfo', {})`. */
export function call<C extends Client, K extends keyof C & string>(
  client: C,
  method: K,
  request: RequestOf<C[K]>,
  timeoutMs = 30_000,
): Promise<ResponseOf<C[K]>> {
  const fn = client[method] as unknown as UnaryWithOptions | undefined;
  if (typeof fn !== 'function') return Promise.reject(new Error(`no method ${method}`));
  return new Promise((resolve, reject) => {
    fn.call(client, request, { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
      if (err) reject(err);
      else resolve(res as ResponseOf<C[K]>);
    });
  });
}

/** A call chosen by name at run time (e.g. every method of a service); the answer is not typed. */
export function callByName(client: Client, method: string, request: object, timeoutMs = 30_000): Promise<unknown> {
  return call(client as Client & Record<string, UnaryWithOptions>, method, request as never, timeoutMs);
}

/** The gRPC status code of a rejected call (fails the test if it was not a gRPC error). */
export async function codeOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (err) {
    if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'number') return err.code;
    throw err;
  }
  throw new Error('the call succeeded; a gRPC error was expected');
}
