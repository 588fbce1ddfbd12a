import { status } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { call, csiClients, type CsiClients } from '../../helpers/csi-client.js';
import { startDriver, type DriverProcess } from '../../helpers/driver-process.js';
import { cleanupAllPools, powerFlexBackendYaml, startPool, type PoolProcess } from '../../helpers/pool.js';
import { CsiCallError } from '../../../src/harness/csi-client.js';

/**
 * A real node plugin (`ferry driver --mode node`, no gateway credentials) and a real controller, probed with what a
 * compromised or buggy caller could send: paths into /proc, /sys and /dev (a recursive mkdir under /proc/self/fd never
 * returned), values of a megabyte, and SIGTERM while a call is stuck in a filesystem step that never returns.
 */
const SYSTEM_ID = '0123456789abcdef';
const VOLUME_ID = `pool:${SYSTEM_ID}-00000000000000a1`;
const MOUNT_CAPABILITY = { mount: { fs_type: 'ext4', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' as const } };

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ferry-hostile-'));
const deviceDir = path.join(tmp, 'by-id');
let pool: PoolProcess;

/** A node config that names the system and holds no login (as the chart renders it): the gateway is unreachable. */
function nodeConfig(name: string, stateDir: string, extra: readonly string[] = []): string {
  const file = path.join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'backends:',
      '  - name: pool',
      '    type: powerflex',
      '    endpoint: https://127.0.0.1:1',
      `    systemId: ${SYSTEM_ID}`,
      '    storagePool: pool1',
      'node:',
      '  sdcGuid: 7C1A7E5F-0B1D-4C1B-9E1A-3F0C2D4B5A61',
      `  deviceDir: ${deviceDir}`,
      `  stateDir: ${stateDir}`,
      '  cleanupIntervalSeconds: 0',
      '  kubeletRoots:',
      `    - ${tmp}`,
      ...extra.map((l) => `  ${l}`),
      '',
    ].join('\n'),
  );
  return file;
}

async function failure(promise: Promise<unknown>): Promise<CsiCallError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CsiCallError) return err;
    throw err;
  }
  throw new Error('the call succeeded; a gRPC error was expected');
}

beforeAll(async () => {
  mkdirSync(deviceDir);
  pool = await startPool();
});

afterAll(async () => {
  await cleanupAllPools();
  rmSync(tmp, { recursive: true, force: true });
});

