// Pure, element-by-element comparison of two FileDescriptors (see descriptor-model.ts).
// Returns one human-readable line per difference, naming the element, e.g.
//   message csi.v1.CreateVolumeRequest field 'name': number official 1 != ours 2
// Lists of named elements are compared as sets keyed by name (missing / extra
// elements are reported) and in declaration order. json_name is ignored.

import type {
  EnumDescriptor,
  FieldDescriptor,
  FileDescriptor,
  MessageDescriptor,
  MethodDescriptor,
  OneofDescriptor,
  OptionMap,
  OptionValue,
  ReservedRange,
  ServiceDescriptor,
} from './descriptor-model.js';

/** How the two sides are called in difference messages. */
export interface SideLabels {
  expected: string;
  actual: string;
}

const DEFAULT_LABELS: SideLabels = { expected: 'official', actual: 'ours' };

function show(value: OptionValue | readonly unknown[] | undefined): string {
  return value === undefined ? '(unset)' : JSON.stringify(value);
}

function fullName(scope: string, name: string): string {
  return scope === '' ? name : `${scope}.${name}`;
}

function isMapEntry(m: MessageDescriptor): boolean {
  return m.options?.['map_entry'] === true;
}

class Differ {
  readonly diffs: string[] = [];

  constructor(private readonly labels: SideLabels) {}

  private report(line: string): void {
    this.diffs.push(line);
  }

  /** Reports `ctx: prop <expected> != <actual>` when the values differ. */
  value(ctx: string, prop: string, expected: OptionValue | undefined, actual: OptionValue | undefined): void {
    if (expected !== actual) {
      this.report(`${ctx}: ${prop} ${this.labels.expected} ${show(expected)} != ${this.labels.actual} ${show(actual)}`);
    }
  }

  /** Ordered list of plain values (dependencies, reserved names/ranges). */
  list(ctx: string, prop: string, expected: readonly unknown[] | undefined, actual: readonly unknown[] | undefined): void {
    const e = expected ?? [];
    const a = actual ?? [];
    if (JSON.stringify(e) !== JSON.stringify(a)) {
      this.report(`${ctx}: ${prop} ${this.labels.expected} ${show(e)} != ${this.labels.actual} ${show(a)}`);
    }
  }

  /** Options keyed by option name; custom options appear as `[pkg.ext]`. */
  options(ctx: string, expected: OptionMap | undefined, actual: OptionMap | undefined): void {
    const keys = [...new Set([...Object.keys(expected ?? {}), ...Object.keys(actual ?? {})])].sort();
    for (const key of keys) {
      this.value(ctx, `option ${key}`, expected?.[key], actual?.[key]);
    }
  }

  /**
   * Compares two lists of named elements: duplicates, missing and extra names,
   * declaration order (within each group given by `group`), then `each` for
   * every name present on both sides.
   */
  named<T extends { name: string }>(
    ctx: string,
    kind: string,
    expected: readonly T[] | undefined,
    actual: readonly T[] | undefined,
    each: (e: T, a: T) => void,
    group: (t: T) => string = () => '',
  ): void {
    const e = expected ?? [];
    const a = actual ?? [];
    const eByName = this.index(ctx, kind, e, this.labels.expected);
    const aByName = this.index(ctx, kind, a, this.labels.actual);
    for (const item of e) {
      if (!aByName.has(item.name)) this.report(`${ctx}: ${kind} '${item.name}' missing in ${this.labels.actual}`);
    }
    for (const item of a) {
      if (!eByName.has(item.name)) {
        this.report(`${ctx}: ${kind} '${item.name}' only in ${this.labels.actual} (not in ${this.labels.expected})`);
      }
    }
    const groups = [...new Set([...e, ...a].map(group))];
    for (const g of groups) {
      const eOrder = e.filter((t) => group(t) === g && aByName.has(t.name)).map((t) => t.name);
      const aOrder = a.filter((t) => group(t) === g && eByName.has(t.name)).map((t) => t.name);
      if (eOrder.join('\n') !== aOrder.join('\n')) {
        const what = g === '' ? kind : `${kind} (${g})`;
        this.report(
          `${ctx}: ${what} order differs: ${this.labels.expected} [${eOrder.join(', ')}] != ${this.labels.actual} [${aOrder.join(', ')}]`,
        );
      }
    }
    for (const item of e) {
      const other = aByName.get(item.name);
      if (other !== undefined) each(item, other);
    }
  }

