import type { Client } from '@grpc/grpc-js';
import { call } from '../../src/harness/csi-client.js';

/** The tests' CSI clients are the harness's (the demo and the benchmark use the same ones). */
export { call, csiClients, type CsiClients } from '../../src/harness/csi-client.js';

/** A call chosen by name at run time (e.g. every method of a service); the answer is not typed. */
export function callByName(client: Client, method: string, request: object, timeoutMs = 30_000): Promise<unknown> {
  return call(client as Client & Record<string, never>, method as never, request as never, timeoutMs);
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
