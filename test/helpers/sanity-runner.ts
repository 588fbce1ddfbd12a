import { spawn } from 'node:child_process';
import { expect } from '@jest/globals';
import { startHandshakeDelay } from './handshake-delay.js';
import { csiSanityBinary } from './tools.js';

export interface SanityRun {
  /** The driver's socket. */
  socket: string;
  /** Parent of the mount and staging dirs csi-sanity creates (they must not exist yet). */
  dir: string;
  flags: readonly string[];
  /** Shown with the output when the run fails. */
  driverOutput: () => string;
  label: string;
}

function run(bin: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

/**
 * Runs csi-sanity v5.4.0 against a driver and fails the test unless every spec that ran passed. The flags never
 * include --ginkgo.skip: what csi-sanity skips by itself is only what a capability Ferry does not claim gates.
 */
export async function expectSanityPasses(options: SanityRun): Promise<void> {
  expect(options.flags.some((f) => f.startsWith('--ginkgo.skip'))).toBe(false);
  const relay = await startHandshakeDelay(options.socket, `${options.dir}/sanity-relay.sock`);
  let result: { code: number | null; output: string };
  try {
    result = await run(csiSanityBinary(), [
      `--csi.endpoint=${relay.socket}`,
      `--csi.mountdir=${options.dir}/mount`,
      `--csi.stagingdir=${options.dir}/staging`,
      '--ginkgo.no-color',
      ...options.flags,
    ]);
  } finally {
    await relay.close();
  }
  const summary = result.output.split('\n').filter((l) => /^(Ran \d+|FAIL|SUCCESS|PASS|\s*\[FAIL\])/.test(l));
  process.stdout.write(`csi-sanity ${options.label}:\n${summary.join('\n')}\n`);
  if (result.code !== 0) {
    throw new Error(
      `csi-sanity ${options.label} failed (exit ${result.code}):\n${result.output.slice(-30_000)}\n--- driver log (tail) ---\n${options.driverOutput().slice(-20_000)}`,
    );
  }
  expect(result.output).toMatch(/Ran [1-9]\d* of \d+ Specs/);
  expect(result.output).toContain('0 Failed');
}
