// Builds OUR FileDescriptor (descriptor-model.ts) from a .proto file, using the
// protobufjs parser and its resolved reflection tree.
//
// Why not protobufjs' own Root#toDescriptor() (ext/descriptor), which is also what
// @grpc/proto-loader's fileDescriptorProtos are made of? It is lossy/different
// from protoc in ways that matter here: custom options such as (csi_secret) are
// dropped (only fields of the *Options messages survive), map entry types are
// named "Secrets" instead of "SecretsEntry", type names are relative, files are
// grouped by package (no file name, no dependencies) and every proto3 field gets
// an explicit packed=false. So we walk the reflection tree, which keeps
// everything the file declares, and emit what protoc emits:
//   - type_name / extendee / input_type / output_type fully-qualified (".csi.v1.X"),
//   - map<K, V> fields as LABEL_REPEATED messages of a synthetic nested
//     "<CamelName>Entry" type {key = 1; value = 2} with option map_entry = true,
//   - custom options resolved to their extension and keyed "[csi.v1.csi_secret]"
//     like protojson prints them, standard options keyed by their proto name.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import protobuf from 'protobufjs';
import type { Enum, Field, Method, Namespace, OneOf, ReflectionObject, Root, Service, Type } from 'protobufjs';

import type {
  EnumDescriptor,
  EnumValueDescriptor,
  FieldDescriptor,
  FieldLabel,
  FieldType,
  FileDescriptor,
  MessageDescriptor,
  MethodDescriptor,
  OneofDescriptor,
  OptionMap,
  ReservedRange,
  ServiceDescriptor,
} from './descriptor-model.js';

const require = createRequire(import.meta.url);

/** Where protobufjs ships google/protobuf/descriptor.proto (timestamp/wrappers are built in). */
const PROTOBUFJS_DIR = path.dirname(require.resolve('protobufjs/package.json'));

const SCALAR_TYPES: Readonly<Record<string, FieldType>> = {
  double: 'TYPE_DOUBLE',
  float: 'TYPE_FLOAT',
  int64: 'TYPE_INT64',
  uint64: 'TYPE_UINT64',
  int32: 'TYPE_INT32',
  fixed64: 'TYPE_FIXED64',
  fixed32: 'TYPE_FIXED32',
  bool: 'TYPE_BOOL',
  string: 'TYPE_STRING',
  bytes: 'TYPE_BYTES',
  uint32: 'TYPE_UINT32',
  sfixed32: 'TYPE_SFIXED32',
  sfixed64: 'TYPE_SFIXED64',
  sint32: 'TYPE_SINT32',
  sint64: 'TYPE_SINT64',
};

/** protobufjs keeps these in `options`, but protoc stores them elsewhere (or we ignore them). */
const NON_OPTION_KEYS = new Set(['default', 'proto3_optional', 'json_name']);

class Unsupported extends Error {
  constructor(where: string, what: string) {
    super(`${where}: ${what} (not supported by descriptor-from-proto.ts)`);
    this.name = 'Unsupported';
  }
}

/** Drops the leading dot protobufjs puts on full names. */
function bare(fullName: string): string {
  return fullName.startsWith('.') ? fullName.slice(1) : fullName;
}

/** protoc's map entry name: "volume_context" -> "VolumeContextEntry". */
function mapEntryName(fieldName: string): string {
  let out = '';
  let upper = true;
  for (const ch of fieldName) {
    if (ch === '_') {
      upper = true;
    } else {
      out += upper ? ch.toUpperCase() : ch;
      upper = false;
    }
  }
  return `${out}Entry`;
}

/** Reads `syntax = "..."` (or `edition = "..."`) with the protobufjs tokenizer. */
function readSyntax(source: string, where: string): string {
  const tok = protobuf.tokenize(source, false);
  const keyword = tok.peek();
  if (keyword !== 'syntax' && keyword !== 'edition') return 'proto2';
  tok.next();
  const tokens = [tok.next(), tok.next(), tok.next(), tok.next()];
  const [eq, open, value, close] = tokens;
  if (eq !== '=' || (open !== '"' && open !== "'") || close !== open || value === null || value === undefined) {
    throw new Unsupported(where, `cannot read the ${keyword} statement`);
  }
  if (keyword === 'edition') throw new Unsupported(where, 'editions');
  return value;
}

