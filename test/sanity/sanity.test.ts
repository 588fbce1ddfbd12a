import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDriver } from '../helpers/driver-process.js';
import { cleanupAllPools, powerFlexBackendYaml, startPool, type PoolProcess } from '../helpers/pool.js';
import { expectSanityPasses } from '../helpers/sanity-runner.js';
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

describe('csi-sanity', () => {
  let pool: PoolProcess;
  const work = mkdtempSync(path.join(os.tmpdir(), 'ferry-sanity-'));

  beforeAll(async () => {
    // Installs csi-sanity (cached by version) under this hook's long timeout, before the suites' own clocks start.
    csiSanityBinary();
    pool = await startPool({ capacity: '64Ti', hosts: [{ name: 'sanity-node', guid: NODE_GUID }] });
  }, 600_000);

  afterAll(async () => {
    await cleanupAllPools();
    rmSync(work, { recursive: true, force: true });
  });

  it.each(suites)('%s passes', async (suite) => {
    const flags = readFlags(suite);
    const dir = mkdtempSync(path.join(work, `${suite}-`));
    const config = path.join(dir, 'ferry.yaml');
    writeFileSync(
      config,
      [
        ...powerFlexBackendYaml(pool, ['maxVolumesPerNode: 4']),
        'node:',
        `  sdcGuid: ${NODE_GUID}`,
        `  deviceDir: ${path.join(pool.dataDir, 'hosts', NODE_GUID, 'by-id')}`,
        `  stateDir: ${path.join(dir, 'node-state')}`,
        '  deviceWaitSeconds: 10',
        '  maxVolumes: 4',
        // csi-sanity makes its mount and staging directories under this suite's own directory.
        '  kubeletRoots:',
        `    - ${dir}`,
        '',
      ].join('\n'),
    );
    const driver = await startDriver(['--mode', 'all', '--config', config, '--log-level', 'info']);
    try {
      await expectSanityPasses({ socket: driver.socket, dir, flags, driverOutput: () => driver.output(), label: suite });
    } finally {
      expect(await driver.stop()).toBe(0);
    }
  }, 1_800_000);
});
