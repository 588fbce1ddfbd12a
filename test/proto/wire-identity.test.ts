// proto/csi.proto must be wire-identical to CSI spec v1.12.0.
//
// OFFICIAL: the FileDescriptorProto compiled into the official Go bindings
// (github.com/container-storage-interface/spec/lib/go/csi), dumped as protojson by
// the Go program in ./descriptor-dump (built once into ~/.cache/ferry-tools).
// OURS: the same descriptor built from proto/csi.proto with protobufjs
// (./descriptor-from-proto.ts). ./descriptor-compare.ts compares them element by
// element: package, syntax, imports, file options, every message (recursively),
// field, oneof, enum and value, extension, service and method, including the CSI
// custom options (csi_secret, alpha_*).
//
// A cold run builds the Go program (module download + compile): allow ~3 minutes.

import path from 'node:path';
import { fileURLToPath } from 'node:url';

import protoLoader from '@grpc/proto-loader';
import type { AnyDefinition, PackageDefinition, ServiceDefinition } from '@grpc/proto-loader';

import { compareFileDescriptors } from './descriptor-compare.js';
import { descriptorFromProto } from './descriptor-from-proto.js';
import type { FileDescriptor, MessageDescriptor, OptionMap } from './descriptor-model.js';
import { loadOfficialDescriptor } from './official-descriptor.js';

const PROTO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../proto/csi.proto');
const COLD_BUILD_TIMEOUT_MS = 180_000;

/** Every options map in the file, for counting custom options. */
function allOptions(d: FileDescriptor): OptionMap[] {
  const out: OptionMap[] = [];
  const add = (o: OptionMap | undefined): void => {
    if (o !== undefined) out.push(o);
  };
  const walkMessage = (m: MessageDescriptor): void => {
    add(m.options);
    m.field?.forEach((f) => add(f.options));
    m.oneof_decl?.forEach((o) => add(o.options));
    m.nested_type?.forEach(walkMessage);
    m.enum_type?.forEach((e) => {
      add(e.options);
      e.value.forEach((v) => add(v.options));
    });
  };
  add(d.options);
  d.message_type?.forEach(walkMessage);
  d.enum_type?.forEach((e) => {
    add(e.options);
    e.value.forEach((v) => add(v.options));
  });
  d.service?.forEach((s) => {
    add(s.options);
    s.method?.forEach((m) => add(m.options));
  });
  return out;
}

function countOption(d: FileDescriptor, key: string): number {
  return allOptions(d).filter((o) => o[key] !== undefined).length;
}

/** All messages with their fully-qualified names (no leading dot). */
function allMessages(d: FileDescriptor): Map<string, MessageDescriptor> {
  const out = new Map<string, MessageDescriptor>();
  const walk = (scope: string, m: MessageDescriptor): void => {
    const name = `${scope}.${m.name}`;
    out.set(name, m);
    m.nested_type?.forEach((n) => walk(name, n));
  };
  d.message_type?.forEach((m) => walk(d.package ?? '', m));
  return out;
}

function isServiceDefinition(def: AnyDefinition): def is ServiceDefinition {
  return !('format' in def);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * "name=number, ..." per message, from the DescriptorProto objects proto-loader
 * attaches to each top-level message (nested types via nestedType). protobufjs
 * map entry types (oddly named, e.g. "Volume_context") are skipped.
 */
function loaderMessageFields(pkg: PackageDefinition): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (fqn: string, type: unknown): void => {
    if (!isObject(type) || !Array.isArray(type['field'])) throw new Error(`${fqn}: unexpected proto-loader type object`);
    const fields = type['field'].map((f: unknown) => {
      if (!isObject(f) || typeof f['name'] !== 'string' || typeof f['number'] !== 'number') throw new Error(`${fqn}: bad field`);
      return `${f['name']}=${f['number']}`;
    });
    out.set(fqn, fields.join(', '));
    const nested: unknown = type['nestedType'];
    for (const n of Array.isArray(nested) ? nested : []) {
      if (!isObject(n) || typeof n['name'] !== 'string') throw new Error(`${fqn}: bad nested type`);
      const options = n['options'];
      if (isObject(options) && options['mapEntry'] === true) continue;
      walk(`${fqn}.${n['name']}`, n);
    }
  };
  for (const [name, def] of Object.entries(pkg)) {
    if (def.format === 'Protocol Buffer 3 DescriptorProto' && name.startsWith('csi.v1.')) walk(name, def.type);
  }
  return out;
}

