// Builds (once, cached) and runs test/proto/descriptor-dump, a Go program that
// prints the FileDescriptorProto compiled into the official CSI Go bindings
// (github.com/container-storage-interface/spec v1.12.0) as protojson.
//
// The binary is cached like scripts/install-tools.sh caches its tools, one
// directory per version: ${FERRY_TOOLS_DIR:-${XDG_CACHE_HOME:-~/.cache}/ferry-tools}/
// descriptor-dump-<hash>/descriptor-dump, where <hash> covers the Go version and
// every source / module file of the program, so edits or a Go upgrade rebuild it. A cold
// build downloads the modules listed in go.sum (the Go module proxy) and can take
// a few minutes; Go's own build cache keeps rebuilds fast.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { parseFileDescriptorJson } from './descriptor-model.js';
import type { FileDescriptor } from './descriptor-model.js';

const execFileAsync = promisify(execFile);

export const DESCRIPTOR_DUMP_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'descriptor-dump');

function goCommand(): string {
  return process.env['GO'] ?? 'go';
}

function toolsCacheDir(): string {
  const explicit = process.env['FERRY_TOOLS_DIR'];
  if (explicit !== undefined && explicit !== '') return explicit;
  const xdg = process.env['XDG_CACHE_HOME'];
  const base = xdg !== undefined && xdg !== '' ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'ferry-tools');
}

async function run(cmd: string, args: readonly string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, [...args], { cwd, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(`'${cmd}' not found: the wire-identity test needs a Go toolchain on PATH (or set GO=/path/to/go)`);
    }
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}

/** Hash of everything that determines the binary: Go version and the program's files. */
async function buildKey(go: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(await run(go, ['env', 'GOVERSION', 'GOOS', 'GOARCH'], DESCRIPTOR_DUMP_DIR));
  const files = (await readdir(DESCRIPTOR_DUMP_DIR))
    .filter((f) => f.endsWith('.go') || f === 'go.mod' || f === 'go.sum')
    .sort();
  for (const f of files) {
    hash.update(`\0${f}\0`);
    hash.update(await readFile(path.join(DESCRIPTOR_DUMP_DIR, f)));
  }
  return hash.digest('hex').slice(0, 16);
}

/** Returns the path of the descriptor-dump binary, building it if needed. */
export async function descriptorDumpBinary(): Promise<string> {
  const go = goCommand();
  const dir = path.join(toolsCacheDir(), `descriptor-dump-${await buildKey(go)}`);
  const bin = path.join(dir, `descriptor-dump${process.platform === 'win32' ? '.exe' : ''}`);
  if (existsSync(bin)) return bin;
  await mkdir(dir, { recursive: true });
  const tmp = `${bin}.tmp-${process.pid}`;
  try {
    // -mod=readonly: go.mod/go.sum in the repository must already be complete.
    await run(go, ['build', '-mod=readonly', '-buildvcs=false', '-trimpath', '-o', tmp, '.'], DESCRIPTOR_DUMP_DIR);
    await rename(tmp, bin); // atomic: concurrent test workers never see a partial binary
  } finally {
    await rm(tmp, { force: true });
  }
  return bin;
}

/** The official CSI FileDescriptorProto, validated against descriptor-model.ts. */
export async function loadOfficialDescriptor(): Promise<FileDescriptor> {
  const bin = await descriptorDumpBinary();
  const json: unknown = JSON.parse(await run(bin, [], DESCRIPTOR_DUMP_DIR));
  return parseFileDescriptorJson(json);
}
