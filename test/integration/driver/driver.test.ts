import { status } from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { call, callByName, codeOf, csiClients } from '../../helpers/csi-client.js';
import { runCli, startDriver, type DriverProcess } from '../../helpers/driver-process.js';
import { VERSION } from '../../../src/version.js';
import { loadCsi } from '../../../src/grpc/csi-package.js';


const tmp = mkdtempSync(path.join(os.tmpdir(), 'ferry-driver-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('ferry driver --mode all', () => {
  let driver: DriverProcess;
  beforeAll(async () => {
    driver = await startDriver(['--mode', 'all', '--node-id', 'node01']);
  });
  afterAll(async () => {
    expect(await driver.stop()).toBe(0);
  });

  it('answers Identity over its Unix socket', async () => {
    const c = csiClients(driver.socket);
    try {
      const info = await call(c.identity, 'GetPluginInfo', {});
      expect(info).toMatchObject({ name: 'ferry.csi.io', vendor_version: VERSION });
      const caps = await call(c.identity, 'GetPluginCapabilities', {});
      expect(caps.capabilities).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ service: { type: 'CONTROLLER_SERVICE' } }),
          expect.objectContaining({ service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } }),
          expect.objectContaining({ volume_expansion: { type: 'ONLINE' } }),
        ]),
      );
      const probe = await call(c.identity, 'Probe', {});
      expect(probe.ready?.value).toBe(true);
    } finally {
      c.close();
    }
  });

  it('creates its socket with mode 0660', () => {
    expect(statSync(driver.socket).mode & 0o777).toBe(0o660);
  });

  it('registers every Controller and Node RPC of CSI v1.12; those not offered answer UNIMPLEMENTED', async () => {
    const { grpc } = loadCsi();
    const c = csiClients(driver.socket);
    try {
      const offered = new Set(['ControllerGetCapabilities', 'NodeGetCapabilities', 'NodeGetInfo']);
      for (const [service, client] of [
        [grpc.csi.v1.Controller.service, c.controller],
        [grpc.csi.v1.Node.service, c.node],
      ] as const) {
        for (const method of Object.keys(service)) {
          if (offered.has(method)) continue;
          const code = await codeOf(callByName(client, method, {}));
          expect({ method, code }).toEqual({ method, code: status.UNIMPLEMENTED });
        }
      }
      const info = await call(c.node, 'NodeGetInfo', {});
      expect(info.node_id).toBe('node01');
      // No backend takes group snapshots: the GroupController service is neither advertised nor served.
      const plugin = await call(c.identity, 'GetPluginCapabilities', {});
      expect(plugin.capabilities.some((cap) => cap.service?.type === 'GROUP_CONTROLLER_SERVICE')).toBe(false);
      for (const method of Object.keys(grpc.csi.v1.GroupController.service)) {
        expect({ method, code: await codeOf(callByName(c.groupController, method, {})) }).toEqual({ method, code: status.UNIMPLEMENTED });
      }
    } finally {
      c.close();
    }
    // The wrapper logged who answered what; an unoffered method is not an error worth a warning.
    await driver.waitForOutput('"method":"CreateVolume"');
  });
});

describe('ferry driver modes and flags', () => {
  it('serves no Node service in controller mode and no Controller service in node mode', async () => {
    const controller = await startDriver(['--mode', 'controller']);
    const node = await startDriver(['--mode', 'node', '--node-id', 'n1']);
    const cc = csiClients(controller.socket);
    const nc = csiClients(node.socket);
    try {
      expect(await codeOf(call(cc.node, 'NodeGetInfo', {}))).toBe(status.UNIMPLEMENTED);
      const ccaps = await call(cc.identity, 'GetPluginCapabilities', {});
      expect(ccaps.capabilities.some((cap) => cap.service?.type === 'CONTROLLER_SERVICE')).toBe(true);
      expect(await codeOf(call(nc.controller, 'ControllerGetCapabilities', {}))).toBe(status.UNIMPLEMENTED);
      const ncaps = await call(nc.identity, 'GetPluginCapabilities', {});
      expect(ncaps.capabilities.some((cap) => cap.service?.type === 'CONTROLLER_SERVICE')).toBe(false);
    } finally {
      cc.close();
      nc.close();
      await controller.stop();
      await node.stop();
    }
  });

  it('an NFS backend takes no group snapshots: no GROUP_CONTROLLER_SERVICE, and its calls answer UNIMPLEMENTED', async () => {
    const config = path.join(tmp, 'nfs-only.yaml');
    writeFileSync(config, 'backends:\n  - name: nfs\n    type: nfs\n    server: nfs.invalid\n    share: /exports\n');
    const controller = await startDriver(['--mode', 'controller', '--config', config]);
    const c = csiClients(controller.socket);
    try {
      const plugin = await call(c.identity, 'GetPluginCapabilities', {});
      expect(plugin.capabilities.map((cap) => cap.service?.type).filter((t) => t !== undefined).sort()).toEqual(['CONTROLLER_SERVICE', 'VOLUME_ACCESSIBILITY_CONSTRAINTS']);
      expect(await codeOf(call(c.groupController, 'GroupControllerGetCapabilities', {}))).toBe(status.UNIMPLEMENTED);
      expect(await codeOf(call(c.groupController, 'CreateVolumeGroupSnapshot', { name: 'g', source_volume_ids: ['nfs:x'] }))).toBe(status.UNIMPLEMENTED);
    } finally {
      c.close();
      await controller.stop();
    }
  });

  it('takes flags from FERRY_<FLAG> environment variables', async () => {
    const driver = await startDriver([], { FERRY_DRIVER_NAME: 'block.example.com', FERRY_MODE: 'node', FERRY_NODE_ID: 'from-env' });
    const c = csiClients(driver.socket);
    try {
      expect((await call(c.identity, 'GetPluginInfo', {})).name).toBe('block.example.com');
      expect((await call(c.node, 'NodeGetInfo', {})).node_id).toBe('from-env');
    } finally {
      c.close();
      await driver.stop();
    }
  });

  it('removes a stale socket file left by a killed driver', async () => {
    const stale = path.join(tmp, 'stale.sock');
    // A process that binds the socket and is killed leaves the file behind, as a crashed driver would.
    const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    expect(existsSync(stale)).toBe(true);
    const driver = await startDriver(['--endpoint', `unix://${stale}`]);
    const c = csiClients(stale);
    try {
      expect((await call(c.identity, 'Probe', {})).ready?.value).toBe(true);
    } finally {
      c.close();
      await driver.stop();
    }
    expect(existsSync(stale)).toBe(false);
  });

  it('refuses to replace a file that is not a socket', async () => {
    const notSocket = path.join(tmp, 'precious.txt');
    writeFileSync(notSocket, 'data');
    const result = await runCli(['driver', '--endpoint', notSocket]);
    expect(result.code).toBe(1);
    expect(result.output).toContain('is not a socket');
    expect(existsSync(notSocket)).toBe(true);
  });
});

