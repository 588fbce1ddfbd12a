import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNfsHarness, type NfsHarness } from '../helpers/nfs-harness.js';
import { expectSanityPasses } from '../helpers/sanity-runner.js';

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

describe('csi-sanity (NFS)', () => {
  let harness: NfsHarness;

  beforeAll(async () => {
    harness = await startNfsHarness([EXPORT]);
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('passes every case', async () => {
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
      // csi-sanity makes its mount and staging directories under this directory.
      '  kubeletRoots:',
      `    - ${dir}`,
      '',
    ].join('\n');
    const driver = await harness.startDriver(['--mode', 'all', '--node-id', NODE_ID, '--log-level', 'info'], config);
    try {
      await expectSanityPasses({
        socket: driver.socket,
        dir,
        flags: [...(process.env['NFS_SANITY_VERBOSE'] ? ['--ginkgo.v'] : []), ...FLAGS],
        driverOutput: () => driver.output(),
        label: 'nfs',
      });
    } finally {
      expect(await driver.stop()).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 1_800_000);
});