describe('a node plugin without gateway credentials', () => {
  let driver: DriverProcess;
  let c: CsiClients;
  const stateDir = path.join(tmp, 'state-a');

  beforeAll(async () => {
    driver = await startDriver(['--mode', 'node', '--node-id', 'node-a', '--kubernetes', 'off', '--config', nodeConfig('node-a', stateDir)]);
    c = csiClients(driver.socket);
  });

  afterAll(async () => {
    c.close();
    await driver.stop();
  });

  test('serves: ready, and its topology from the configured system id (the gateway is never asked)', async () => {
    expect((await call(c.identity, 'Probe', {}, 5_000)).ready?.value).toBe(true);
    const info = await call(c.node, 'NodeGetInfo', {}, 5_000);
    expect(info.accessible_topology?.segments).toEqual({ [`ferry.csi.io/powerflex-${SYSTEM_ID}`]: 'true' });
    expect(driver.output()).not.toContain('logged in');
  });

  test('paths under /proc, /sys and /dev, or leading there, are INVALID_ARGUMENT at once; the volume stays usable', async () => {
    const viaLink = path.join(tmp, 'to-proc');
    symlinkSync('/proc/self/fd', viaLink);
    const started = Date.now();
    const refused = [
      call(c.node, 'NodeStageVolume', { volume_id: VOLUME_ID, staging_target_path: '/proc/self/fd/99/stage', volume_capability: MOUNT_CAPABILITY }, 10_000),
      call(c.node, 'NodeStageVolume', { volume_id: VOLUME_ID, staging_target_path: `${viaLink}/99/stage`, volume_capability: MOUNT_CAPABILITY }, 10_000),
      call(c.node, 'NodePublishVolume', {
        volume_id: VOLUME_ID,
        staging_target_path: path.join(tmp, 'stage'),
        target_path: '/sys/kernel/ferry-target',
        volume_capability: MOUNT_CAPABILITY,
      }, 10_000),
      call(c.node, 'NodeUnpublishVolume', { volume_id: VOLUME_ID, target_path: '/dev/shm/../ferry-target' }, 10_000),
    ];
    for (const err of await Promise.all(refused.map((r) => failure(r)))) {
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toMatch(/volumes are never staged or published there/);
    }
    // A volume path where no volume can be holds none: NOT_FOUND, for the same reason.
    const stats = await failure(call(c.node, 'NodeGetVolumeStats', { volume_id: VOLUME_ID, volume_path: '/proc/1/root/x' }, 10_000));
    expect(stats.code).toBe(status.NOT_FOUND);
    expect(stats.details).toMatch(/volumes are never staged or published there/);
    expect(Date.now() - started).toBeLessThan(3_000);
    // The in-flight key of the volume was never left held: a correct call on it answers at once.
    const unstage = Date.now();
    await call(c.node, 'NodeUnstageVolume', { volume_id: VOLUME_ID, staging_target_path: path.join(tmp, 'stage') }, 5_000);
    expect(Date.now() - unstage).toBeLessThan(2_000);
  });

  test('a megabyte value is INVALID_ARGUMENT, echoed by size only, never logged, and the shared connection keeps answering', async () => {
    const huge = 'x'.repeat(1 << 20);
    const started = Date.now();
    const err = await failure(
      call(c.node, 'NodeStageVolume', {
        volume_id: VOLUME_ID,
        staging_target_path: path.join(tmp, 'stage'),
        volume_capability: MOUNT_CAPABILITY,
        volume_context: { mkfsOptions: huge },
      }, 10_000),
    );
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toBe(`volume_context: ${(1 << 20) + 'mkfsOptions'.length} bytes of keys and values, over CSI's 4096-byte limit for a map`);
    // The same client (one HTTP/2 connection, as the sidecars share one) answers the next call at once.
    const probe = Date.now();
    expect((await call(c.identity, 'Probe', {}, 2_000)).ready?.value).toBe(true);
    expect(Date.now() - probe).toBeLessThan(1_000);
    expect(Date.now() - started).toBeLessThan(3_000);
    await driver.waitForOutput('over CSI size limits: not logged');
    expect(driver.output()).not.toContain('x'.repeat(200));
  });

  test('the CSI limits: 128 bytes for a string, 4 KiB for a map; paths, node ids and volume ids longer', async () => {
    // A volume id may take 1 KiB (an NFS id carries server, export and directory); any other string 128 bytes.
    const longId = `pool:${'a'.repeat(1020)}`;
    const idErr = await failure(call(c.node, 'NodeUnstageVolume', { volume_id: longId, staging_target_path: path.join(tmp, 'stage') }, 5_000));
    expect([idErr.code, idErr.details]).toEqual([status.INVALID_ARGUMENT, "volume_id: 1025 bytes, over the 1024-byte limit for this field"]);
    const fsErr = await failure(
      call(c.node, 'NodeStageVolume', {
        volume_id: VOLUME_ID,
        staging_target_path: path.join(tmp, 'stage'),
        volume_capability: { ...MOUNT_CAPABILITY, mount: { fs_type: 'e'.repeat(129), mount_flags: [] } },
      }, 5_000),
    );
    expect([fsErr.code, fsErr.details]).toEqual([status.INVALID_ARGUMENT, "volume_capability.mount.fs_type: 129 bytes, over the 128-byte limit for this field"]);
    const manyKeys = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v'.repeat(100)]));
    const mapErr = await failure(
      call(c.node, 'NodeStageVolume', { volume_id: VOLUME_ID, staging_target_path: path.join(tmp, 'stage'), volume_capability: MOUNT_CAPABILITY, secrets: manyKeys }, 5_000),
    );
    expect(mapErr.code).toBe(status.INVALID_ARGUMENT);
    expect(mapErr.details).toMatch(/^secrets: \d+ bytes of keys and values, over CSI's 4096-byte limit for a map$/);
    // A 300-byte path is fine (paths override the general limit); nothing is staged there, so unstage is done.
    const deepPath = path.join(tmp, 'd'.repeat(250), 'stage');
    expect(Buffer.byteLength(deepPath)).toBeGreaterThan(128);
    await call(c.node, 'NodeUnstageVolume', { volume_id: VOLUME_ID, staging_target_path: deepPath }, 5_000);
  });
});

describe('the controller', () => {
  test('refuses a megabyte StorageClass parameter before the backend sees it, and warns at start about plain HTTP with a password', async () => {
    const config = path.join(tmp, 'controller.yaml');
    writeFileSync(config, [...powerFlexBackendYaml(pool), ''].join('\n'));
    const driver = await startDriver(['--mode', 'controller', '--kubernetes', 'off', '--config', config]);
    const c = csiClients(driver.socket);
    try {
      expect(driver.output()).toMatch(/"level":40[^\n]*the gateway endpoint is plain http:\/\/: the password crosses the network in clear/);
      const err = await failure(
        call(c.controller, 'CreateVolume', {
          name: 'pvc-huge',
          capacity_range: { required_bytes: String(8n << 30n) },
          volume_capabilities: [MOUNT_CAPABILITY],
          parameters: { storagePool: 'y'.repeat(1 << 20) },
        }, 10_000),
      );
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.details.length).toBeLessThan(200);
      expect((await call(c.controller, 'ListVolumes', {}, 5_000)).entries).toEqual([]);
    } finally {
      c.close();
      await driver.stop();
    }
  });
});

