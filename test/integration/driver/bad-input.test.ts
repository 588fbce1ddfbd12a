import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { call } from '../../helpers/csi-client.js';
import { BLOCK, HostileRig, MOUNT, NODE_GUID, type Answer } from '../../helpers/hostile-rig.js';
import { tallyLine, type Outcome } from '../../helpers/bad-input-tally.js';

/**
 * Issue 14's bad-input table: every RPC (Identity, Controller, Node) of a real `ferry driver --mode all` on a real
 * `ferry pool`, against what a hostile or buggy caller sends. Classes: missing and empty fields; wrong ids (made up,
 * another system's, another volume's); hostile paths (symlinks, `..`, /proc, /sys, /, a foreign tmpfs, a staging path
 * as a target, a component over NAME_MAX, a path over PATH_MAX); bad capabilities and mount flags; bad parameters and
 * volume context; oversized values; undecodable request bytes; and raw HTTP to the pool. Each case asserts the exact
 * code and that nothing changed: mounts under the test root, loop devices, the pool's volumes and mappings, and every
 * file under the test root (the node's state records by content). The summary line counts tried / as expected /
 * wrong code / accepted (an error was due but the call succeeded, or something changed).
 */
let rig: HostileRig;

type Service = 'identity' | 'controller' | 'node';
interface Case {
  name: string;
  service: Service | 'raw' | 'http';
  rpc: string;
  request: () => object;
  code: number;
  /** Text the message must contain (the field or flag named). */
  names?: string;
  /** raw: the request bytes; http: the body. */
  bytes?: () => Buffer | string;
  method?: string;
  auth?: 'admin' | 'none';
}

const mount = (flags: string[], fsType = 'ext4'): object => ({ mount: { fs_type: fsType, mount_flags: flags }, access_mode: { mode: 'SINGLE_NODE_WRITER' } });
const GiB = 1n << 30n;
const NAME_MAX_PLUS = 'n'.repeat(300);
const HUGE_COMPONENT = 'c'.repeat(5000);

/** Mount flags no node may run: a bind or remount of something else, propagation changes, unknown options, smuggled lists. */
const BAD_FLAGS = [
  'bind',
  'rbind',
  'remount',
  'move',
  'make-shared',
  'unknownopt',
  'noatime,bind',
  'x-mount.mkdir',
  'errors=panic',
  'data=journal;id',
  '../../etc',
  'loop',
  'offset=4096',
  'context=system_u:object_r:etc_t:s0',
];

const node = (name: string, rpc: string, request: () => object, code: number, names?: string): Case => ({ name: `${rpc}: ${name}`, service: 'node', rpc, request, code, ...(names ? { names } : {}) });
const ctrl = (name: string, rpc: string, request: () => object, code: number, names?: string): Case => ({ name: `${rpc}: ${name}`, service: 'controller', rpc, request, code, ...(names ? { names } : {}) });

function createVolume(name: string, extra: () => object = () => ({})): () => object {
  return () => ({ name, capacity_range: { required_bytes: String(GiB) }, volume_capabilities: [MOUNT], ...extra() });
}

const stage = (over: () => object) => () => ({ volume_id: rig.v.id, staging_target_path: rig.v.staging, volume_capability: MOUNT, ...over() });
const publish = (over: () => object) => () => ({ volume_id: rig.v.id, staging_target_path: rig.v.staging, target_path: rig.path('pods', 'new-pod', 'volumes', 'v'), volume_capability: MOUNT, ...over() });

/** Hostile places for a node path; `what` names it in the case. */
const HOSTILE_PATHS: { what: string; path: () => string; oversized?: true }[] = [
  { what: 'a symlink to /etc', path: () => rig.path('pods', 'link-to-etc') },
  { what: 'a path through a symlinked directory', path: () => rig.path('pods', 'link-dir', 'etc', 'x') },
  // Spelt by hand: path.join would normalise the `..` away.
  { what: '`..` leaving the root', path: () => `${rig.kubeletRoot}/pods/../../outside/etc` },
  { what: '`..` inside the root', path: () => `${rig.kubeletRoot}/pods/a/../b` },
  { what: 'a `.` component', path: () => `${rig.kubeletRoot}/pods/./b` },
  { what: 'outside the kubelet root', path: () => `${rig.tmp}/outside/etc/new` },
  { what: '/proc', path: () => '/proc/self/cwd/x' },
  { what: '/sys', path: () => '/sys/kernel/ferry' },
  { what: '/', path: () => '/' },
  { what: 'a component over NAME_MAX', path: () => rig.path('pods', NAME_MAX_PLUS, 'v') },
  // Over CSI's size limit for a path: refused unread, INVALID_ARGUMENT for every field.
  { what: 'a 5000-character component', path: () => rig.path('pods', HUGE_COMPONENT), oversized: true },
  { what: 'a relative path', path: () => 'pods/x' },
  { what: 'a newline', path: () => rig.path('pods', 'a\nb') },
];

