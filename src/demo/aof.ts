import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/**
 * The data of the demo: what Redis with `appendonly yes` keeps on its volume, an append-only file of commands in the
 * Redis protocol (RESP). The content is generated from a fixed seed, so every run writes the same bytes; its SHA-256 is
 * taken while writing and compared after every move.
 */
export interface AofSummary {
  bytes: number;
  commands: number;
  sha256: string;
}

export const AOF_FILE = 'appendonly.aof';

function resp(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** xorshift32: small, fast and the same everywhere. */
function generator(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Writes at least `targetBytes` of SET commands to `file`, flushed to the device (fsync) before it answers. */
export async function writeAof(file: string, targetBytes: number): Promise<AofSummary> {
  const next = generator(0x5eed_f00d);
  // Values are slices of one random text: as varied as needed, and quick to make at hundreds of MiB.
  let text = '';
  for (let i = 0; i < 1 << 16; i++) text += ALPHABET[next() % ALPHABET.length];
  const hash = createHash('sha256');
  const handle = await open(file, 'wx', 0o644);
  let bytes = 0;
  let commands = 0;
  try {
    const header = resp(['SELECT', '0']);
    let chunk = header;
    commands++;
    // Every character is ASCII: a string's length is its size in bytes.
    while (bytes + chunk.length < targetBytes) {
      const length = 64 + (next() % 192);
      const from = next() % (text.length - length);
      const value = text.slice(from, from + length);
      chunk += resp(['SET', `session:${commands.toString().padStart(6, '0')}`, value]);
      commands++;
      if (chunk.length >= 1 << 20) {
        bytes += await append(handle, hash, chunk);
        chunk = '';
      }
    }
    bytes += await append(handle, hash, chunk);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { bytes, commands, sha256: hash.digest('hex') };
}

async function append(handle: FileHandle, hash: Hash, text: string): Promise<number> {
  const data = Buffer.from(text, 'utf8');
  hash.update(data);
  let offset = 0;
  while (offset < data.length) offset += (await handle.write(data, offset)).bytesWritten;
  return data.length;
}

/** SHA-256 and size of a file, read from the start. */
export async function hashFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const data of createReadStream(file)) {
    const buffer = data as Buffer;
    hash.update(buffer);
    bytes += buffer.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}