class Converter {
  /** Resolves a custom option name like "(csi_secret)" to "[csi.v1.csi_secret]". */
  private customOptionKey(key: string, scope: Namespace, optionsType: string, where: string): string {
    const match = /^\((\.?[A-Za-z_][\w.]*)\)$/.exec(key);
    if (match === null || match[1] === undefined) {
      throw new Unsupported(where, `option '${key}' (sub-field options)`);
    }
    const ext = scope.lookup(match[1], [protobuf.Field]);
    if (!(ext instanceof protobuf.Field) || ext.extend === undefined) {
      throw new Error(`${where}: option '${key}' does not name an extension`);
    }
    const extendee = this.extendee(ext, where);
    if (extendee !== `.google.protobuf.${optionsType}`) {
      throw new Error(`${where}: option '${key}' extends ${extendee}, not google.protobuf.${optionsType}`);
    }
    return `[${bare(ext.fullName)}]`;
  }

  private optionMap(
    raw: Readonly<Record<string, unknown>> | undefined,
    scope: Namespace,
    optionsType: string,
    where: string,
  ): OptionMap | undefined {
    if (raw === undefined) return undefined;
    const out: OptionMap = {};
    for (const [key, value] of Object.entries(raw)) {
      if (NON_OPTION_KEYS.has(key)) continue;
      if (typeof value !== 'boolean' && typeof value !== 'number' && typeof value !== 'string') {
        throw new Unsupported(where, `option '${key}' with a non-scalar value`);
      }
      const name = key.startsWith('(') ? this.customOptionKey(key, scope, optionsType, where) : key;
      out[name] = value;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  private extendee(field: Field, where: string): string {
    const parent = field.parent;
    if (field.extend === undefined || parent === null) throw new Error(`${where}: not an extension`);
    const target = parent.lookup(field.extend, [protobuf.Type]);
    if (!(target instanceof protobuf.Type)) throw new Error(`${where}: cannot resolve extendee '${field.extend}'`);
    return target.fullName;
  }

  private fieldType(field: Field, where: string): { type: FieldType; type_name?: string } {
    const scalar = SCALAR_TYPES[field.type];
    if (scalar !== undefined) return { type: scalar };
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) return { type: 'TYPE_ENUM', type_name: resolved.fullName };
    if (resolved instanceof protobuf.Type) {
      if (field.delimited) throw new Unsupported(where, 'groups / delimited encoding');
      return { type: 'TYPE_MESSAGE', type_name: resolved.fullName };
    }
    throw new Error(`${where}: unresolved type '${field.type}'`);
  }

  private field(field: Field, oneofs: readonly OneOf[], where: string): FieldDescriptor {
    const parent = field.parent;
    if (parent === null) throw new Error(`${where}: detached field`);
    const raw: Readonly<Record<string, unknown>> | undefined = field.options;
    let d: FieldDescriptor;
    if (field instanceof protobuf.MapField) {
      const type_name = `${parent.fullName}.${mapEntryName(field.name)}`;
      d = { name: field.name, number: field.id, label: 'LABEL_REPEATED', type: 'TYPE_MESSAGE', type_name };
    } else {
      const label: FieldLabel = field.repeated ? 'LABEL_REPEATED' : field.required ? 'LABEL_REQUIRED' : 'LABEL_OPTIONAL';
      d = { name: field.name, number: field.id, label, ...this.fieldType(field, where) };
    }
    if (field.extend !== undefined) d.extendee = this.extendee(field, where);
    if (raw?.['default'] !== undefined) d.default_value = String(raw['default']);
    if (field.partOf !== null) {
      const index = oneofs.indexOf(field.partOf);
      if (index < 0) throw new Error(`${where}: oneof '${field.partOf.name}' not in its message`);
      d.oneof_index = index;
    }
    if (raw?.['proto3_optional'] === true) d.proto3_optional = true;
    const options = this.optionMap(raw, parent, 'FieldOptions', where);
    if (options !== undefined) d.options = options;
    return d;
  }

  private mapEntry(field: Field, where: string): MessageDescriptor {
    if (!(field instanceof protobuf.MapField)) throw new Error(`${where}: not a map field`);
    const key = SCALAR_TYPES[field.keyType];
    if (key === undefined) throw new Error(`${where}: bad map key type '${field.keyType}'`);
    return {
      name: mapEntryName(field.name),
      field: [
        { name: 'key', number: 1, label: 'LABEL_OPTIONAL', type: key },
        { name: 'value', number: 2, label: 'LABEL_OPTIONAL', ...this.fieldType(field, `${where} value`) },
      ],
      options: { map_entry: true },
    };
  }

  private reserved(reserved: readonly (number[] | string)[] | undefined, endExclusive: boolean): {
    ranges: ReservedRange[];
    names: string[];
  } {
    const ranges: ReservedRange[] = [];
    const names: string[] = [];
    for (const r of reserved ?? []) {
      if (typeof r === 'string') names.push(r);
      else if (r[0] !== undefined && r[1] !== undefined) ranges.push({ start: r[0], end: endExclusive ? r[1] + 1 : r[1] });
    }
    return { ranges, names };
  }

  message(type: Type): MessageDescriptor {
    const where = `message ${bare(type.fullName)}`;
    // protoc orders proto3-optional synthetic oneofs after all real ones.
    const isSynthetic = (o: OneOf): boolean =>
      o.fieldsArray.length === 1 && o.fieldsArray[0]?.options?.['proto3_optional'] === true;
    const oneofs = [...type.oneofsArray.filter((o) => !isSynthetic(o)), ...type.oneofsArray.filter(isSynthetic)];
    const d: MessageDescriptor = { name: type.name };
    const fields = type.fieldsArray.map((f) => this.field(f, oneofs, `${where} field '${f.name}'`));
    if (fields.length > 0) d.field = fields;
    const nested: MessageDescriptor[] = [];
    const enums: EnumDescriptor[] = [];
    const extensions: FieldDescriptor[] = [];
    for (const obj of type.nestedArray) {
      if (obj instanceof protobuf.Type) nested.push(this.message(obj));
      else if (obj instanceof protobuf.Enum) enums.push(this.enumType(obj));
      else if (obj instanceof protobuf.Field) extensions.push(this.field(obj, [], `${where} extension '${obj.name}'`));
      else throw new Unsupported(where, `nested ${obj.toString()}`);
    }
    // Map entries go after the declared nested types (the comparison checks their
    // order separately, see descriptor-compare.ts).
    for (const f of type.fieldsArray) {
      if (f instanceof protobuf.MapField) nested.push(this.mapEntry(f, `${where} field '${f.name}'`));
    }
    if (extensions.length > 0) d.extension = extensions;
    if (nested.length > 0) d.nested_type = nested;
    if (enums.length > 0) d.enum_type = enums;
    if (type.extensions !== undefined && type.extensions.length > 0) {
      d.extension_range = type.extensions.map((r) => ({ start: r[0] ?? 0, end: (r[1] ?? 0) + 1 }));
    }
    const oneofDecls: OneofDescriptor[] = oneofs.map((o) => {
      const od: OneofDescriptor = { name: o.name };
      const options = this.optionMap(o.options, type, 'OneofOptions', `${where} oneof '${o.name}'`);
      if (options !== undefined) od.options = options;
      return od;
    });
    if (oneofDecls.length > 0) d.oneof_decl = oneofDecls;
    const options = this.optionMap(type.options, type, 'MessageOptions', where);
    if (options !== undefined) d.options = options;
    const { ranges, names } = this.reserved(type.reserved, true);
    if (ranges.length > 0) d.reserved_range = ranges;
    if (names.length > 0) d.reserved_name = names;
    return d;
  }

  enumType(e: Enum): EnumDescriptor {
    const where = `enum ${bare(e.fullName)}`;
    const scope = e.parent;
    if (scope === null) throw new Error(`${where}: detached enum`);
    const value: EnumValueDescriptor[] = Object.entries(e.values).map(([name, number]) => {
      const v: EnumValueDescriptor = { name, number };
      const options = this.optionMap(e.valuesOptions?.[name], scope, 'EnumValueOptions', `${where} value '${name}'`);
      if (options !== undefined) v.options = options;
      return v;
    });
    const d: EnumDescriptor = { name: e.name, value };
    const options = this.optionMap(e.options, scope, 'EnumOptions', where);
    if (options !== undefined) d.options = options;
    const { ranges, names } = this.reserved(e.reserved, false);
    if (ranges.length > 0) d.reserved_range = ranges;
    if (names.length > 0) d.reserved_name = names;
    return d;
  }

  service(s: Service): ServiceDescriptor {
    const where = `service ${bare(s.fullName)}`;
    const methods = s.methodsArray.map((m) => this.method(m, s, `${where} method '${m.name}'`));
    const d: ServiceDescriptor = { name: s.name };
    if (methods.length > 0) d.method = methods;
    const options = this.optionMap(s.options, s, 'ServiceOptions', where);
    if (options !== undefined) d.options = options;
    return d;
  }

  private method(m: Method, s: Service, where: string): MethodDescriptor {
    const input = m.resolvedRequestType;
    const output = m.resolvedResponseType;
    if (input === null || output === null) throw new Error(`${where}: unresolved request/response type`);
    const d: MethodDescriptor = { name: m.name, input_type: input.fullName, output_type: output.fullName };
    if (m.requestStream === true) d.client_streaming = true;
    if (m.responseStream === true) d.server_streaming = true;
    const options = this.optionMap(m.options, s, 'MethodOptions', where);
    if (options !== undefined) d.options = options;
    return d;
  }

  /** Top-level declarations of `file` directly inside `pkg` (the file's package). */
  file(file: string, pkg: Namespace, fileOptions: OptionMap | undefined): Omit<FileDescriptor, 'name' | 'syntax'> {
    const d: Omit<FileDescriptor, 'name' | 'syntax'> = {};
    const messages: MessageDescriptor[] = [];
    const enums: EnumDescriptor[] = [];
    const services: ServiceDescriptor[] = [];
    const extensions: FieldDescriptor[] = [];
    for (const obj of pkg.nestedArray) {
      if (obj.filename !== file) continue;
      if (obj instanceof protobuf.Type) messages.push(this.message(obj));
      else if (obj instanceof protobuf.Enum) enums.push(this.enumType(obj));
      else if (obj instanceof protobuf.Service) services.push(this.service(obj));
      else if (obj instanceof protobuf.Field) extensions.push(this.field(obj, [], `extension ${bare(obj.fullName)}`));
    }
    if (messages.length > 0) d.message_type = messages;
    if (enums.length > 0) d.enum_type = enums;
    if (services.length > 0) d.service = services;
    if (extensions.length > 0) d.extension = extensions;
    if (fileOptions !== undefined) d.options = fileOptions;
    return d;
  }

  /** File options live on the package namespace in protobufjs. */
  fileOptions(pkg: Namespace): OptionMap | undefined {
    return this.optionMap(pkg.options, pkg, 'FileOptions', `package ${bare(pkg.fullName) || '(none)'}`);
  }
}

export interface ProtoDescriptorResult {
  descriptor: FileDescriptor;
  /** The resolved protobufjs tree, for extra checks. */
  root: Root;
}

/**
 * Parses `protoFile` (imports of google/protobuf/* come from protobufjs' bundled
 * copies) and returns the FileDescriptor protoc would produce for it, with
 * `name` set to `importPath` (the path protoc would see, e.g. "csi.proto").
 */
export function descriptorFromProto(protoFile: string, importPath = path.basename(protoFile)): ProtoDescriptorResult {
  const absolute = path.resolve(protoFile);
  const source = readFileSync(absolute, 'utf8');
  const where = `file ${importPath}`;
  const syntax = readSyntax(source, where);

  // A throwaway parse just for the header facts (package, import list).
  const header = protobuf.parse(source, new protobuf.Root(), { keepCase: true });
  if ((header.weakImports ?? []).length > 0) throw new Unsupported(where, 'weak imports');

  const root = new protobuf.Root();
  const defaultResolve = root.resolvePath.bind(root);
  root.resolvePath = (origin: string, target: string): string | null =>
    target.startsWith('google/protobuf/') ? path.join(PROTOBUFJS_DIR, target) : defaultResolve(origin, target);
  root.loadSync(absolute, { keepCase: true });
  root.resolveAll();

  const pkgName = header.package ?? '';
  const pkg: ReflectionObject | null = pkgName === '' ? root : root.lookup(pkgName);
  if (!(pkg instanceof protobuf.Namespace)) throw new Error(`${where}: package '${pkgName}' not found after loading`);

  const converter = new Converter();
  const body = converter.file(absolute, pkg, converter.fileOptions(pkg));
  const descriptor: FileDescriptor = { name: importPath };
  if (pkgName !== '') descriptor.package = pkgName;
  if ((header.imports ?? []).length > 0) descriptor.dependency = [...(header.imports ?? [])];
  Object.assign(descriptor, body);
  if (syntax !== 'proto2') descriptor.syntax = syntax;
  return { descriptor, root };
}
