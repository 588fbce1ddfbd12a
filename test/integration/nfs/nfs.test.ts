import { status } from '@grpc/grpc-js';
import { waitUntil } from '../../helpers/eventually.js';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { call, codeOf, csiClients, type CsiClients } from '../../helpers/csi-client.js';
import { processAlive, startNfsHarness, type NamespacedDriver, type NfsHarness } from '../../helpers/nfs-harness.js';
import type { VolumeCapability } from '../../../src/gen/csi/v1/VolumeCapability.js';

/**
 * The NFS backend end to end: a controller and two node plugins, each in a mount namespace of its own (two "hosts"),
 * against the test NFS harness (tmpfs exports and a test mount.nfs; see test/helpers/nfs-harness.ts).
 */
const MAIN = { server: 'nfs.it.test', share: '/export' };
const OTHER = { server: 'other.it.test', share: '/data/k8s' };
const HUNG = { server: 'hung.it.test', share: '/export' };
const MOUNT_TIMEOUT_S = 3;

let harness: NfsHarness;
let controller: NamespacedDriver;
let nodeA: NamespacedDriver;
let nodeB: NamespacedDriver;
let cc: CsiClients;
let ca: CsiClients;
let cb: CsiClients;

function config(role: string): string {
  return [
    'backends:',
    '  - name: nfs',
    '    type: nfs',
    `    server: ${MAIN.server}`,
    `    share: ${MAIN.share}`,
    '    mountOptions: [nfsvers=4.1, hard]',
    `    workDir: ${path.join(harness.dir, `work-${role}`)}`,
    `    mountTimeoutSeconds: ${MOUNT_TIMEOUT_S}`,
    '    operationTimeoutSeconds: 5',
    'node:',
    `  stateDir: ${path.join(harness.dir, `state-${role}`)}`,
    '  kubeletRoots:',
    `    - ${harness.dir}`,
    '',
  ].join('\n');
}

const capability = (mode: NonNullable<VolumeCapability['access_mode']>['mode'] = 'MULTI_NODE_MULTI_WRITER', mountFlags: string[] = []): VolumeCapability => ({
  mount: { fs_type: '', mount_flags: mountFlags },
  access_mode: { mode },
});

const GiB = 1024 ** 3;

async function createVolume(name: string, parameters: Record<string, string> = {}, extra: { source?: { snapshot?: string; volume?: string }; bytes?: number } = {}): Promise<string> {
  const res = await call(cc.controller, 'CreateVolume', {
    name,
    capacity_range: { required_bytes: String(extra.bytes ?? GiB) },
    volume_capabilities: [capability()],
    parameters,
    ...(extra.source?.snapshot ? { volume_content_source: { snapshot: { snapshot_id: extra.source.snapshot } } } : {}),
    ...(extra.source?.volume ? { volume_content_source: { volume: { volume_id: extra.source.volume } } } : {}),
  });
  const id = res.volume?.volume_id;
  if (!id) throw new Error('CreateVolume answered no volume id');
  return id;
}

/** The volume's directory on the export, as the test process reaches it. */
function volumeDir(volumeId: string, spec = MAIN): string {
  const dir = volumeId.split('#')[1];
  if (!dir) throw new Error(`not an NFS volume id: ${volumeId}`);
  return harness.serverPath(spec, dir);
}

/** sha256 over every file's relative path, mode and content, in a stable order. */
function treeChecksum(root: string): string {
  const hash = createHash('sha256');
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(root, rel)).sort()) {
      const p = path.join(rel, name);
      const st = lstatSync(path.join(root, p));
      hash.update(`${p}\0${st.mode}\0`);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) hash.update(readFileSync(path.join(root, p)));
    }
  };
  walk('');
  return hash.digest('hex');
}

function fillTree(root: string): void {
  mkdirSync(path.join(root, 'sub/deeper'), { recursive: true });
  writeFileSync(path.join(root, 'a.bin'), randomBytes(256 * 1024));
  writeFileSync(path.join(root, 'sub/b.txt'), 'hello from the source volume\n', { mode: 0o640 });
  writeFileSync(path.join(root, 'sub/deeper/c.bin'), randomBytes(4096));
}

interface Staged {
  staging: string;
  target: string;
}