  private index<T extends { name: string }>(ctx: string, kind: string, items: readonly T[], side: string): Map<string, T> {
    const byName = new Map<string, T>();
    for (const item of items) {
      if (byName.has(item.name)) this.report(`${ctx}: ${kind} '${item.name}' declared twice in ${side}`);
      else byName.set(item.name, item);
    }
    return byName;
  }

  private qualifiedName(ctx: string, prop: string, name: string | undefined, side: string): void {
    if (name !== undefined && !name.startsWith('.')) {
      this.report(`${ctx}: ${prop} '${name}' in ${side} is not fully-qualified`);
    }
  }

  field(ctx: string, e: FieldDescriptor, a: FieldDescriptor, eOneofs: readonly OneofDescriptor[], aOneofs: readonly OneofDescriptor[]): void {
    this.value(ctx, 'number', e.number, a.number);
    this.value(ctx, 'label', e.label, a.label);
    this.value(ctx, 'type', e.type, a.type);
    this.qualifiedName(ctx, 'type_name', e.type_name, this.labels.expected);
    this.qualifiedName(ctx, 'type_name', a.type_name, this.labels.actual);
    this.value(ctx, 'type_name', e.type_name, a.type_name);
    this.qualifiedName(ctx, 'extendee', e.extendee, this.labels.expected);
    this.qualifiedName(ctx, 'extendee', a.extendee, this.labels.actual);
    this.value(ctx, 'extendee', e.extendee, a.extendee);
    this.value(ctx, 'default_value', e.default_value, a.default_value);
    if (e.oneof_index !== a.oneof_index) {
      const name = (list: readonly OneofDescriptor[], i: number | undefined): string =>
        i === undefined ? '' : ` ('${list[i]?.name ?? '?'}')`;
      this.report(
        `${ctx}: oneof_index ${this.labels.expected} ${show(e.oneof_index)}${name(eOneofs, e.oneof_index)} != ` +
          `${this.labels.actual} ${show(a.oneof_index)}${name(aOneofs, a.oneof_index)}`,
      );
    }
    this.value(ctx, 'proto3_optional', e.proto3_optional ?? false, a.proto3_optional ?? false);
    this.options(ctx, e.options, a.options);
  }

  enumType(scope: string, e: EnumDescriptor, a: EnumDescriptor): void {
    const ctx = `enum ${fullName(scope, e.name)}`;
    this.options(ctx, e.options, a.options);
    this.named(ctx, 'value', e.value, a.value, (ev, av) => {
      const vctx = `${ctx} value '${ev.name}'`;
      this.value(vctx, 'number', ev.number, av.number);
      this.options(vctx, ev.options, av.options);
    });
    this.ranges(ctx, 'reserved_range', e.reserved_range, a.reserved_range);
    this.list(ctx, 'reserved_name', e.reserved_name, a.reserved_name);
  }

