import { createHash } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { stateJson, writeFileAtomic } from '../util/atomic-file.js';
import { errnoCode } from './common.js';

/**
 * What this node staged and published, one small file per volume. Written before each mount, so that after a crash
 * or a restart the node plugin knows what it holds even when the CO does not call again (a volume taken over by
 * another node is never unstaged here by the CO).
 */
const recordSchema = z.object({
  volumeId: z.string(),
  devicePath: z.string(),
  stagingPath: z.string(),
  accessType: z.enum(['mount', 'block']),
  /** major:minor of the device when it was staged: a link that now leads elsewhere means a new mapping. */
  deviceNumber: z.string().optional(),
  targets: z.array(z.string()),
  /**
   * major:minor of the device while our mkfs runs on it, cleared once it has finished: after a crash it proves that
   * a half-made filesystem found there is our own (mkfs.xfs leaves one that blkid recognises but no kernel mounts).
   */
  formatting: z.string().optional(),
});

export type StagedVolume = z.infer<typeof recordSchema>;

/** The folder inside the state directory that holds resize2fs undo files. */
const UNDO_DIR = 'undo';

export class NodeStateStore {
  constructor(private readonly dir: string) {}

  private key(volumeId: string): string {
    return createHash('sha256').update(volumeId).digest('hex').slice(0, 40);
  }

  private file(volumeId: string): string {
    return path.join(this.dir, `${this.key(volumeId)}.json`);
  }

  /** Where an offline resize2fs of this volume keeps its undo file while it runs (see growFilesystem). */
  undoFile(volumeId: string): string {
    return path.join(this.dir, UNDO_DIR, `${this.key(volumeId)}.e2undo`);
  }

  async get(volumeId: string): Promise<StagedVolume | undefined> {
    return this.read(this.file(volumeId));
  }

  /** `durable: false` for a change a crash may undo (see writeFileAtomic): one that only forgets something. */
  async put(record: StagedVolume, options: { durable?: boolean } = {}): Promise<void> {
    await writeFileAtomic(this.file(record.volumeId), stateJson(record), 0o600, options);
  }

  async remove(volumeId: string): Promise<void> {
    await rm(this.undoFile(volumeId), { force: true });
    await rm(this.file(volumeId), { force: true });
  }

  async list(): Promise<StagedVolume[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    const records = await Promise.all(names.filter((n) => n.endsWith('.json')).map((n) => this.read(path.join(this.dir, n))));
    return records.filter((r): r is StagedVolume => r !== undefined);
  }

  private async read(file: string): Promise<StagedVolume | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
    // A record is written atomically; one that does not parse was not written by us and is ignored.
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return undefined;
    }
    const parsed = recordSchema.safeParse(json);
    return parsed.success ? parsed.data : undefined;
  }
}
