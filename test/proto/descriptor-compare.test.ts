// Unit-style tests of the pure descriptor comparison: it must be able to FAIL,
// and say exactly what differs. Uses the descriptor built from proto/csi.proto
// (no Go needed); every test compares it with a mutated deep copy.

import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { compareFileDescriptors } from './descriptor-compare.js';
import { descriptorFromProto } from './descriptor-from-proto.js';
import { parseFileDescriptorJson } from './descriptor-model.js';
import type { FieldDescriptor, FileDescriptor, MessageDescriptor } from './descriptor-model.js';

const PROTO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../proto/csi.proto');

function message(d: FileDescriptor, name: string): MessageDescriptor {
  const found = d.message_type?.find((m) => m.name === name);
  if (found === undefined) throw new Error(`no message ${name}`);
  return found;
}

function field(m: MessageDescriptor, name: string): FieldDescriptor {
  const found = m.field?.find((f) => f.name === name);
  if (found === undefined) throw new Error(`no field ${name} in ${m.name}`);
  return found;
}

describe('compareFileDescriptors', () => {
  let base: FileDescriptor;
  let copy: FileDescriptor;

  beforeAll(() => {
    base = descriptorFromProto(PROTO).descriptor;
  });

  beforeEach(() => {
    copy = structuredClone(base);
  });

  it('reports no difference for identical descriptors', () => {
    expect(compareFileDescriptors(base, copy)).toEqual([]);
  });

  it('reports exactly one changed field number', () => {
    field(message(copy, 'CreateVolumeRequest'), 'name').number = 2;
    expect(compareFileDescriptors(base, copy)).toEqual([
      "message csi.v1.CreateVolumeRequest field 'name': number official 1 != ours 2",
    ]);
  });

  it('reports a changed field number in a nested message', () => {
    const confirmed = message(copy, 'ValidateVolumeCapabilitiesResponse').nested_type?.find((m) => m.name === 'Confirmed');
    if (confirmed === undefined) throw new Error('no Confirmed');
    field(confirmed, 'parameters').number = 9;
    expect(compareFileDescriptors(base, copy)).toEqual([
      "message csi.v1.ValidateVolumeCapabilitiesResponse.Confirmed field 'parameters': number official 3 != ours 9",
    ]);
  });

  it('reports missing and extra fields', () => {
    const m = message(copy, 'DeleteVolumeRequest');
    m.field = [
      ...(m.field ?? []).filter((f) => f.name !== 'secrets'),
      { name: 'force', number: 3, label: 'LABEL_OPTIONAL', type: 'TYPE_BOOL' },
    ];
    expect(compareFileDescriptors(base, copy)).toEqual([
      "message csi.v1.DeleteVolumeRequest: field 'secrets' missing in ours",
      "message csi.v1.DeleteVolumeRequest: field 'force' only in ours (not in official)",
    ]);
  });

  it('reports a field order change', () => {
    const m = message(copy, 'CapacityRange');
    m.field = [...(m.field ?? [])].reverse();
    expect(compareFileDescriptors(base, copy)).toEqual([
      'message csi.v1.CapacityRange: field order differs: official [required_bytes, limit_bytes] != ours [limit_bytes, required_bytes]',
    ]);
  });

  it('reports a dropped custom option', () => {
    const secrets = field(message(copy, 'NodeExpandVolumeRequest'), 'secrets');
    secrets.options = { '[csi.v1.csi_secret]': true };
    expect(compareFileDescriptors(base, copy)).toEqual([
      "message csi.v1.NodeExpandVolumeRequest field 'secrets': option [csi.v1.alpha_field] official true != ours (unset)",
    ]);
  });

  it('reports enum value, method and extension changes', () => {
    const usage = message(copy, 'VolumeUsage').enum_type?.[0];
    const inodes = usage?.value.find((v) => v.name === 'INODES');
    if (inodes === undefined) throw new Error('no INODES');
    inodes.number = 3;
    const method = copy.service?.find((s) => s.name === 'SnapshotMetadata')?.method?.[0];
    if (method === undefined) throw new Error('no SnapshotMetadata method');
    delete method.server_streaming;
    const ext = copy.extension?.find((e) => e.name === 'csi_secret');
    if (ext === undefined) throw new Error('no csi_secret');
    ext.extendee = '.google.protobuf.MessageOptions';
    expect(compareFileDescriptors(base, copy)).toEqual([
      "extension csi.v1.csi_secret: extendee official \".google.protobuf.FieldOptions\" != ours \".google.protobuf.MessageOptions\"",
      "service csi.v1.SnapshotMetadata method 'GetMetadataAllocated': server_streaming official true != ours false",
      "enum csi.v1.VolumeUsage.Unit value 'INODES': number official 2 != ours 3",
    ]);
  });

  it('reports type_name and oneof membership changes', () => {
    const cap = message(copy, 'VolumeCapability');
    field(cap, 'access_mode').oneof_index = 0;
    field(cap, 'mount').type_name = '.csi.v1.VolumeCapability.BlockVolume';
    expect(compareFileDescriptors(base, copy)).toEqual([
      "message csi.v1.VolumeCapability field 'mount': type_name official \".csi.v1.VolumeCapability.MountVolume\" != ours \".csi.v1.VolumeCapability.BlockVolume\"",
      "message csi.v1.VolumeCapability field 'access_mode': oneof_index official (unset) != ours 0 ('access_type')",
    ]);
  });

  it('checks nested message order, but map entries only among themselves', () => {
    const cap = message(copy, 'VolumeCapability');
    cap.nested_type = [...(cap.nested_type ?? [])].reverse();
    expect(compareFileDescriptors(base, copy)).toEqual([
      'message csi.v1.VolumeCapability: nested message (declared) order differs: official [BlockVolume, MountVolume, AccessMode] != ours [AccessMode, MountVolume, BlockVolume]',
    ]);

    // Map entries may sit anywhere among declared nested types (see descriptor-compare.ts) ...
    const again = structuredClone(base);
    const confirmed = message(again, 'ValidateVolumeCapabilitiesResponse').nested_type?.[0];
    if (confirmed?.nested_type === undefined) throw new Error('no map entries in Confirmed');
    confirmed.nested_type = [...confirmed.nested_type].reverse();
    // ... but their own order still counts.
    expect(compareFileDescriptors(base, again)).toEqual([
      'message csi.v1.ValidateVolumeCapabilitiesResponse.Confirmed: nested message (map entries) order differs: ' +
        'official [VolumeContextEntry, ParametersEntry, MutableParametersEntry] != ours [MutableParametersEntry, ParametersEntry, VolumeContextEntry]',
    ]);
  });

  it('reports file-level differences', () => {
    copy.dependency = ['google/protobuf/descriptor.proto', 'google/protobuf/wrappers.proto'];
    copy.options = { go_package: 'example.com/csi' };
    copy.syntax = undefined;
    expect(compareFileDescriptors(base, copy)).toEqual([
      "file 'csi.proto': syntax official \"proto3\" != ours \"proto2\"",
      "file 'csi.proto': dependency 'google/protobuf/timestamp.proto' missing in ours",
      "file 'csi.proto': option go_package official \"github.com/container-storage-interface/spec/lib/go/csi\" != ours \"example.com/csi\"",
    ]);
  });
});

describe('parseFileDescriptorJson', () => {
  it('accepts a minimal descriptor', () => {
    expect(parseFileDescriptorJson({ name: 'a.proto', syntax: 'proto3' })).toEqual({ name: 'a.proto', syntax: 'proto3' });
  });

  it('rejects keys it does not model, so nothing is skipped silently', () => {
    expect(() => parseFileDescriptorJson({ name: 'a.proto', source_code_info: {} })).toThrow(/unmodelled key 'source_code_info'/);
    expect(() =>
      parseFileDescriptorJson({ name: 'a.proto', message_type: [{ name: 'M', visibility: 'VISIBILITY_LOCAL' }] }),
    ).toThrow(/file\.message_type\[0\]: unmodelled key 'visibility'/);
  });

  it('rejects non-scalar option values', () => {
    expect(() => parseFileDescriptorJson({ name: 'a.proto', options: { features: { field_presence: 'IMPLICIT' } } })).toThrow(
      /option 'features' is not a scalar/,
    );
  });
});