let pathCounter = 0;

async function stageAndPublish(clients: CsiClients, volumeId: string, opts: { readOnly?: boolean } = {}): Promise<Staged> {
  const base = path.join(harness.dir, `paths-${++pathCounter}`);
  mkdirSync(base, { recursive: true });
  const staging = path.join(base, 'staging');
  const target = path.join(base, 'target');
  await call(clients.node, 'NodeStageVolume', { volume_id: volumeId, staging_target_path: staging, volume_capability: capability() });
  await call(clients.node, 'NodePublishVolume', {
    volume_id: volumeId,
    staging_target_path: staging,
    target_path: target,
    volume_capability: capability(),
    readonly: opts.readOnly === true,
  });
  return { staging, target };
}

async function unpublishAndUnstage(clients: CsiClients, volumeId: string, paths: Staged): Promise<void> {
  await call(clients.node, 'NodeUnpublishVolume', { volume_id: volumeId, target_path: paths.target });
  await call(clients.node, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: paths.staging });
}

function mountsOf(driver: NamespacedDriver, under: string): string[] {
  return readFileSync(`/proc/${driver.pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4]?.startsWith(under));
}

/** Processes in a driver's mount namespace other than the driver itself (helpers it left running). */
function strays(driver: NamespacedDriver): number[] {
  const ns = readlinkSync(`/proc/${driver.pid}/ns/mnt`);
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== driver.pid)
    .filter((p) => {
      try {
        return readlinkSync(`/proc/${p}/ns/mnt`) === ns && processAlive(Number(p));
      } catch {
        return false;
      }
    })
    .map(Number);
}

beforeAll(async () => {
  harness = await startNfsHarness([MAIN, OTHER, HUNG]);
  harness.hang(HUNG.server);
  controller = await harness.startDriver(['--mode', 'controller'], config('controller'));
  nodeA = await harness.startDriver(['--mode', 'node', '--node-id', 'node-a'], config('node-a'));
  nodeB = await harness.startDriver(['--mode', 'node', '--node-id', 'node-b'], config('node-b'));
  cc = csiClients(controller.socket);
  ca = csiClients(nodeA.socket);
  cb = csiClients(nodeB.socket);
  // Node plugins register with the export when the kubelet first asks who they are.
  await call(ca.node, 'NodeGetInfo', {});
  await call(cb.node, 'NodeGetInfo', {});
}, 120_000);

afterAll(async () => {
  for (const c of [cc, ca, cb]) c?.close();
  await harness?.close();
  expect(existsSync(harness.dir)).toBe(false);
}, 120_000);

describe('NFS backend', () => {
  it('serves one volume to two nodes at once, each seeing the other’s writes', async () => {
    const volumeId = await createVolume('pvc-shared');
    expect(volumeId).toBe(`nfs:${MAIN.server}:${MAIN.share}#pvc-shared#delete`);
    for (const node of ['node-a', 'node-b']) {
      await call(cc.controller, 'ControllerPublishVolume', { volume_id: volumeId, node_id: node, volume_capability: capability(), readonly: false });
    }
    const listed = await call(cc.controller, 'ControllerGetVolume', { volume_id: volumeId });
    expect([...(listed.status?.published_node_ids ?? [])].sort()).toEqual(['node-a', 'node-b']);

    const onA = await stageAndPublish(ca, volumeId);
    const onB = await stageAndPublish(cb, volumeId);
    // Each host mounted the volume's directory itself, through `mount -t nfs` with the backend's options.
    expect(harness.helperLog().filter((l) => l.startsWith(`${MAIN.server}:${MAIN.share}/pvc-shared `))).toHaveLength(2);
    expect(harness.helperLog().some((l) => l.includes('nfsvers=4.1') && l.includes('hard'))).toBe(true);
    expect(mountsOf(nodeA, onA.staging)).toHaveLength(1);
    expect(mountsOf(nodeB, onB.staging)).toHaveLength(1);
    // Neither sees the other's mounts: two hosts.
    expect(mountsOf(nodeA, onB.staging)).toHaveLength(0);
    // Nothing in the node's state records: the stale-volume sweep (which judges records by their block device) has
    // nothing of an export to take away.
    const stateDir = path.join(harness.dir, 'state-node-a');
    expect(existsSync(stateDir) ? readdirSync(stateDir).filter((n) => n.endsWith('.json')) : []).toEqual([]);

    writeFileSync(path.join(nodeA.view(onA.target), 'from-a.txt'), 'written on node a\n');
    writeFileSync(path.join(nodeB.view(onB.target), 'from-b.txt'), 'written on node b\n');
    expect(readFileSync(path.join(nodeB.view(onB.target), 'from-a.txt'), 'utf8')).toBe('written on node a\n');
    expect(readFileSync(path.join(nodeA.view(onA.target), 'from-b.txt'), 'utf8')).toBe('written on node b\n');
    expect(readFileSync(path.join(volumeDir(volumeId), 'from-b.txt'), 'utf8')).toBe('written on node b\n');

    const stats = await call(ca.node, 'NodeGetVolumeStats', { volume_id: volumeId, volume_path: onA.target });
    expect(stats.volume_condition?.abnormal).toBe(false);
    expect(BigInt(stats.usage?.[0]?.total ?? '0')).toBeGreaterThan(0n);

    // A delete while published is refused; after unpublishing it goes.
    expect(await codeOf(call(cc.controller, 'DeleteVolume', { volume_id: volumeId }))).toBe(status.FAILED_PRECONDITION);
    await unpublishAndUnstage(ca, volumeId, onA);
    await unpublishAndUnstage(cb, volumeId, onB);
    expect(mountsOf(nodeA, onA.staging)).toHaveLength(0);
    expect(existsSync(onA.target)).toBe(false);
    for (const node of ['node-a', 'node-b']) await call(cc.controller, 'ControllerUnpublishVolume', { volume_id: volumeId, node_id: node });
    await call(cc.controller, 'DeleteVolume', { volume_id: volumeId });
  });

  it('keeps a single-node volume on one node and honours read-only publishes', async () => {
    const volumeId = await createVolume('pvc-rwo');
    await call(cc.controller, 'ControllerPublishVolume', { volume_id: volumeId, node_id: 'node-a', volume_capability: capability('SINGLE_NODE_WRITER'), readonly: false });
    expect(
      await codeOf(call(cc.controller, 'ControllerPublishVolume', { volume_id: volumeId, node_id: 'node-b', volume_capability: capability('SINGLE_NODE_WRITER'), readonly: false })),
    ).toBe(status.FAILED_PRECONDITION);
    expect(
      await codeOf(call(cc.controller, 'ControllerPublishVolume', { volume_id: volumeId, node_id: 'node-z', volume_capability: capability('SINGLE_NODE_WRITER'), readonly: false })),
    ).toBe(status.NOT_FOUND);
    await call(cc.controller, 'ControllerUnpublishVolume', { volume_id: volumeId, node_id: 'node-a' });

    const ro = await stageAndPublish(ca, volumeId, { readOnly: true });
    expect(() => writeFileSync(path.join(nodeA.view(ro.target), 'nope'), 'x')).toThrow(/EROFS|read-only/);
    // The staging mount itself stays writable; only the pod's bind is read-only.
    writeFileSync(path.join(nodeA.view(ro.staging), 'yes'), 'x');
    await unpublishAndUnstage(ca, volumeId, ro);
    await call(cc.controller, 'DeleteVolume', { volume_id: volumeId });
  });

  it('leaves the export as each onDelete policy promises', async () => {
    const retain = await createVolume('pvc-retain', { onDelete: 'retain' });
    const archive = await createVolume('pvc-archive', { onDelete: 'archive' });
    const del = await createVolume('pvc-delete', { onDelete: 'delete' });
    for (const id of [retain, archive, del]) writeFileSync(path.join(volumeDir(id), 'data.txt'), `data of ${id}\n`);
    expect(statSync(volumeDir(retain)).mode & 0o777).toBe(0o777);

    for (const id of [retain, archive, del]) await call(cc.controller, 'DeleteVolume', { volume_id: id });
    // Retain: the directory and its data stay; the volume is gone for the CO.
    expect(readFileSync(path.join(volumeDir(retain), 'data.txt'), 'utf8')).toBe(`data of ${retain}\n`);
    expect(await codeOf(call(cc.controller, 'ControllerGetVolume', { volume_id: retain }))).toBe(status.NOT_FOUND);
    // Archive: renamed beside itself, data intact.
    expect(existsSync(volumeDir(archive))).toBe(false);
    const archived = readdirSync(harness.serverPath(MAIN)).filter((n) => n.startsWith('archived-pvc-archive-'));
    expect(archived).toHaveLength(1);
    expect(readFileSync(harness.serverPath(MAIN, `${archived[0]}/data.txt`), 'utf8')).toBe(`data of ${archive}\n`);
    // Delete: gone, nothing left in Ferry's trash or scratch space.
    expect(existsSync(volumeDir(del))).toBe(false);
    expect(readdirSync(harness.serverPath(MAIN, '.ferry/trash'))).toEqual([]);
    expect(readdirSync(harness.serverPath(MAIN, '.ferry/tmp'))).toEqual([]);

    const listed = await call(cc.controller, 'ListVolumes', {});
    expect(listed.entries?.map((e) => e.volume?.volume_id)).not.toEqual(expect.arrayContaining([retain]));
    // A retained directory is taken over by the next volume of the same directory, as in csi-driver-nfs.
    const again = await createVolume('pvc-retain', { onDelete: 'retain' });
    expect(again).toBe(retain);
    expect(readFileSync(path.join(volumeDir(again), 'data.txt'), 'utf8')).toBe(`data of ${retain}\n`);
    await call(cc.controller, 'DeleteVolume', { volume_id: again });
    // Deleting again is fine and touches nothing.
    await call(cc.controller, 'DeleteVolume', { volume_id: again });
    expect(existsSync(volumeDir(retain))).toBe(true);
  });

  it('restores a snapshot, and clones a volume, with the same checksum', async () => {
    const source = await createVolume('pvc-source', {}, { bytes: 2 * GiB });
    fillTree(volumeDir(source));
    const before = treeChecksum(volumeDir(source));

    const snap = await call(cc.controller, 'CreateSnapshot', { name: 'snap-1', source_volume_id: source });
    const snapshotId = snap.snapshot?.snapshot_id ?? '';
    expect(snap.snapshot?.ready_to_use).toBe(true);
    expect(snap.snapshot?.size_bytes).toBe(String(2 * GiB));
    // The archive is kept on the export.
    const key = snapshotId.split('#')[1] ?? '';
    expect(existsSync(harness.serverPath(MAIN, `.ferry/snapshots/${key}.tar.gz`))).toBe(true);

    // Changes after the snapshot are not in it.
    writeFileSync(path.join(volumeDir(source), 'later.txt'), 'after the snapshot\n');
    const restored = await createVolume('pvc-restored', {}, { source: { snapshot: snapshotId }, bytes: GiB });
    expect(treeChecksum(volumeDir(restored))).toBe(before);
    const restoredInfo = await call(cc.controller, 'ControllerGetVolume', { volume_id: restored });
    // Never smaller than the snapshot's source.
    expect(restoredInfo.volume?.capacity_bytes).toBe(String(2 * GiB));
    expect(restoredInfo.volume?.content_source?.snapshot?.snapshot_id).toBe(snapshotId);

    // Into another export, named by the StorageClass.
    const elsewhere = await createVolume('pvc-restored-elsewhere', { server: OTHER.server, share: OTHER.share }, { source: { snapshot: snapshotId }, bytes: 2 * GiB });
    expect(elsewhere).toBe(`nfs:${OTHER.server}:${OTHER.share}#pvc-restored-elsewhere#delete`);
    expect(treeChecksum(volumeDir(elsewhere, OTHER))).toBe(before);

    const clone = await createVolume('pvc-clone', {}, { source: { volume: source }, bytes: 2 * GiB });
    expect(treeChecksum(volumeDir(clone))).toBe(treeChecksum(volumeDir(source)));

    // A second snapshot name with another source is a conflict; the same request again is not.
    expect(await codeOf(call(cc.controller, 'CreateSnapshot', { name: 'snap-1', source_volume_id: clone }))).toBe(status.ALREADY_EXISTS);
    expect((await call(cc.controller, 'CreateSnapshot', { name: 'snap-1', source_volume_id: source })).snapshot?.snapshot_id).toBe(snapshotId);
    const listed = await call(cc.controller, 'ListSnapshots', { source_volume_id: source });
    expect(listed.entries?.map((e) => e.snapshot?.snapshot_id)).toEqual([snapshotId]);

    // A restore that fails (the archive was damaged on the server) leaves nothing behind: no directory, no record.
    const damaged = await call(cc.controller, 'CreateSnapshot', { name: 'snap-damaged', source_volume_id: source });
    const damagedKey = damaged.snapshot?.snapshot_id?.split('#')[1] ?? '';
    writeFileSync(harness.serverPath(MAIN, `.ferry/snapshots/${damagedKey}.tar.gz`), randomBytes(4096));
    expect(await codeOf(createVolume('pvc-from-damaged', { subDir: 'restores/${pv.metadata.name}', 'csi.storage.k8s.io/pv/name': 'pvc-from-damaged' }, { source: { snapshot: damaged.snapshot?.snapshot_id ?? '' } }))).toBe(
      status.INTERNAL,
    );
    expect(existsSync(harness.serverPath(MAIN, 'restores'))).toBe(false);
    expect(readdirSync(harness.serverPath(MAIN, '.ferry/tmp'))).toEqual([]);
    // source, restored and clone; the one elsewhere is on the other export.
    expect(readdirSync(harness.serverPath(MAIN, '.ferry/volumes')).length).toBe(3);
    await call(cc.controller, 'DeleteSnapshot', { snapshot_id: damaged.snapshot?.snapshot_id ?? '' });

    await call(cc.controller, 'DeleteSnapshot', { snapshot_id: snapshotId });
    expect(existsSync(harness.serverPath(MAIN, `.ferry/snapshots/${key}.tar.gz`))).toBe(false);
    for (const id of [source, restored, clone, elsewhere]) await call(cc.controller, 'DeleteVolume', { volume_id: id });
    expect(readdirSync(harness.serverPath(MAIN, '.ferry/tmp'))).toEqual([]);
  });

  it('lets a retry wait for a copy that outlived its call, instead of starting over', async () => {
    const source = await createVolume('pvc-big');
    writeFileSync(path.join(volumeDir(source), 'big.bin'), Buffer.alloc(1280 * 1024 * 1024, 7));
    const logFrom = controller.output().length;
    const request = {
      name: 'pvc-big-clone',
      capacity_range: { required_bytes: String(GiB) },
      volume_capabilities: [capability()],
      parameters: {},
      volume_content_source: { volume: { volume_id: source } },
    };
    // The first call ends while its copy runs: cancelled once the copy has started (a fixed short deadline could end
    // before `cp` even starts on a loaded machine, and then there is nothing for the retry to wait for).
    const first = new Promise<number>((resolve) => {
      const pending = cc.controller.CreateVolume(request, { deadline: new Date(Date.now() + 60_000) }, (err) => resolve(err?.code ?? status.OK));
      void waitUntil(() => copyRunning(`${path.sep}pvc-big${path.sep}.`), 'the copy to start', 30_000).finally(() => pending.cancel());
    });
    expect(await first).toBe(status.CANCELLED);
    const clone = (await call(cc.controller, 'CreateVolume', request, 60_000)).volume?.volume_id ?? '';
    expect(statSync(path.join(volumeDir(clone), 'big.bin')).size).toBe(1280 * 1024 * 1024);
    const log = controller.output().slice(logFrom);
    expect(log.match(/"command":"cp /g)).toHaveLength(1);
    expect(log.match(/"msg":"volume created"/g)).toHaveLength(1);
    expect(log).toContain('waiting for the same work, already running');
    for (const id of [clone, source]) await call(cc.controller, 'DeleteVolume', { volume_id: id });
  });

  it('places volumes by the subDir template and refuses unknown parameters', async () => {
    const id = await createVolume('pvc-0f3a', {
      subDir: 'team-a/${pvc.metadata.namespace}/${pvc.metadata.name}',
      'csi.storage.k8s.io/pvc/name': 'data-db-0',
      'csi.storage.k8s.io/pvc/namespace': 'prod',
      'csi.storage.k8s.io/pv/name': 'pvc-0f3a',
    });
    expect(id).toBe(`nfs:${MAIN.server}:${MAIN.share}#team-a/prod/data-db-0#delete`);
    expect(statSync(harness.serverPath(MAIN, 'team-a/prod/data-db-0')).isDirectory()).toBe(true);
    await call(cc.controller, 'DeleteVolume', { volume_id: id });
    // Emptied parents go with a deleted volume.
    expect(existsSync(harness.serverPath(MAIN, 'team-a'))).toBe(false);

    expect(await codeOf(createVolume('pvc-x', { subDir: '${pvc.metadata.name}' }))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(createVolume('pvc-x', { subDir: '${pvc.metadata.uid}' }))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(createVolume('pvc-x', { subDir: '../escape' }))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(createVolume('pvc-x', { nfsvers: '3' }))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(createVolume('pvc-x', { onDelete: 'shred' }))).toBe(status.INVALID_ARGUMENT);
    expect(await codeOf(createVolume('pvc-x', { mountPermissions: '999' }))).toBe(status.INVALID_ARGUMENT);
    // A directory whose id would pass the 1 KiB id limit: no later call could name the volume, so it is never made.
    // Four parts of 250 bytes: a valid directory (at most 1024 bytes, parts of 255), an id of 1030 bytes.
    const longName = `pvc-x-${'n'.repeat(244)}`;
    const longDir = '${pvc.metadata.name}/'.repeat(4).slice(0, -1);
    expect(await codeOf(createVolume('pvc-x-long', { subDir: longDir, 'csi.storage.k8s.io/pvc/name': longName, 'csi.storage.k8s.io/pvc/namespace': 'prod' }))).toBe(
      status.INVALID_ARGUMENT,
    );
    expect(readdirSync(harness.serverPath(MAIN)).filter((n) => n.startsWith('pvc-x'))).toEqual([]);
  });

  it('records an expansion (an export has no quota) and reports the export’s capacity', async () => {
    const id = await createVolume('pvc-grow');
    const grown = await call(cc.controller, 'ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: String(5 * GiB) }, volume_capability: capability() });
    expect(grown.capacity_bytes).toBe(String(5 * GiB));
    expect((await call(cc.controller, 'ControllerGetVolume', { volume_id: id })).volume?.capacity_bytes).toBe(String(5 * GiB));
    const capacity = await call(cc.controller, 'GetCapacity', { volume_capabilities: [capability()], parameters: {} });
    // The harness's export is a 4 GiB tmpfs.
    expect(BigInt(capacity.available_capacity ?? '0')).toBeGreaterThan(0n);
    expect(BigInt(capacity.available_capacity ?? '0')).toBeLessThanOrEqual(4n * BigInt(GiB));
    // An export reachable from everywhere has no segment of its own: it answers for any segment the provisioner asks.
    const inSegment = await call(cc.controller, 'GetCapacity', {
      volume_capabilities: [capability()],
      parameters: {},
      accessible_topology: { segments: { 'ferry.csi.io/powerflex-0123456789abcdef': 'true' } },
    });
    expect(BigInt(inSegment.available_capacity ?? '0')).toBeGreaterThan(0n);
    await call(cc.controller, 'DeleteVolume', { volume_id: id });
  });

  it('detects a stale mount (its directory removed on the server) and unmounts it lazily', async () => {
    const volumeId = await createVolume('pvc-stale');
    const paths = await stageAndPublish(ca, volumeId);
    rmSync(volumeDir(volumeId), { recursive: true, force: true });

    const stats = await call(ca.node, 'NodeGetVolumeStats', { volume_id: volumeId, volume_path: paths.target });
    expect(stats.volume_condition?.abnormal).toBe(true);
    expect(stats.volume_condition?.message).toContain('removed on the server');

    await unpublishAndUnstage(ca, volumeId, paths);
    expect(mountsOf(nodeA, path.dirname(paths.staging))).toEqual([]);
    expect(existsSync(paths.target)).toBe(false);
    await waitUntil(() => nodeA.output().includes('stale share mount'), 'the stale-mount log line');
    await call(cc.controller, 'DeleteVolume', { volume_id: volumeId });
  });

  it('fails a mount to a server that hangs within its timeout, and leaves no process behind', async () => {
    const hungVolume = `nfs:${HUNG.server}:${HUNG.share}#pvc-hung#delete`;
    const staging = path.join(harness.dir, 'hung-staging');

    let started = Date.now();
    const stage = call(ca.node, 'NodeStageVolume', { volume_id: hungVolume, staging_target_path: staging, volume_capability: capability() }, 60_000);
    expect(await codeOf(stage)).toBe(status.UNAVAILABLE);
    expect(Date.now() - started).toBeLessThan(MOUNT_TIMEOUT_S * 1000 + 3_000);
    expect(mountsOf(nodeA, staging)).toEqual([]);

    // The controller mounts a StorageClass's export under the same bound.
    started = Date.now();
    expect(await codeOf(createVolume('pvc-on-hung', { server: HUNG.server, share: HUNG.share }))).toBe(status.UNAVAILABLE);
    expect(Date.now() - started).toBeLessThan(MOUNT_TIMEOUT_S * 1000 + 3_000);

    const pids = harness.hungPids();
    expect(pids.length).toBeGreaterThanOrEqual(2);
    // Each hung helper (and the mount that ran it) was killed with its process group.
    await new Promise((r) => setTimeout(r, 200));
    expect(pids.filter(processAlive)).toEqual([]);
    expect(strays(nodeA)).toEqual([]);
    expect(strays(controller)).toEqual([]);

    // The node and the controller still answer.
    expect((await call(ca.identity, 'Probe', {})).ready?.value).toBe(true);
    expect((await call(cc.controller, 'ListVolumes', {})).entries).toBeDefined();
  });
});

describe('two controllers at once', () => {
  it('make one volume for one name, and neither removes what the other made', async () => {
    const second = await harness.startDriver(['--mode', 'controller'], config('controller-race'));
    const c2 = csiClients(second.socket);
    try {
      for (let round = 0; round < 3; round++) {
        const request = { name: `raced-${round}`, capacity_range: { required_bytes: GiB }, volume_capabilities: [capability()], parameters: {} };
        const answers = await Promise.allSettled([call(cc.controller, 'CreateVolume', request), call(c2.controller, 'CreateVolume', request)]);
        const ids = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value.volume?.volume_id] : []));
        expect(ids.length).toBeGreaterThanOrEqual(1);
        expect(new Set(ids).size).toBe(1);
        // The volume is whole: its record and directory are there, so either controller can publish it.
        const id = ids[0] ?? '';
        await call(c2.controller, 'ControllerPublishVolume', { volume_id: id, node_id: 'node-a', volume_capability: capability(), readonly: false });
        await call(cc.controller, 'ControllerUnpublishVolume', { volume_id: id, node_id: 'node-a' });
        await call(cc.controller, 'DeleteVolume', { volume_id: id });
      }
    } finally {
      c2.close();
      await second.stop();
    }
  });
});