describe('start-up validation', () => {
  it('exits 2 naming the file and the misspelt key', async () => {
    const file = path.join(tmp, 'misspelt.yaml');
    writeFileSync(
      file,
      ['backends:', '  - name: pool', '    type: powerflex', '    endpoint: https://127.0.0.1:8443', '    username: admin', '    password: x', '    storagePol: pool1', ''].join('\n'),
    );
    const result = await runCli(['driver', '--endpoint', path.join(tmp, 'x.sock'), '--config', file]);
    expect(result.code).toBe(2);
    expect(result.output).toContain(file);
    expect(result.output).toContain('key backends[0].storagePol: unknown key');
    expect(result.output).not.toContain('password: x');
  });

  it('exits 2 on a wrong type and on a missing file', async () => {
    const file = path.join(tmp, 'wrong-type.yaml');
    writeFileSync(file, 'backends: {}\n');
    const wrong = await runCli(['driver', '--config', file]);
    expect(wrong.code).toBe(2);
    expect(wrong.output).toMatch(/key backends: .*array/);
    const missing = await runCli(['driver', '--config', path.join(tmp, 'absent.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.output).toContain('absent.yaml');
  });

  it('exits 2 on a bad flag value', async () => {
    expect((await runCli(['driver', '--mode', 'sideways'])).code).toBe(2);
    expect((await runCli(['driver', '--endpoint', 'relative.sock'])).code).toBe(2);
    expect((await runCli(['driver', '--log-level', 'loud'])).code).toBe(2);
    expect((await runCli(['driver', '--failover', 'maybe'])).code).toBe(2);
    expect((await runCli(['driver', '--kubernetes', 'sometimes'])).code).toBe(2);
    expect((await runCli(['driver', '--heartbeat-interval-seconds', '5', '--heartbeat-duration-seconds', '5'])).code).toBe(2);
    const noApi = await runCli(['driver', '--failover', 'on', '--kubernetes', 'off']);
    expect(noApi.code).toBe(2);
    expect(noApi.output).toContain('--failover on needs the Kubernetes API');
    expect((await runCli(['--version'])).output.trim()).toBe(VERSION);
  });
});

describe('metrics', () => {
  it('serves per-RPC counters, durations and process metrics', async () => {
    const driver = await startDriver(['--metrics-address', '127.0.0.1:0']);
    const c = csiClients(driver.socket);
    try {
      for (let i = 0; i < 3; i++) await call(c.identity, 'GetPluginInfo', {});
      await codeOf(call(c.controller, 'CreateVolume', { name: 'x' }));
      const line = driver.output().split('\n').find((l) => l.includes('"serving metrics"'));
      const port = (JSON.parse(line ?? '{}') as { port?: number }).port;
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(body).toContain('ferry_csi_requests_total{method="GetPluginInfo",code="OK"} 3');
      expect(body).toContain('ferry_csi_requests_total{method="CreateVolume",code="UNIMPLEMENTED"} 1');
      expect(body).toMatch(/ferry_csi_request_duration_seconds_count\{method="GetPluginInfo"\} 3/);
      expect(body).toContain('ferry_process_resident_memory_bytes');
      expect(body).toContain('ferry_inflight_lock_wait_seconds');
      expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    } finally {
      c.close();
      await driver.stop();
    }
  });
});
