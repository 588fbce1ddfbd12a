import { setFlagsFromString } from 'node:v8';

/**
 * How Node.js runs `ferry driver`, set before it starts: V8 sizes its heap and libuv its threadpool at start-up, so
 * neither can be changed from inside. The image sets them (Dockerfile `ENV`), the harness passes them to every driver
 * it starts (benchmarks, demo, integration tests); test/unit/runtime-settings.test.ts holds the two to the same values.
 * Measured in docs/benchmarks.md ("Where memory and CPU go").
 */

/**
 * A young generation of 1 MiB semi-spaces (V8's default grows them to 16 MiB): the driver's garbage is short-lived
 * (one call's messages), so the smaller nursery costs more frequent but cheap scavenges and keeps ~10 MiB less
 * resident at idle and ~45 MiB less at 100 calls in flight.
 */
export const DRIVER_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=1'];

/**
 * libuv's threadpool runs every file-system call (the node plugin's state records are written with two fsyncs each,
 * the mount table is read per step): 4 threads (the default) queue a hundred calls in flight behind each other.
 */
export const DRIVER_ENV: Readonly<Record<string, string>> = { UV_THREADPOOL_SIZE: '16' };

/**
 * V8 flags that NODE_OPTIONS refuses, so `ferry driver` sets them itself as it starts (applyDriverV8Flags), the same
 * in the image and under the harness. A fixed old-generation growth of 20 % per collection: V8's own rule grows the
 * heap up to 4x at once when collections are quick, which at 100 calls in flight left the driver at ~140 MiB for a
 * live set of a few tens; with 20 % it peaked at ~95 MiB for ~5-9 % more CPU (docs/benchmarks.md). The factor is read
 * at every collection, so setting it after start-up takes effect; it is a growth rate, not a limit, so a larger live
 * set still gets its heap (no out-of-memory risk that --max-old-space-size would bring).
 */
export const DRIVER_V8_FLAGS: readonly string[] = ['--heap-growing-percent=20'];

export function applyDriverV8Flags(): void {
  for (const flag of DRIVER_V8_FLAGS) setFlagsFromString(flag);
}