  message(scope: string, e: MessageDescriptor, a: MessageDescriptor): void {
    const name = fullName(scope, e.name);
    const ctx = `message ${name}`;
    this.options(ctx, e.options, a.options);
    const eOneofs = e.oneof_decl ?? [];
    const aOneofs = a.oneof_decl ?? [];
    this.named(ctx, 'oneof', eOneofs, aOneofs, (eo, ao) => this.options(`${ctx} oneof '${eo.name}'`, eo.options, ao.options));
    this.named(ctx, 'field', e.field, a.field, (ef, af) => this.field(`${ctx} field '${ef.name}'`, ef, af, eOneofs, aOneofs));
    this.named(ctx, 'extension', e.extension, a.extension, (ef, af) =>
      this.field(`${ctx} extension '${ef.name}'`, ef, af, eOneofs, aOneofs),
    );
    // protoc inserts a map field's synthetic XxxEntry type at the map field's
    // position among explicitly nested messages; parsers that do not keep source
    // positions cannot reproduce that interleaving, so order is checked within
    // each group (explicit messages, map entries) and membership across both.
    this.named(ctx, 'nested message', e.nested_type, a.nested_type, (en, an) => this.message(name, en, an), (m) =>
      isMapEntry(m) ? 'map entries' : 'declared',
    );
    this.named(ctx, 'nested enum', e.enum_type, a.enum_type, (ee, ae) => this.enumType(name, ee, ae));
    this.ranges(ctx, 'extension_range', e.extension_range, a.extension_range);
    this.ranges(ctx, 'reserved_range', e.reserved_range, a.reserved_range);
    this.list(ctx, 'reserved_name', e.reserved_name, a.reserved_name);
  }

  service(scope: string, e: ServiceDescriptor, a: ServiceDescriptor): void {
    const ctx = `service ${fullName(scope, e.name)}`;
    this.options(ctx, e.options, a.options);
    this.named(ctx, 'method', e.method, a.method, (em, am) => this.method(`${ctx} method '${em.name}'`, em, am));
  }

  private method(ctx: string, e: MethodDescriptor, a: MethodDescriptor): void {
    this.qualifiedName(ctx, 'input_type', e.input_type, this.labels.expected);
    this.qualifiedName(ctx, 'input_type', a.input_type, this.labels.actual);
    this.value(ctx, 'input_type', e.input_type, a.input_type);
    this.qualifiedName(ctx, 'output_type', e.output_type, this.labels.expected);
    this.qualifiedName(ctx, 'output_type', a.output_type, this.labels.actual);
    this.value(ctx, 'output_type', e.output_type, a.output_type);
    this.value(ctx, 'client_streaming', e.client_streaming ?? false, a.client_streaming ?? false);
    this.value(ctx, 'server_streaming', e.server_streaming ?? false, a.server_streaming ?? false);
    this.options(ctx, e.options, a.options);
  }

  private ranges(ctx: string, prop: string, e: readonly ReservedRange[] | undefined, a: readonly ReservedRange[] | undefined): void {
    const flat = (rs: readonly ReservedRange[] | undefined): string[] => (rs ?? []).map((r) => `${r.start}..${r.end}`);
    this.list(ctx, prop, flat(e), flat(a));
  }

  file(e: FileDescriptor, a: FileDescriptor): void {
    const ctx = `file '${e.name}'`;
    this.value(ctx, 'name', e.name, a.name);
    this.value(ctx, 'package', e.package, a.package);
    this.value(ctx, 'syntax', e.syntax ?? 'proto2', a.syntax ?? 'proto2');
    this.named(
      ctx,
      'dependency',
      (e.dependency ?? []).map((name) => ({ name })),
      (a.dependency ?? []).map((name) => ({ name })),
      () => undefined,
    );
    this.options(ctx, e.options, a.options);
    const scope = e.package ?? '';
    const pkgCtx = `package ${scope === '' ? '(none)' : scope}`;
    this.named(pkgCtx, 'extension', e.extension, a.extension, (ef, af) =>
      this.field(`extension ${fullName(scope, ef.name)}`, ef, af, [], []),
    );
    this.named(pkgCtx, 'service', e.service, a.service, (es, as) => this.service(scope, es, as));
    this.named(pkgCtx, 'message', e.message_type, a.message_type, (em, am) => this.message(scope, em, am));
    this.named(pkgCtx, 'enum', e.enum_type, a.enum_type, (ee, ae) => this.enumType(scope, ee, ae));
  }
}

/**
 * Compares `actual` against `expected` and returns every difference found
 * (empty array: identical in everything we model, json_name excepted).
 */
export function compareFileDescriptors(
  expected: FileDescriptor,
  actual: FileDescriptor,
  labels: SideLabels = DEFAULT_LABELS,
): string[] {
  const differ = new Differ(labels);
  differ.file(expected, actual);
  return differ.diffs;
}