describe('the controller’s own mount of the export', () => {
  it('is made in its working directory on first use and taken off when the driver stops', async () => {
    const workDir = path.join(harness.dir, 'work-controller-2');
    const second = await harness.startDriver(['--mode', 'controller'], config('controller-2'));
    const c = csiClients(second.socket);
    try {
      expect(mountsOf(second, workDir)).toEqual([]);
      expect((await call(c.controller, 'ListVolumes', {})).entries).toBeDefined();
      const mounted = mountsOf(second, workDir);
      expect(mounted).toHaveLength(1);
      expect(mounted[0]).toContain(`${MAIN.server}:${MAIN.share}`);
      expect((await call(c.identity, 'Probe', {})).ready?.value).toBe(true);
    } finally {
      c.close();
    }
    const output = second.output();
    expect(await second.stop()).toBe(0);
    await waitUntil(() => second.output().includes('unmounting share'), 'the unmount log line');
    expect(output).not.toContain('"level":50');
  });
});

/** Whether a `cp` of `sourceSuffix` runs now (the exec wrapper logs a command when it ends, not when it starts). */
function copyRunning(sourceSuffix: string): boolean {
  for (const pid of readdirSync('/proc').filter((entry) => /^[0-9]+$/.test(entry))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (path.basename(argv[0] ?? '') === 'cp' && argv.some((a) => a.endsWith(sourceSuffix))) return true;
  }
  return false;
}