describe('proto/csi.proto is wire-identical to CSI spec v1.12.0', () => {
  let official: FileDescriptor;
  let ours: FileDescriptor;

  beforeAll(async () => {
    official = await loadOfficialDescriptor();
    ours = descriptorFromProto(PROTO).descriptor;
  }, COLD_BUILD_TIMEOUT_MS);

  it('the official descriptor is the CSI v1 file with its custom options resolved', () => {
    expect(official.name).toBe('csi.proto');
    expect(official.package).toBe('csi.v1');
    expect(official.options?.['go_package']).toBe('github.com/container-storage-interface/spec/lib/go/csi');
    // The Go program only prints "[csi.v1.x]" keys if the csi package registered its
    // extensions; without them both sides could "agree" on having no options.
    for (const key of [
      '[csi.v1.csi_secret]',
      '[csi.v1.alpha_field]',
      '[csi.v1.alpha_message]',
      '[csi.v1.alpha_method]',
      '[csi.v1.alpha_service]',
      '[csi.v1.alpha_enum_value]',
    ]) {
      expect({ key, present: countOption(official, key) > 0 }).toEqual({ key, present: true });
    }
    expect(countOption(official, '[csi.v1.csi_secret]')).toBe(19);
  });

  it('ours matches the official descriptor element by element', () => {
    const diffs = compareFileDescriptors(official, ours);
    expect(diffs).toEqual([]);
  });

  it('the check is live: one field number changed in a copy of the official descriptor is reported', () => {
    const mutated = structuredClone(official);
    const req = mutated.message_type?.find((m) => m.name === 'CreateVolumeRequest');
    const name = req?.field?.find((f) => f.name === 'name');
    if (name === undefined) throw new Error('CreateVolumeRequest.name not found');
    name.number = 2;
    expect(compareFileDescriptors(official, mutated)).toEqual([
      "message csi.v1.CreateVolumeRequest field 'name': number official 1 != ours 2",
    ]);
  });

  it('@grpc/proto-loader (the runtime loader) sees the same services, methods and field numbers', () => {
    const pkg: PackageDefinition = protoLoader.loadSync(PROTO, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const problems: string[] = [];

    const officialServices = (official.service ?? []).map((s) => `csi.v1.${s.name}`).sort();
    const loaderServices = Object.keys(pkg)
      .filter((k) => {
        const def = pkg[k];
        return def !== undefined && isServiceDefinition(def);
      })
      .sort();
    expect(loaderServices).toEqual(officialServices);

    for (const svc of official.service ?? []) {
      const def = pkg[`csi.v1.${svc.name}`];
      if (def === undefined || !isServiceDefinition(def)) continue;
      for (const m of svc.method ?? []) {
        const md = def[m.name];
        const where = `service csi.v1.${svc.name} method '${m.name}'`;
        if (md === undefined) {
          problems.push(`${where}: missing in proto-loader`);
          continue;
        }
        if (md.path !== `/csi.v1.${svc.name}/${m.name}`) problems.push(`${where}: path ${md.path}`);
        if (md.requestStream !== (m.client_streaming ?? false)) problems.push(`${where}: requestStream ${md.requestStream}`);
        if (md.responseStream !== (m.server_streaming ?? false)) problems.push(`${where}: responseStream ${md.responseStream}`);
      }
    }

    const officialMessages = new Map(
      [...allMessages(official)]
        .filter(([, m]) => m.options?.['map_entry'] !== true)
        .map(([name, m]) => [name, (m.field ?? []).map((f) => `${f.name}=${f.number}`).join(', ')]),
    );
    const loader = loaderMessageFields(pkg);
    for (const [name, fields] of officialMessages) {
      const got = loader.get(name);
      if (got === undefined) problems.push(`message ${name}: missing in proto-loader`);
      else if (got !== fields) problems.push(`message ${name}: fields official [${fields}] != proto-loader [${got}]`);
    }
    for (const name of loader.keys()) {
      if (!officialMessages.has(name)) problems.push(`message ${name}: only in proto-loader`);
    }
    expect(problems).toEqual([]);
  });
});
