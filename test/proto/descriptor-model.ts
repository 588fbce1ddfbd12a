// The subset of google.protobuf.FileDescriptorProto that the wire-identity test
// compares, in the shape protojson prints it with UseProtoNames (snake_case keys,
// enum values as names, unset fields omitted). parseFileDescriptorJson() checks an
// untyped JSON value against this shape and REJECTS keys it does not model, so a
// descriptor feature we do not compare can never be skipped silently.

/** Option values we support: scalars only (the CSI options are all bools). */
export type OptionValue = boolean | number | string;

/**
 * Options of one element. Keys are standard option names in snake_case
 * (`go_package`, `map_entry`, `deprecated`, ...) or custom options (extensions)
 * as protojson prints them: `[csi.v1.csi_secret]`.
 */
export type OptionMap = Record<string, OptionValue>;

export type FieldLabel = 'LABEL_OPTIONAL' | 'LABEL_REQUIRED' | 'LABEL_REPEATED';

export type FieldType =
  | 'TYPE_DOUBLE'
  | 'TYPE_FLOAT'
  | 'TYPE_INT64'
  | 'TYPE_UINT64'
  | 'TYPE_INT32'
  | 'TYPE_FIXED64'
  | 'TYPE_FIXED32'
  | 'TYPE_BOOL'
  | 'TYPE_STRING'
  | 'TYPE_GROUP'
  | 'TYPE_MESSAGE'
  | 'TYPE_BYTES'
  | 'TYPE_UINT32'
  | 'TYPE_ENUM'
  | 'TYPE_SFIXED32'
  | 'TYPE_SFIXED64'
  | 'TYPE_SINT32'
  | 'TYPE_SINT64';

const FIELD_LABELS: readonly FieldLabel[] = ['LABEL_OPTIONAL', 'LABEL_REQUIRED', 'LABEL_REPEATED'];
const FIELD_TYPES: readonly FieldType[] = [
  'TYPE_DOUBLE', 'TYPE_FLOAT', 'TYPE_INT64', 'TYPE_UINT64', 'TYPE_INT32', 'TYPE_FIXED64',
  'TYPE_FIXED32', 'TYPE_BOOL', 'TYPE_STRING', 'TYPE_GROUP', 'TYPE_MESSAGE', 'TYPE_BYTES',
  'TYPE_UINT32', 'TYPE_ENUM', 'TYPE_SFIXED32', 'TYPE_SFIXED64', 'TYPE_SINT32', 'TYPE_SINT64',
];

/** FieldDescriptorProto (also used for extensions, which carry `extendee`). */
export interface FieldDescriptor {
  name: string;
  number: number;
  label: FieldLabel;
  type: FieldType;
  /** Fully-qualified (leading dot) for message and enum fields. */
  type_name?: string;
  /** Fully-qualified message being extended; extensions only. */
  extendee?: string;
  default_value?: string;
  oneof_index?: number;
  /** Not compared (protoc derives it from the name). */
  json_name?: string;
  proto3_optional?: boolean;
  options?: OptionMap;
}

export interface OneofDescriptor {
  name: string;
  options?: OptionMap;
}

export interface EnumValueDescriptor {
  name: string;
  number: number;
  options?: OptionMap;
}

/** A number range as the descriptor stores it (enum ranges: end inclusive; message ranges: end exclusive). */
export interface ReservedRange {
  start: number;
  end: number;
}

export interface EnumDescriptor {
  name: string;
  value: EnumValueDescriptor[];
  options?: OptionMap;
  reserved_range?: ReservedRange[];
  reserved_name?: string[];
}

export interface MessageDescriptor {
  name: string;
  field?: FieldDescriptor[];
  extension?: FieldDescriptor[];
  nested_type?: MessageDescriptor[];
  enum_type?: EnumDescriptor[];
  extension_range?: ReservedRange[];
  oneof_decl?: OneofDescriptor[];
  options?: OptionMap;
  reserved_range?: ReservedRange[];
  reserved_name?: string[];
}

export interface MethodDescriptor {
  name: string;
  /** Fully-qualified request message. */
  input_type: string;
  /** Fully-qualified response message. */
  output_type: string;
  client_streaming?: boolean;
  server_streaming?: boolean;
  options?: OptionMap;
}

export interface ServiceDescriptor {
  name: string;
  method?: MethodDescriptor[];
  options?: OptionMap;
}

export interface FileDescriptor {
  name: string;
  package?: string;
  dependency?: string[];
  message_type?: MessageDescriptor[];
  enum_type?: EnumDescriptor[];
  service?: ServiceDescriptor[];
  extension?: FieldDescriptor[];
  options?: OptionMap;
  /** "proto2" is the default and printed as absent by protojson. */
  syntax?: string;
}

