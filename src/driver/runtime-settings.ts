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
