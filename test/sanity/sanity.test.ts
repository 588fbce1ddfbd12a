import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDriver } from '../helpers/driver-process.js';
import { csiSanityBinary } from '../helpers/tools.js';

/**
 * csi-sanity v5.4.0 against the real `ferry driver`, one run per flags file in this directory. A flags file
 * holds one flag per line; there is no skip list.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const suites = readdirSync(here).filter((f) => f.endsWith('.flags')).sort();

function readFlags(file: string): string[] {
  return readFileSync(path.join(here, file), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
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

describe('csi-sanity', () => {
  let bin: string;
  beforeAll(() => {
    bin = csiSanityBinary();
  }, 600_000);

  it.each(suites)('%s passes', async (suite) => {
    const flags = readFlags(suite);
    expect(flags.some((f) => f.startsWith('--ginkgo.skip'))).toBe(false);
    const driver = await startDriver(['--mode', 'all', '--node-id', 'sanity-node']);
    const work = mkdtempSync(path.join(os.tmpdir(), 'ferry-sanity-'));
    try {
      const result = await run(bin, [
        `--csi.endpoint=${driver.socket}`,
        `--csi.mountdir=${path.join(work, 'mount')}`,
        `--csi.stagingdir=${path.join(work, 'staging')}`,
        '--ginkgo.no-color',
        ...flags,
      ]);
      const summary = result.output.split('\n').filter((l) => /^(Ran \d+|FAIL|SUCCESS|PASS|\s*\[FAIL\])/.test(l));
      process.stdout.write(`csi-sanity ${suite}:\n${summary.join('\n')}\n`);
      if (result.code !== 0) throw new Error(`csi-sanity ${suite} failed (exit ${result.code}):\n${result.output.slice(-20_000)}`);
      expect(result.output).toMatch(/Ran [1-9]\d* of \d+ Specs/);
      expect(result.output).toContain('0 Failed');
    } finally {
      rmSync(work, { recursive: true, force: true });
      expect(await driver.stop()).toBe(0);
    }
  }, 900_000);
});