const CASES: Case[] = [
  // ---- Identity: nothing to get wrong but the bytes.
  { name: 'Probe: undecodable bytes', service: 'raw', rpc: 'Identity/Probe', request: () => ({}), bytes: () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), code: status.INVALID_ARGUMENT },
  { name: 'GetPluginInfo: truncated field', service: 'raw', rpc: 'Identity/GetPluginInfo', request: () => ({}), bytes: () => Buffer.from([0x0a, 0x10, 0x61]), code: status.INVALID_ARGUMENT },
  { name: 'GetPluginCapabilities: wrong wire type', service: 'raw', rpc: 'Identity/GetPluginCapabilities', request: () => ({}), bytes: () => Buffer.from([0x0f, 0x01]), code: status.INVALID_ARGUMENT },
  { name: 'CreateVolume: undecodable bytes', service: 'raw', rpc: 'Controller/CreateVolume', request: () => ({}), bytes: () => Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x61]), code: status.INVALID_ARGUMENT },
  { name: 'NodeStageVolume: undecodable bytes', service: 'raw', rpc: 'Node/NodeStageVolume', request: () => ({}), bytes: () => Buffer.from([0x1a, 0x05, 0x0a, 0x03]), code: status.INVALID_ARGUMENT },
  { name: 'NodeUnpublishVolume: undecodable bytes', service: 'raw', rpc: 'Node/NodeUnpublishVolume', request: () => ({}), bytes: () => Buffer.from([0x12, 0x80]), code: status.INVALID_ARGUMENT },

  // ---- Controller: missing and empty fields.
  ctrl('no name', 'CreateVolume', createVolume(''), status.INVALID_ARGUMENT, 'name'),
  ctrl('no capabilities', 'CreateVolume', createVolume('pvc-nocap', () => ({ volume_capabilities: [] })), status.INVALID_ARGUMENT, 'volume_capabilities'),
  ctrl('capability without access type', 'CreateVolume', createVolume('pvc-noat', () => ({ volume_capabilities: [{ access_mode: { mode: 'SINGLE_NODE_WRITER' } }] })), status.INVALID_ARGUMENT, 'access type'),
  ctrl('capability without access mode', 'CreateVolume', createVolume('pvc-noam', () => ({ volume_capabilities: [{ mount: {} }] })), status.INVALID_ARGUMENT, 'access_mode'),
  ctrl('no volume_id', 'DeleteVolume', () => ({}), status.INVALID_ARGUMENT, 'volume_id'),
  ctrl('no volume_id', 'ControllerPublishVolume', () => ({ node_id: NODE_GUID, volume_capability: MOUNT }), status.INVALID_ARGUMENT, 'volume_id'),
  ctrl('no node_id', 'ControllerPublishVolume', () => ({ volume_id: rig.idle, volume_capability: MOUNT }), status.INVALID_ARGUMENT, 'node_id'),
  ctrl('no capability', 'ControllerPublishVolume', () => ({ volume_id: rig.idle, node_id: NODE_GUID }), status.INVALID_ARGUMENT, 'volume_capability'),
  ctrl('no volume_id', 'ControllerUnpublishVolume', () => ({ node_id: NODE_GUID }), status.INVALID_ARGUMENT, 'volume_id'),
  ctrl('no volume_id', 'ValidateVolumeCapabilities', () => ({ volume_capabilities: [MOUNT] }), status.INVALID_ARGUMENT, 'volume_id'),
  ctrl('no capabilities', 'ValidateVolumeCapabilities', () => ({ volume_id: rig.v.id }), status.INVALID_ARGUMENT, 'volume_capabilities'),
  ctrl('no volume_id', 'ControllerGetVolume', () => ({}), status.INVALID_ARGUMENT, 'volume_id'),
  ctrl('no volume_id', 'ControllerExpandVolume', () => ({ capacity_range: { required_bytes: String(2n * GiB) } }), status.INVALID_ARGUMENT, 'volume_id'),
  ctrl('no capacity_range', 'ControllerExpandVolume', () => ({ volume_id: rig.idle }), status.INVALID_ARGUMENT, 'capacity_range'),
  ctrl('no name', 'CreateSnapshot', () => ({ source_volume_id: rig.v.id }), status.INVALID_ARGUMENT, 'name'),
  ctrl('no source', 'CreateSnapshot', () => ({ name: 'snap-nosrc' }), status.INVALID_ARGUMENT, 'source_volume_id'),
  ctrl('no snapshot_id', 'DeleteSnapshot', () => ({}), status.INVALID_ARGUMENT, 'snapshot_id'),
  ctrl('key not mutable', 'ControllerModifyVolume', () => ({ volume_id: rig.v.id, mutable_parameters: { iops: '1' } }), status.INVALID_ARGUMENT, 'iops'),
  ctrl('immutable StorageClass key', 'ControllerModifyVolume', () => ({ volume_id: rig.v.id, mutable_parameters: { storagePool: 'pool2' } }), status.INVALID_ARGUMENT, 'storagePool'),
  ctrl('iopsLimit "1; reboot"', 'ControllerModifyVolume', () => ({ volume_id: rig.v.id, mutable_parameters: { iopsLimit: '1; reboot' } }), status.INVALID_ARGUMENT, 'iopsLimit'),
  // ---- Controller: wrong ids.
  ctrl('made-up id', 'ControllerGetVolume', () => ({ volume_id: rig.madeUpId() }), status.NOT_FOUND),
  ctrl('made-up id', 'ControllerPublishVolume', () => ({ volume_id: rig.madeUpId(), node_id: NODE_GUID, volume_capability: MOUNT }), status.NOT_FOUND),
  ctrl('made-up node', 'ControllerPublishVolume', () => ({ volume_id: rig.idle, node_id: '0A0B0C0D-9999-4A1B-8C1D-000000000009', volume_capability: MOUNT }), status.NOT_FOUND),
  ctrl('made-up id', 'ValidateVolumeCapabilities', () => ({ volume_id: rig.madeUpId(), volume_capabilities: [MOUNT] }), status.NOT_FOUND),
  ctrl('made-up id', 'ControllerExpandVolume', () => ({ volume_id: rig.madeUpId(), capacity_range: { required_bytes: String(2n * GiB) } }), status.NOT_FOUND),
  ctrl('made-up id (gone is done)', 'DeleteVolume', () => ({ volume_id: rig.madeUpId() }), status.OK),
  ctrl('made-up id (gone is done)', 'ControllerUnpublishVolume', () => ({ volume_id: rig.madeUpId(), node_id: NODE_GUID }), status.OK),
  ctrl('wrong system', 'ControllerGetVolume', () => ({ volume_id: rig.wrongSystem(rig.idle) }), status.NOT_FOUND),
  ctrl('wrong system, published volume stays mapped', 'ControllerUnpublishVolume', () => ({ volume_id: rig.wrongSystem(rig.v.id), node_id: NODE_GUID }), status.OK),
  ctrl('wrong system, volume stays', 'DeleteVolume', () => ({ volume_id: rig.wrongSystem(rig.idle) }), status.OK),
  ctrl('wrong system, snapshot stays', 'DeleteSnapshot', () => ({ snapshot_id: rig.wrongSystem(rig.snapshotId) }), status.OK),
  ctrl('a snapshot id as the source volume', 'CreateSnapshot', () => ({ name: 'snap-of-snap', source_volume_id: rig.snapshotId }), status.NOT_FOUND),
  ctrl('made-up source', 'CreateSnapshot', () => ({ name: 'snap-made-up', source_volume_id: rig.madeUpId() }), status.NOT_FOUND),
  ctrl('clone of a made-up volume', 'CreateVolume', createVolume('pvc-clone-made-up', () => ({ volume_content_source: { volume: { volume_id: rig.madeUpId() } } })), status.NOT_FOUND),
  ctrl('from a made-up snapshot', 'CreateVolume', createVolume('pvc-snap-made-up', () => ({ volume_content_source: { snapshot: { snapshot_id: rig.madeUpId() } } })), status.NOT_FOUND),
  ctrl('an existing name with a size it does not fit (idempotency key)', 'CreateVolume', () => ({ name: 'pvc-v', capacity_range: { required_bytes: String(16n * GiB) }, volume_capabilities: [MOUNT] }), status.ALREADY_EXISTS),
  // ---- Controller: capabilities and mount flags fail early.
  ...BAD_FLAGS.map((flag) => ctrl(`mount flag ${JSON.stringify(flag)}`, 'CreateVolume', createVolume(`pvc-flag-${flag.replace(/[^a-z]/g, '')}`, () => ({ volume_capabilities: [mount([flag])] })), status.INVALID_ARGUMENT, 'mount_flags')),
  ctrl('mount flag "bind"', 'ValidateVolumeCapabilities', () => ({ volume_id: rig.v.id, volume_capabilities: [mount(['bind'])] }), status.INVALID_ARGUMENT, 'mount_flags'),
  ctrl('mount flag "remount"', 'ControllerPublishVolume', () => ({ volume_id: rig.idle, node_id: NODE_GUID, volume_capability: mount(['remount']) }), status.INVALID_ARGUMENT, 'mount_flags'),
  ctrl('mount flag "rbind" (xfs)', 'ControllerPublishVolume', () => ({ volume_id: rig.idle, node_id: NODE_GUID, volume_capability: mount(['rbind'], 'xfs') }), status.INVALID_ARGUMENT, 'mount_flags'),
  ctrl('fs_type btrfs', 'CreateVolume', createVolume('pvc-btrfs', () => ({ volume_capabilities: [mount([], 'btrfs')] })), status.INVALID_ARGUMENT, 'fs_type'),
  ctrl('fs_type "ext4,bind"', 'ControllerPublishVolume', () => ({ volume_id: rig.idle, node_id: NODE_GUID, volume_capability: mount([], 'ext4,bind') }), status.INVALID_ARGUMENT, 'fs_type'),
  ctrl('access mode unknown', 'CreateVolume', createVolume('pvc-mode', () => ({ volume_capabilities: [{ mount: {}, access_mode: { mode: 42 } }] })), status.INVALID_ARGUMENT, 'access_mode'),
  // ---- Controller: parameters, volume context, sizes.
  // storagepool (lower case) is csi-powerflex's name, a documented alias: a misspelling of it is not.
  ctrl('unknown parameter', 'CreateVolume', createVolume('pvc-param', () => ({ parameters: { storagepoool: 'pool1' } })), status.INVALID_ARGUMENT, 'storagepoool'),
  ctrl('mkfsOptions "-F /dev/sda"', 'CreateVolume', createVolume('pvc-mkfs', () => ({ parameters: { mkfsOptions: '-F /dev/sda' } })), status.INVALID_ARGUMENT, 'mkfsOptions'),
  ctrl('unknown backend', 'CreateVolume', createVolume('pvc-backend', () => ({ parameters: { backend: 'nope' } })), status.INVALID_ARGUMENT, 'nope'),
  ctrl('required over limit', 'CreateVolume', createVolume('pvc-range', () => ({ capacity_range: { required_bytes: String(4n * GiB), limit_bytes: String(GiB) } })), status.INVALID_ARGUMENT, 'limit_bytes'),
  ctrl('negative size', 'CreateVolume', createVolume('pvc-neg', () => ({ capacity_range: { required_bytes: '-1' } })), status.INVALID_ARGUMENT, 'negative'),
  ctrl('8 EiB', 'CreateVolume', createVolume('pvc-huge', () => ({ capacity_range: { required_bytes: '9223372036854775807' } })), status.OUT_OF_RANGE),
  ctrl('shrink', 'ControllerExpandVolume', () => ({ volume_id: rig.idle, capacity_range: { required_bytes: '1' } }), status.OK),
  ctrl('8 EiB', 'ControllerExpandVolume', () => ({ volume_id: rig.idle, capacity_range: { required_bytes: '9223372036854775807' } }), status.OUT_OF_RANGE),
  ctrl('volume_context preemption yolo', 'ControllerPublishVolume', () => ({ volume_id: rig.idle, node_id: NODE_GUID, volume_capability: MOUNT, volume_context: { preemption: 'yolo' } }), status.INVALID_ARGUMENT, 'preemption'),
  ctrl('unknown snapshot parameter', 'CreateSnapshot', () => ({ name: 'snap-param', source_volume_id: rig.v.id, parameters: { x: 'y' } }), status.INVALID_ARGUMENT, 'x'),
  ctrl('bad parameter', 'GetCapacity', () => ({ parameters: { nope: '1' } }), status.INVALID_ARGUMENT, 'nope'),
  ctrl('bad capability', 'GetCapacity', () => ({ volume_capabilities: [mount(['bind'])] }), status.INVALID_ARGUMENT, 'mount_flags'),
  ctrl('garbage starting_token', 'ListVolumes', () => ({ starting_token: 'garbage' }), status.ABORTED),
  ctrl('negative max_entries', 'ListVolumes', () => ({ max_entries: -1 }), status.INVALID_ARGUMENT, 'max_entries'),
  ctrl('garbage starting_token', 'ListSnapshots', () => ({ starting_token: 'zz' }), status.ABORTED),
  ctrl('block capability, volume_context fsType btrfs', 'ControllerPublishVolume', () => ({ volume_id: rig.idle, node_id: NODE_GUID, volume_capability: { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }, volume_context: { fsType: 'btrfs' } }), status.INVALID_ARGUMENT, 'fsType'),
  // ---- Controller: oversized values.
  ctrl('2 KiB volume id', 'ControllerGetVolume', () => ({ volume_id: `pool:${'a'.repeat(2048)}` }), status.INVALID_ARGUMENT, 'volume_id'),
  ctrl('200-byte name', 'CreateVolume', createVolume('p'.repeat(200)), status.INVALID_ARGUMENT, 'name'),
  ctrl('5 KiB of parameters', 'CreateVolume', createVolume('pvc-big-params', () => ({ parameters: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'.repeat(100)])) })), status.INVALID_ARGUMENT, 'parameters'),
  ctrl('300-byte node id', 'ControllerPublishVolume', () => ({ volume_id: rig.idle, node_id: 'n'.repeat(300), volume_capability: MOUNT }), status.INVALID_ARGUMENT, 'node_id'),
  ctrl('200-byte mount flag', 'CreateVolume', createVolume('pvc-long-flag', () => ({ volume_capabilities: [mount(['x'.repeat(200)])] })), status.INVALID_ARGUMENT, 'mount_flags'),

  // ---- Node: missing and empty fields.
  node('no volume_id', 'NodeStageVolume', stage(() => ({ volume_id: '' })), status.INVALID_ARGUMENT, 'volume_id'),
  node('no staging path', 'NodeStageVolume', stage(() => ({ staging_target_path: '' })), status.INVALID_ARGUMENT, 'staging_target_path'),
  node('no capability', 'NodeStageVolume', stage(() => ({ volume_capability: null })), status.INVALID_ARGUMENT, 'volume_capability'),
  node('no volume_id', 'NodeUnstageVolume', () => ({ staging_target_path: rig.v.staging }), status.INVALID_ARGUMENT, 'volume_id'),
  node('no staging path', 'NodeUnstageVolume', () => ({ volume_id: rig.v.id }), status.INVALID_ARGUMENT, 'staging_target_path'),
  node('no volume_id', 'NodePublishVolume', publish(() => ({ volume_id: '' })), status.INVALID_ARGUMENT, 'volume_id'),
  node('no target', 'NodePublishVolume', publish(() => ({ target_path: '' })), status.INVALID_ARGUMENT, 'target_path'),
  node('no staging path', 'NodePublishVolume', publish(() => ({ staging_target_path: '' })), status.INVALID_ARGUMENT, 'staging_target_path'),
  node('no capability', 'NodePublishVolume', publish(() => ({ volume_capability: null })), status.INVALID_ARGUMENT, 'volume_capability'),
  node('no volume_id', 'NodeUnpublishVolume', () => ({ target_path: rig.v.target }), status.INVALID_ARGUMENT, 'volume_id'),
  node('no target', 'NodeUnpublishVolume', () => ({ volume_id: rig.v.id }), status.INVALID_ARGUMENT, 'target_path'),
  node('no volume_id', 'NodeGetVolumeStats', () => ({ volume_path: rig.v.target }), status.INVALID_ARGUMENT, 'volume_id'),
  node('no volume path', 'NodeGetVolumeStats', () => ({ volume_id: rig.v.id }), status.INVALID_ARGUMENT, 'volume_path'),
  node('no volume_id', 'NodeExpandVolume', () => ({ volume_path: rig.v.target }), status.INVALID_ARGUMENT, 'volume_id'),
  node('no volume path', 'NodeExpandVolume', () => ({ volume_id: rig.v.id }), status.INVALID_ARGUMENT, 'volume_path'),
  // ---- Node: wrong ids.
  node("made-up id over V's stage", 'NodeUnstageVolume', () => ({ volume_id: rig.madeUpId(), staging_target_path: rig.v.staging }), status.FAILED_PRECONDITION),
  node("W's id over V's stage", 'NodeUnstageVolume', () => ({ volume_id: rig.w.id, staging_target_path: rig.v.staging }), status.FAILED_PRECONDITION),
  node("made-up id over V's target", 'NodeUnpublishVolume', () => ({ volume_id: rig.madeUpId(), target_path: rig.v.target }), status.FAILED_PRECONDITION),
  node("W's id over V's target", 'NodeUnpublishVolume', () => ({ volume_id: rig.w.id, target_path: rig.v.target }), status.FAILED_PRECONDITION),
  node("W's id over B's raw target", 'NodeUnpublishVolume', () => ({ volume_id: rig.w.id, target_path: rig.b.target }), status.FAILED_PRECONDITION),
  node('a made-up id over the foreign tmpfs', 'NodeUnpublishVolume', () => ({ volume_id: rig.madeUpId(), target_path: rig.path('pods', 'stranger') }), status.FAILED_PRECONDITION),
  node("V's id over the foreign tmpfs", 'NodeUnpublishVolume', () => ({ volume_id: rig.v.id, target_path: rig.path('pods', 'stranger') }), status.FAILED_PRECONDITION),
  node("W's id from V's stage", 'NodePublishVolume', publish(() => ({ volume_id: rig.w.id })), status.FAILED_PRECONDITION),
  node("W's id at V's stage", 'NodeStageVolume', stage(() => ({ volume_id: rig.w.id })), status.ALREADY_EXISTS),
  node('a made-up id (no device)', 'NodeStageVolume', stage(() => ({ volume_id: rig.madeUpId(), staging_target_path: rig.path('plugins', 'made-up') })), status.UNAVAILABLE),
  node('wrong system', 'NodeStageVolume', stage(() => ({ volume_id: rig.wrongSystem(rig.v.id), staging_target_path: rig.path('plugins', 'wrong-system') })), status.UNAVAILABLE),
  node('a made-up id', 'NodeGetVolumeStats', () => ({ volume_id: rig.madeUpId(), volume_path: rig.v.target }), status.NOT_FOUND),
  node("W's id on V's target", 'NodeGetVolumeStats', () => ({ volume_id: rig.w.id, volume_path: rig.v.target }), status.NOT_FOUND),
  node("W's id on B's raw target", 'NodeGetVolumeStats', () => ({ volume_id: rig.w.id, volume_path: rig.b.target }), status.NOT_FOUND),
  node("W's id on V's target", 'NodeExpandVolume', () => ({ volume_id: rig.w.id, volume_path: rig.v.target }), status.NOT_FOUND),
  node('no such backend', 'NodeStageVolume', stage(() => ({ volume_id: 'nobackend:x' })), status.NOT_FOUND),
  node('not an id', 'NodeGetVolumeStats', () => ({ volume_id: 'garbage', volume_path: rig.v.target }), status.NOT_FOUND),
  // ---- Node: hostile paths, for each field that names one.
  ...HOSTILE_PATHS.map(({ what, path }) => node(`staging path ${what}`, 'NodeStageVolume', stage(() => ({ volume_id: rig.idle, staging_target_path: path() })), status.INVALID_ARGUMENT, 'staging_target_path')),
  ...HOSTILE_PATHS.map(({ what, path }) => node(`target ${what}`, 'NodePublishVolume', publish(() => ({ target_path: path() })), status.INVALID_ARGUMENT, 'target_path')),
  ...HOSTILE_PATHS.map(({ what, path }) => node(`target ${what}`, 'NodeUnpublishVolume', () => ({ volume_id: rig.v.id, target_path: path() }), status.INVALID_ARGUMENT, 'target_path')),
  ...HOSTILE_PATHS.map(({ what, path }) => node(`staging path ${what}`, 'NodeUnstageVolume', () => ({ volume_id: rig.v.id, staging_target_path: path() }), status.INVALID_ARGUMENT, 'staging_target_path')),
  // No volume can be at such a path: NOT_FOUND, as CSI has it for a volume path that is not a volume.
  ...HOSTILE_PATHS.map(({ what, path, oversized }) => node(`volume path ${what}`, 'NodeGetVolumeStats', () => ({ volume_id: rig.v.id, volume_path: path() }), oversized ? status.INVALID_ARGUMENT : status.NOT_FOUND)),
  ...HOSTILE_PATHS.map(({ what, path, oversized }) => node(`volume path ${what}`, 'NodeExpandVolume', () => ({ volume_id: rig.v.id, volume_path: path() }), oversized ? status.INVALID_ARGUMENT : status.NOT_FOUND)),
  node('staging path through a symlink', 'NodePublishVolume', publish(() => ({ staging_target_path: rig.path('pods', 'link-dir', 'etc') })), status.INVALID_ARGUMENT, 'staging_target_path'),
  node("the volume's own staging path as the target", 'NodePublishVolume', publish(() => ({ target_path: rig.v.staging })), status.INVALID_ARGUMENT, 'target_path'),
  node("the volume's own staging path as the target", 'NodeUnpublishVolume', () => ({ volume_id: rig.v.id, target_path: rig.v.staging }), status.INVALID_ARGUMENT, 'target_path'),
  node('the foreign tmpfs', 'NodeGetVolumeStats', () => ({ volume_id: rig.v.id, volume_path: rig.path('pods', 'stranger') }), status.NOT_FOUND),
  node('the foreign tmpfs', 'NodeExpandVolume', () => ({ volume_id: rig.v.id, volume_path: rig.path('pods', 'stranger') }), status.NOT_FOUND),
  node("V's id on W's target", 'NodeGetVolumeStats', () => ({ volume_id: rig.v.id, volume_path: rig.w.target }), status.NOT_FOUND),
  node('the kubelet root itself', 'NodeGetVolumeStats', () => ({ volume_id: rig.v.id, volume_path: rig.kubeletRoot }), status.NOT_FOUND),
  node('the foreign tmpfs as staging path', 'NodeStageVolume', stage(() => ({ staging_target_path: rig.path('pods', 'stranger') })), status.ALREADY_EXISTS),
  node("V's target as W's stage", 'NodeStageVolume', stage(() => ({ volume_id: rig.w.id, staging_target_path: rig.v.target })), status.ALREADY_EXISTS),
  // ---- Node: capabilities and mount flags, before anything is mounted.
  ...BAD_FLAGS.map((flag) => node(`mount flag ${JSON.stringify(flag)}`, 'NodeStageVolume', stage(() => ({ volume_capability: mount([flag]) })), status.INVALID_ARGUMENT, 'mount_flags')),
  ...BAD_FLAGS.slice(0, 6).map((flag) => node(`mount flag ${JSON.stringify(flag)}`, 'NodePublishVolume', publish(() => ({ volume_capability: mount([flag]) })), status.INVALID_ARGUMENT, 'mount_flags')),
  node('xfs flag on ext4', 'NodeStageVolume', stage(() => ({ volume_capability: mount(['inode64']) })), status.INVALID_ARGUMENT, 'mount_flags'),
  node('fs_type btrfs', 'NodeStageVolume', stage(() => ({ volume_capability: mount([], 'btrfs') })), status.INVALID_ARGUMENT, 'fs_type'),
  node('access mode missing', 'NodeStageVolume', stage(() => ({ volume_capability: { mount: {} } })), status.INVALID_ARGUMENT, 'access_mode'),
  node('no access type', 'NodePublishVolume', publish(() => ({ volume_capability: { access_mode: { mode: 'SINGLE_NODE_WRITER' } } })), status.INVALID_ARGUMENT, 'access type'),
  node('fs_type btrfs', 'NodeExpandVolume', () => ({ volume_id: rig.v.id, volume_path: rig.v.target, volume_capability: mount([], 'btrfs') }), status.INVALID_ARGUMENT, 'fs_type'),
  // ---- Node: volume context.
  node('mkfsOptions "; rm -rf /"', 'NodeStageVolume', stage(() => ({ volume_context: { mkfsOptions: '; rm -rf /' } })), status.INVALID_ARGUMENT, 'mkfsOptions'),
  node('mkfsOptions "-E offset=4096"', 'NodeStageVolume', stage(() => ({ volume_context: { mkfsOptions: '-E offset=4096' } })), status.INVALID_ARGUMENT, 'mkfsOptions'),
  node('fsType btrfs', 'NodeStageVolume', stage(() => ({ volume_capability: mount([], ''), volume_context: { fsType: 'btrfs' } })), status.INVALID_ARGUMENT, 'fsType'),
  node('preemption yolo', 'NodeStageVolume', stage(() => ({ volume_context: { preemption: 'yolo' } })), status.INVALID_ARGUMENT, 'preemption'),
  // ---- Node: oversized values.
  node('2 KiB volume id', 'NodeUnpublishVolume', () => ({ volume_id: `pool:${'a'.repeat(2048)}`, target_path: rig.v.target }), status.INVALID_ARGUMENT, 'volume_id'),
  node('5 KiB path', 'NodeStageVolume', stage(() => ({ staging_target_path: rig.path(...Array.from({ length: 50 }, () => 'd'.repeat(100))) })), status.INVALID_ARGUMENT, 'staging_target_path'),
  node('5 KiB volume context', 'NodeStageVolume', stage(() => ({ volume_context: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'.repeat(100)])) })), status.INVALID_ARGUMENT, 'volume_context'),
  node('a raw block volume staged as a mount at a new path', 'NodeStageVolume', () => ({ volume_id: rig.b.id, staging_target_path: rig.path('plugins', 'b-as-mount'), volume_capability: MOUNT }), status.ALREADY_EXISTS),

  // ---- The pool's gateway API over raw HTTP.
  { name: 'pool: create with a body that is not JSON', service: 'http', rpc: '/api/types/Volume/instances', method: 'POST', request: () => ({}), bytes: () => '{"name": "x", ', code: 400 },
  { name: 'pool: create with no size', service: 'http', rpc: '/api/types/Volume/instances', method: 'POST', request: () => ({}), bytes: () => JSON.stringify({ storagePoolId: 'x' }), code: 400 },
  { name: 'pool: create of 2^70 KiB', service: 'http', rpc: '/api/types/Volume/instances', method: 'POST', request: () => ({}), bytes: () => `{"storagePoolId": "${rig.storagePoolId}", "volumeSizeInKb": "1180591620717411303424"}`, code: 400 },
  { name: 'pool: create with a negative size', service: 'http', rpc: '/api/types/Volume/instances', method: 'POST', request: () => ({}), bytes: () => `{"storagePoolId": "${rig.storagePoolId}", "volumeSizeInKb": "-8"}`, code: 400 },
  { name: 'pool: create in a storage pool that does not exist (a business error: 500)', service: 'http', rpc: '/api/types/Volume/instances', method: 'POST', request: () => ({}), bytes: () => '{"storagePoolId": "x", "volumeSizeInKb": "8388608"}', code: 500 },
  // The gateway answers an id it cannot find, well-formed or not, with 500 and errorCode 79 (powerflex-gateway.md).
  { name: 'pool: remove a malformed volume id', service: 'http', rpc: '/api/instances/Volume::..%2f..%2fetc/action/removeVolume', method: 'POST', request: () => ({}), bytes: () => '{"removeMode":"ONLY_ME"}', code: 500 },
  { name: 'pool: remove with an unknown mode', service: 'http', rpc: '/api/instances/Volume::VOL/action/removeVolume', method: 'POST', request: () => ({}), bytes: () => '{"removeMode":"EVERYTHING"}', code: 400 },
  { name: 'pool: no credentials', service: 'http', rpc: '/api/types/Volume/instances', method: 'GET', request: () => ({}), auth: 'none', code: 401 },
  { name: 'pool: unknown path', service: 'http', rpc: '/api/../../etc/passwd', method: 'GET', request: () => ({}), code: 404 },
];

const outcomes: Outcome[] = [];

beforeAll(async () => {
  rig = await HostileRig.start('ferry-bad-input-');
}, 180_000);

afterAll(async () => {
  process.stdout.write(tallyLine('bad input', outcomes));
  await rig?.close();
}, 60_000);

function codeName(code: number): string {
  return status[code] ?? String(code);
}

async function run(c: Case): Promise<Answer> {
  if (c.service === 'raw') {
    const [service = '', rpc = ''] = c.rpc.split('/');
    return rig.rawCall(service, rpc, c.bytes?.() as Buffer);
  }
  if (c.service === 'http') {
    const body = c.bytes?.();
    const local = rig.idle.slice(rig.idle.indexOf('-') + 1);
    const res = await rig.rawHttp(c.method ?? 'GET', c.rpc.replace('VOL', local), typeof body === 'string' ? body : undefined, c.auth ?? 'admin');
    return { code: res.status, details: res.text };
  }
  return rig.answer(c.service, c.rpc, c.request());
}

test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
  const before = await rig.state();
  const answer = await run(c);
  const after = await rig.state();
  const changed = after !== before;
  const undone = changed ? await rig.restore(before) : [];
  const http = c.service === 'http';
  const got = `${http ? answer.code : codeName(answer.code)}${changed ? ' (changed state)' : ''}: ${answer.details.slice(0, 160)}`;
  const success = http ? answer.code < 300 : answer.code === status.OK;
  const verdict: Outcome['verdict'] = changed || (success && c.code !== status.OK) ? 'accepted' : answer.code === c.code ? 'as expected' : 'wrong code';
  outcomes.push({ name: c.name, verdict, got });
  expect(rig.alive()).toBe(true);
  expect({ code: http ? answer.code : codeName(answer.code), undone }).toEqual({ code: http ? c.code : codeName(c.code), undone: [] });
  expect(after).toBe(before);
  if (c.names !== undefined) expect(answer.details).toContain(c.names);
});

test('the fixtures are still whole: V, W and B answer stats; the tmpfs still holds its file', async () => {
  for (const f of [rig.v, rig.w, rig.b]) {
    expect((await rig.answer('node', 'NodeGetVolumeStats', { volume_id: f.id, volume_path: f.target })).code).toBe(status.OK);
  }
  expect((await rig.answer('node', 'NodePublishVolume', { volume_id: rig.v.id, staging_target_path: rig.v.staging, target_path: rig.v.target, volume_capability: MOUNT })).code).toBe(status.OK);
  expect((await rig.answer('node', 'NodePublishVolume', { volume_id: rig.b.id, staging_target_path: rig.b.staging, target_path: rig.b.target, volume_capability: BLOCK })).code).toBe(status.OK);
});

test('the allow-list lets good flags through: a stage with ext4 options and a publish with per-mount ones', async () => {
  const cap = mount(['noatime', 'discard', 'data=ordered', 'commit=30']);
  const made = await call(rig.clients.controller, 'CreateVolume', { name: 'pvc-good-flags', capacity_range: { required_bytes: String(GiB) }, volume_capabilities: [cap as never] }, 20_000);
  const volumeId = made.volume?.volume_id ?? '';
  const staging = rig.path('plugins', 'good-flags');
  const target = rig.path('pods', 'good-flags', 'v');
  expect((await rig.answer('controller', 'ControllerPublishVolume', { volume_id: volumeId, node_id: NODE_GUID, volume_capability: cap })).code).toBe(status.OK);
  expect(await rig.answer('node', 'NodeStageVolume', { volume_id: volumeId, staging_target_path: staging, volume_capability: cap }, 60_000)).toEqual({ code: status.OK, details: '' });
  const publishCap = mount(['noatime', 'nodev', 'nosuid', 'discard']);
  expect(await rig.answer('node', 'NodePublishVolume', { volume_id: volumeId, staging_target_path: staging, target_path: target, volume_capability: publishCap })).toEqual({ code: status.OK, details: '' });
  const at = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === target) ?? '';
  expect(at.split(' ')[5]?.split(',')).toEqual(expect.arrayContaining(['noatime', 'nodev', 'nosuid']));
  expect((await rig.answer('node', 'NodeUnpublishVolume', { volume_id: volumeId, target_path: target })).code).toBe(status.OK);
  expect((await rig.answer('node', 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: staging })).code).toBe(status.OK);
  expect((await rig.answer('controller', 'ControllerUnpublishVolume', { volume_id: volumeId, node_id: NODE_GUID })).code).toBe(status.OK);
  expect((await rig.answer('controller', 'DeleteVolume', { volume_id: volumeId })).code).toBe(status.OK);
});
