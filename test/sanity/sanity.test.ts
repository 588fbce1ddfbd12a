import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDriver } from '../helpers/driver-process.js';
import { cleanupAllPools, startPool, type PoolProcess } from '../helpers/pool.js';
import { csiSanityBinary } from '../helpers/tools.js';

/**
 * csi-sanity v5.4.0 against the real `ferry driver --mode all` backed by a real `ferry pool` (loop devices, real
 * mkfs and mounts), one run per flags file in this directory. A flags file holds one flag per line (${HERE} is this
 * directory); there is no skip list.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const suites = readdirSync(here).filter((f) => f.endsWith('.flags')).sort();
const NODE_GUID = '5A4E9C1D-7B2F-4E8A-9C3D-1F6B2A8E4D70';

function readFlags(file: string): string[] {
  return readFileSync(path.join(here, file), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.replaceAll('${HERE}', here));
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
  let pool: PoolProcess;
  const work = mkdtempSync(path.join(os.tmpdir(), 'ferry-sanity-'));

  beforeAll(async () => {
    bin = csiSanityBinary();
    pool = await startPool({ capacity: '64Ti', hosts: [{ name: 'sanity-node', guid: NODE_GUID }] });
  }, 600_000);

  afterAll(async () => {
    await cleanupAllPools();
    rmSync(work, { recursive: true, force: true });
  });

  it.each(suites)('%s passes', async (suite) => {
    const flags = readFlags(suite);
    expect(flags.some((f) => f.startsWith('--ginkgo.skip'))).toBe(false);
    const dir = mkdtempSync(path.join(work, `${suite}-`));
    const config = path.join(dir, 'ferry.yaml');
    writeFileSync(
      config,
      [
        'backends:',
        '  - name: pool',
        '    type: powerflex',
        `    endpoint: ${pool.url}`,
        `    username: ${pool.username}`,
        `    password: ${pool.password}`,
        '    storagePool: pool1',
        '    maxVolumesPerNode: 4',
        'node:',
        `  sdcGuid: ${NODE_GUID}`,
        `  deviceDir: ${path.join(pool.dataDir, 'hosts', NODE_GUID, 'by-id')}`,
        `  stateDir: ${path.join(dir, 'node-state')}`,
        '  deviceWaitSeconds: 10',
        '  maxVolumes: 4',
        '',
      ].join('\n'),
    );
    const driver = await startDriver(['--mode', 'all', '--config', config, '--log-level', 'info']);
    try {
      const result = await run(bin, [
        `--csi.endpoint=${driver.socket}`,
        `--csi.mountdir=${path.join(dir, 'mount')}`,
        `--csi.stagingdir=${path.join(dir, 'staging')}`,
        '--ginkgo.no-color',
        ...flags,
      ]);
      const summary = result.output.split('\n').filter((l) => /^(Ran \d+|FAIL|SUCCESS|PASS|\s*\[FAIL\])/.test(l));
      process.stdout.write(`csi-sanity ${suite}:\n${summary.join('\n')}\n`);
      if (result.code !== 0) {
        throw new Error(`csi-sanity ${suite} failed (exit ${result.code}):\n${result.output.slice(-30_000)}\n--- driver log (tail) ---\n${driver.output().slice(-20_000)}`);
      }
      expect(result.output).toMatch(/Ran [1-9]\d* of \d+ Specs/);
      expect(result.output).toContain('0 Failed');
    } finally {
      expect(await driver.stop()).toBe(0);
    }
  }, 1_800_000);
});