describe('SIGTERM', () => {
  test('ends the node plugin within the grace period while a call is stuck in a filesystem step that never returns', async () => {
    const stateDir = path.join(tmp, 'state-stuck');
    mkdirSync(stateDir);
    // The volume's device is there, so NodeStage goes on to read the volume's record, and that read never returns:
    // the record is a FIFO no one writes to (open(2) waits in the kernel; nothing in the process can cancel it).
    const device = path.join(deviceDir, `emc-vol-${SYSTEM_ID}-00000000000000a1`);
    execFileSync('mknod', [device, 'b', '7', '250']);
    const record = path.join(stateDir, `${createHash('sha256').update(VOLUME_ID).digest('hex').slice(0, 40)}.json`);
    const graceSeconds = 1;
    const driver = await startDriver([
      '--mode', 'node', '--node-id', 'node-stuck', '--kubernetes', 'off', '--shutdown-grace-seconds', String(graceSeconds),
      '--config', nodeConfig('node-stuck', stateDir),
    ]);
    const c = csiClients(driver.socket);
    try {
      execFileSync('mkfifo', [record]);
      const stuck = call(c.node, 'NodeStageVolume', { volume_id: VOLUME_ID, staging_target_path: path.join(tmp, 'stuck-stage'), volume_capability: MOUNT_CAPABILITY }, 30_000);
      stuck.catch(() => undefined);
      await driver.waitForOutput('"device present"');
      await new Promise((r) => setTimeout(r, 500));
      // A second call on the same volume waits for the stuck one's in-flight key.
      const queued = call(c.node, 'NodeUnstageVolume', { volume_id: VOLUME_ID, staging_target_path: path.join(tmp, 'stuck-stage') }, 30_000);
      queued.catch(() => undefined);
      const sent = Date.now();
      driver.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([driver.exited, new Promise<string>((r) => (timer = setTimeout(() => r('still running'), 15_000)))]);
      clearTimeout(timer);
      const tookMs = Date.now() - sent;
      expect(code).not.toBe('still running');
      // The grace period for the calls, at most the exit margin (2 s) for everything else, and slack for a loaded machine.
      expect(tookMs).toBeLessThan(graceSeconds * 1000 + 2_000 + 3_000);
      // Its own SIGKILL: a normal exit would wait for the stuck thread (libuv joins its pool at exit).
      expect(code).toBe('SIGKILL');
      expect(existsSync(driver.socket)).toBe(false);
      expect(driver.output()).toContain('calls still in flight after the grace period: cancelling them');
      expect(driver.output()).toContain('a filesystem step never returned and would hold a normal exit: exiting now with SIGKILL');
    } finally {
      c.close();
      await driver.stop();
      rmSync(device, { force: true });
    }
  });
});
