import { DomainError } from '../errors.js';

/**
 * Arguments for mkfs that come from users (the `mkfsOptions` StorageClass parameter) and therefore must not be able
 * to do anything but shape the filesystem being made on *our* device.
 *
 * The rule, for a text such as "-b 4096 -E stride=16 -L data":
 *  1. Split on whitespace. There is no quoting: a value with a space in it cannot be expressed.
 *  2. Every token uses only [A-Za-z0-9 _ . , : = + % @ ^ -]. No shell metacharacters (the text never meets a shell
 *     anyway: util/exec passes an argument array), and no '/', so no path to a file or another device can be named.
 *  3. Every option is a short option from an allow-list per filesystem, written `-X value`, `-Xvalue` or `-X`
 *     (no bundling such as `-Fq`, no long options, no bare words: a bare word would be taken as a device or a size).
 *  4. Options that read or write anything but the target device, do not make a filesystem, or change its type are
 *     refused (ext4: -c -d -l -n -S -t -V -z -M -R -s; xfs: -c -p -N -C -V), and so are sub-options that name
 *     another device or file or move the filesystem (ext4 -E offset/android_sparse, -J device, -O journal_dev;
 *     xfs -d name/file, -l logdev/name/file, -r rtdev/name/file).
 * Anything refused is `invalid-argument`, naming the token and the reason.
 */
export type MkfsFsType = 'ext4' | 'xfs';

export interface MkfsArg {
  flag: string;
  value?: string;
}

interface OptionSpec {
  takesValue: boolean;
  /** Sub-option keys (before '=') that are refused, for options whose value is a comma-separated list. */
  deniedKeys?: readonly string[];
  /** Values (list items) refused outright, e.g. a feature name. */
  deniedItems?: readonly string[];
}

const EXT4_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  b: { takesValue: true },
  C: { takesValue: true },
  D: { takesValue: false },
  e: { takesValue: true },
  E: { takesValue: true, deniedKeys: ['offset', 'android_sparse'] },
  F: { takesValue: false },
  g: { takesValue: true },
  G: { takesValue: true },
  i: { takesValue: true },
  I: { takesValue: true },
  j: { takesValue: false },
  J: { takesValue: true, deniedKeys: ['device'] },
  K: { takesValue: false },
  L: { takesValue: true },
  m: { takesValue: true },
  N: { takesValue: true },
  o: { takesValue: true },
  O: { takesValue: true, deniedItems: ['journal_dev'] },
  q: { takesValue: false },
  r: { takesValue: true },
  T: { takesValue: true },
  U: { takesValue: true },
  v: { takesValue: false },
};

const EXT4_REFUSED: Readonly<Record<string, string>> = {
  c: 'scans the device for bad blocks (hours on a large volume)',
  d: 'copies a host directory into the filesystem',
  l: 'reads a bad-block list from a host file',
  M: 'sets the last-mounted directory (a path)',
  n: 'is a dry run: no filesystem would be made',
  R: 'is obsolete (use -E)',
  s: 'is obsolete',
  S: 'writes superblocks only and can destroy data',
  t: 'changes the filesystem type',
  V: 'prints the version instead of making a filesystem',
  z: 'writes an undo file on the host',
};

const XFS_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  b: { takesValue: true },
  d: { takesValue: true, deniedKeys: ['name', 'file'] },
  f: { takesValue: false },
  i: { takesValue: true },
  K: { takesValue: false },
  l: { takesValue: true, deniedKeys: ['logdev', 'name', 'file'] },
  L: { takesValue: true },
  m: { takesValue: true },
  n: { takesValue: true },
  q: { takesValue: false },
  r: { takesValue: true, deniedKeys: ['rtdev', 'name', 'file'] },
  s: { takesValue: true },
};

const XFS_REFUSED: Readonly<Record<string, string>> = {
  c: 'reads a configuration file from the host',
  C: 'is not a mkfs.xfs option Ferry passes through',
  N: 'is a dry run: no filesystem would be made',
  p: 'reads a prototype file from the host',
  V: 'prints the version instead of making a filesystem',
};

const SAFE_TOKEN = /^[A-Za-z0-9_.,:=+%@^-]+$/;

function refuse(token: string, why: string): DomainError {
  return new DomainError('invalid-argument', `mkfs option "${token}" is not allowed: ${why}`);
}

