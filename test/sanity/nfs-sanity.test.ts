import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNfsHarness, type NfsHarness } from '../helpers/nfs-harness.js';
import { csiSanityBinary } from '../helpers/tools.js';

/**
 * csi-sanity v5.4.0 against `ferry driver --mode all` with one NFS backend, served by the test NFS harness (a tmpfs
 * export and a test mount.nfs in private mount namespaces: see test/helpers/nfs-harness.ts). No skip list.
 *
 * The flags live here, not in a *.flags file: test/sanity/sanity.test.ts runs every *.flags file of this directory
 * against its PowerFlex pool.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const EXPORT = { server: 'nfs.sanity.test', share: '/export' };
const NODE_ID = 'nfs-sanity-node';

const FLAGS = [
  '--csi.testvolumeaccesstype=mount',
  `--csi.testvolumeparameters=${path.join(here, 'params-nfs.yaml')}`,
  '--csi.testvolumesize=1073741824',
  '--csi.testvolumeexpandsize=2147483648',
];

function run(bin: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('csi-sanity (NFS)', () => {
  let harness: NfsHarness;

  beforeAll(async () => {
    harness = await startNfsHarness([EXPORT]);
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('passes every case', async () => {
    const bin = csiSanityBinary();
    const dir = mkdtempSync(path.join(harness.dir, 'sanity-'));
    const config = [
      'backends:',
      '  - name: nfs',
      '    type: nfs',
      `    server: ${EXPORT.server}`,
      `    share: ${EXPORT.share}`,
      `    workDir: ${path.join(dir, 'work')}`,
      '    mountTimeoutSeconds: 10',
      'node:',
      `  stateDir: ${path.join(dir, 'node-state')}`,
      '',
    ].join('\n');
    const driver = await harness.startDriver(['--mode', 'all', '--node-id', NODE_ID, '--log-level', 'info'], config);
    try {
      const result = await run(bin, [
        `--csi.endpoint=${driver.socket}`,
        `--csi.mountdir=${path.join(dir, 'mount')}`,
        `--csi.stagingdir=${path.join(dir, 'staging')}`,
        '--ginkgo.no-color',
        ...(process.env['NFS_SANITY_VERBOSE'] ? ['--ginkgo.v'] : []),
        ...FLAGS,
      ]);
      const summary = result.output.split('\n').filter((l) => /^(Ran \d+|FAIL|SUCCESS|PASS|\s*\[FAIL\])/.test(l));
      process.stdout.write(`csi-sanity nfs:\n${summary.join('\n')}\n`);
      if (result.code !== 0) {
        throw new Error(`csi-sanity nfs failed (exit ${result.code}):\n${result.output.slice(-30_000)}\n--- driver log (tail) ---\n${driver.output().slice(-20_000)}`);
      }
      expect(result.output).toMatch(/Ran [1-9]\d* of \d+ Specs/);
      expect(result.output).toContain('0 Failed');
    } finally {
      expect(await driver.stop()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 1_800_000);
});