// ---------------------------------------------------------------------------
// Validation of untyped JSON (the Go program's output)
// ---------------------------------------------------------------------------

type JsonObject = Record<string, unknown>;

class DescriptorJsonError extends Error {
  constructor(where: string, what: string) {
    super(`descriptor JSON at ${where}: ${what}`);
    this.name = 'DescriptorJsonError';
  }
}

function asObject(value: unknown, where: string, allowedKeys: readonly string[]): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DescriptorJsonError(where, `expected an object, got ${JSON.stringify(value)}`);
  }
  const obj = value as JsonObject;
  for (const key of Object.keys(obj)) {
    if (!allowedKeys.includes(key)) {
      throw new DescriptorJsonError(where, `unmodelled key '${key}' (extend descriptor-model.ts and the comparison)`);
    }
  }
  return obj;
}

function str(obj: JsonObject, key: string, where: string): string {
  const v = obj[key];
  if (typeof v !== 'string') throw new DescriptorJsonError(where, `'${key}' must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function optStr(obj: JsonObject, key: string, where: string): string | undefined {
  return obj[key] === undefined ? undefined : str(obj, key, where);
}

function num(obj: JsonObject, key: string, where: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new DescriptorJsonError(where, `'${key}' must be an integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function optNum(obj: JsonObject, key: string, where: string): number | undefined {
  return obj[key] === undefined ? undefined : num(obj, key, where);
}

function optBool(obj: JsonObject, key: string, where: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new DescriptorJsonError(where, `'${key}' must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

function optArray<T>(obj: JsonObject, key: string, where: string, item: (v: unknown, w: string) => T): T[] | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new DescriptorJsonError(where, `'${key}' must be an array`);
  return v.map((el: unknown, i) => item(el, `${where}.${key}[${i}]`));
}

function optEnum<T extends string>(obj: JsonObject, key: string, where: string, allowed: readonly T[]): T | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  const found = allowed.find((a) => a === v);
  if (found === undefined) throw new DescriptorJsonError(where, `'${key}' has unexpected value ${JSON.stringify(v)}`);
  return found;
}

function setIfDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function parseOptions(obj: JsonObject, where: string): OptionMap | undefined {
  const raw = obj['options'];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new DescriptorJsonError(where, `'options' must be an object`);
  }
  const out: OptionMap = {};
  for (const [key, value] of Object.entries(raw as JsonObject)) {
    if (typeof value !== 'boolean' && typeof value !== 'number' && typeof value !== 'string') {
      throw new DescriptorJsonError(`${where}.options`, `option '${key}' is not a scalar (unmodelled): ${JSON.stringify(value)}`);
    }
    out[key] = value;
  }
  return out;
}

function parseRange(v: unknown, where: string): ReservedRange {
  const o = asObject(v, where, ['start', 'end']);
  return { start: num(o, 'start', where), end: num(o, 'end', where) };
}

function parseStringItem(v: unknown, where: string): string {
  if (typeof v !== 'string') throw new DescriptorJsonError(where, `expected a string, got ${JSON.stringify(v)}`);
  return v;
}

function parseField(v: unknown, where: string): FieldDescriptor {
  const o = asObject(v, where, [
    'name', 'number', 'label', 'type', 'type_name', 'extendee', 'default_value',
    'oneof_index', 'json_name', 'proto3_optional', 'options',
  ]);
  const label = optEnum(o, 'label', where, FIELD_LABELS);
  const type = optEnum(o, 'type', where, FIELD_TYPES);
  if (label === undefined || type === undefined) throw new DescriptorJsonError(where, 'field without label or type');
  const f: FieldDescriptor = { name: str(o, 'name', where), number: num(o, 'number', where), label, type };
  setIfDefined(f, 'type_name', optStr(o, 'type_name', where));
  setIfDefined(f, 'extendee', optStr(o, 'extendee', where));
  setIfDefined(f, 'default_value', optStr(o, 'default_value', where));
  setIfDefined(f, 'oneof_index', optNum(o, 'oneof_index', where));
  setIfDefined(f, 'json_name', optStr(o, 'json_name', where));
  setIfDefined(f, 'proto3_optional', optBool(o, 'proto3_optional', where));
  setIfDefined(f, 'options', parseOptions(o, where));
  return f;
}

function parseOneof(v: unknown, where: string): OneofDescriptor {
  const o = asObject(v, where, ['name', 'options']);
  const d: OneofDescriptor = { name: str(o, 'name', where) };
  setIfDefined(d, 'options', parseOptions(o, where));
  return d;
}

function parseEnumValue(v: unknown, where: string): EnumValueDescriptor {
  const o = asObject(v, where, ['name', 'number', 'options']);
  const d: EnumValueDescriptor = { name: str(o, 'name', where), number: num(o, 'number', where) };
  setIfDefined(d, 'options', parseOptions(o, where));
  return d;
}

function parseEnum(v: unknown, where: string): EnumDescriptor {
  const o = asObject(v, where, ['name', 'value', 'options', 'reserved_range', 'reserved_name']);
  const name = str(o, 'name', where);
  const at = `${where}(${name})`;
  const d: EnumDescriptor = { name, value: optArray(o, 'value', at, parseEnumValue) ?? [] };
  setIfDefined(d, 'options', parseOptions(o, at));
  setIfDefined(d, 'reserved_range', optArray(o, 'reserved_range', at, parseRange));
  setIfDefined(d, 'reserved_name', optArray(o, 'reserved_name', at, parseStringItem));
  return d;
}

function parseMessage(v: unknown, where: string): MessageDescriptor {
  const o = asObject(v, where, [
    'name', 'field', 'extension', 'nested_type', 'enum_type', 'extension_range',
    'oneof_decl', 'options', 'reserved_range', 'reserved_name',
  ]);
  const name = str(o, 'name', where);
  const at = `${where}(${name})`;
  const d: MessageDescriptor = { name };
  setIfDefined(d, 'field', optArray(o, 'field', at, parseField));
  setIfDefined(d, 'extension', optArray(o, 'extension', at, parseField));
  setIfDefined(d, 'nested_type', optArray(o, 'nested_type', at, parseMessage));
  setIfDefined(d, 'enum_type', optArray(o, 'enum_type', at, parseEnum));
  setIfDefined(d, 'extension_range', optArray(o, 'extension_range', at, parseRange));
  setIfDefined(d, 'oneof_decl', optArray(o, 'oneof_decl', at, parseOneof));
  setIfDefined(d, 'options', parseOptions(o, at));
  setIfDefined(d, 'reserved_range', optArray(o, 'reserved_range', at, parseRange));
  setIfDefined(d, 'reserved_name', optArray(o, 'reserved_name', at, parseStringItem));
  return d;
}

function parseMethod(v: unknown, where: string): MethodDescriptor {
  const o = asObject(v, where, ['name', 'input_type', 'output_type', 'client_streaming', 'server_streaming', 'options']);
  const d: MethodDescriptor = {
    name: str(o, 'name', where),
    input_type: str(o, 'input_type', where),
    output_type: str(o, 'output_type', where),
  };
  setIfDefined(d, 'client_streaming', optBool(o, 'client_streaming', where));
  setIfDefined(d, 'server_streaming', optBool(o, 'server_streaming', where));
  setIfDefined(d, 'options', parseOptions(o, where));
  return d;
}

function parseService(v: unknown, where: string): ServiceDescriptor {
  const o = asObject(v, where, ['name', 'method', 'options']);
  const name = str(o, 'name', where);
  const at = `${where}(${name})`;
  const d: ServiceDescriptor = { name };
  setIfDefined(d, 'method', optArray(o, 'method', at, parseMethod));
  setIfDefined(d, 'options', parseOptions(o, at));
  return d;
}

/**
 * Validates protojson output of a FileDescriptorProto (UseProtoNames) and returns
 * it typed. Throws on anything outside the modelled subset (e.g. source_code_info,
 * public_dependency, editions features), naming the offending path.
 */
export function parseFileDescriptorJson(value: unknown): FileDescriptor {
  const where = 'file';
  const o = asObject(value, where, [
    'name', 'package', 'dependency', 'message_type', 'enum_type', 'service', 'extension', 'options', 'syntax',
  ]);
  const d: FileDescriptor = { name: str(o, 'name', where) };
  setIfDefined(d, 'package', optStr(o, 'package', where));
  setIfDefined(d, 'dependency', optArray(o, 'dependency', where, parseStringItem));
  setIfDefined(d, 'message_type', optArray(o, 'message_type', where, parseMessage));
  setIfDefined(d, 'enum_type', optArray(o, 'enum_type', where, parseEnum));
  setIfDefined(d, 'service', optArray(o, 'service', where, parseService));
  setIfDefined(d, 'extension', optArray(o, 'extension', where, parseField));
  setIfDefined(d, 'options', parseOptions(o, where));
  setIfDefined(d, 'syntax', optStr(o, 'syntax', where));
  return d;
}