function checkValue(flag: string, spec: OptionSpec, value: string): void {
  if (value === '') throw refuse(`-${flag}`, 'it needs a value');
  for (const item of value.split(',')) {
    const key = item.split('=')[0] ?? '';
    if (spec.deniedKeys?.includes(key)) throw refuse(`-${flag} ${value}`, `"${key}" would use another device or file, or move the filesystem`);
    if (spec.deniedItems?.includes(item)) throw refuse(`-${flag} ${value}`, `"${item}" does not make a mountable filesystem`);
  }
}

/** Validates already-split arguments into flag/value pairs (throws invalid-argument). */
export function parseMkfsArgs(tokens: readonly string[], fsType: MkfsFsType): MkfsArg[] {
  const allowed = fsType === 'ext4' ? EXT4_OPTIONS : XFS_OPTIONS;
  const refused = fsType === 'ext4' ? EXT4_REFUSED : XFS_REFUSED;
  const out: MkfsArg[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? '';
    if (!SAFE_TOKEN.test(token)) throw refuse(token, 'only letters, digits and _ . , : = + % @ ^ - are accepted (no paths, no shell syntax)');
    if (!token.startsWith('-') || token.length < 2) throw refuse(token, 'a bare word would be read as a device or a size');
    if (token.startsWith('--')) throw refuse(token, 'long options are not accepted');
    const flag = token.charAt(1);
    const reason = refused[flag];
    if (reason !== undefined) throw refuse(token, `-${flag} ${reason}`);
    const spec = allowed[flag];
    if (spec === undefined) throw refuse(token, `-${flag} is not a known mkfs.${fsType} option`);
    if (!spec.takesValue) {
      if (token.length > 2) throw refuse(token, 'write each option separately (no bundling)');
      out.push({ flag });
      continue;
    }
    let value = token.slice(2);
    if (value === '') {
      const next = tokens[i + 1];
      if (next === undefined) throw refuse(token, 'it needs a value');
      if (!SAFE_TOKEN.test(next)) throw refuse(next, 'only letters, digits and _ . , : = + % @ ^ - are accepted (no paths, no shell syntax)');
      value = next;
      i++;
    }
    checkValue(flag, spec, value);
    out.push({ flag, value });
  }
  return out;
}

/** The `mkfsOptions` parameter text → a validated argument array (empty for an absent or blank parameter). */
export function parseMkfsOptions(text: string | undefined, fsType: MkfsFsType): string[] {
  if (text === undefined || text.trim() === '') return [];
  return renderMkfsArgs(parseMkfsArgs(text.trim().split(/\s+/), fsType));
}

export function renderMkfsArgs(args: readonly MkfsArg[]): string[] {
  return args.flatMap((a) => (a.value === undefined ? [`-${a.flag}`] : [`-${a.flag}`, a.value]));
}

const EXT4_LAZY_INIT = ['lazy_itable_init=1', 'lazy_journal_init=1'];

/**
 * Ferry's defaults merged with the caller's (validated) extra arguments, device not included.
 * ext4: -F (no interactive question), -m 0 (no root-reserved blocks on a single-purpose volume) unless the caller
 * gives -m, and lazy inode-table/journal initialisation (mkfs in seconds, not minutes, on a large thin volume) unless
 * the caller sets those keys. mke2fs honours only the last -E, so all -E lists are merged into one.
 * xfs: -f, because a device reaches mkfs only after blkid found no signature at all (stale xfs remnants blkid ignores
 * would otherwise make mkfs.xfs refuse).
 */
export function mkfsArguments(fsType: MkfsFsType, extraArgs: readonly string[]): string[] {
  const extra = parseMkfsArgs(extraArgs, fsType);
  if (fsType === 'xfs') return ['-f', ...renderMkfsArgs(extra.filter((a) => a.flag !== 'f'))];

  const userExtended = extra.filter((a) => a.flag === 'E').flatMap((a) => (a.value ?? '').split(','));
  const userKeys = new Set(userExtended.map((item) => item.split('=')[0]));
  const extended = [...EXT4_LAZY_INIT.filter((item) => !userKeys.has(item.split('=')[0])), ...userExtended];
  const hasReserve = extra.some((a) => a.flag === 'm');
  return [
    '-F',
    ...(hasReserve ? [] : ['-m', '0']),
    ...(extended.length > 0 ? ['-E', extended.join(',')] : []),
    ...renderMkfsArgs(extra.filter((a) => a.flag !== 'E' && a.flag !== 'F')),
  ];
}
