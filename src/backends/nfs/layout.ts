import path from 'node:path';
import { z } from 'zod';
import { stateJson } from '../../util/atomic-file.js';
import { FERRY_DIR, keyOf } from './share-ref.js';

/**
 * Ferry's own files on an export, all under `.ferry/` (never a volume: pods mount their own directory only).
 *
 *   .ferry/volumes/<key(dir)>.json            one per volume: name, size, source, policy
 *   .ferry/publications/<key(dir)>/<key(node)>.json   which nodes the volume is published to
 *   .ferry/nodes/<key(node)>.json             node plugins that registered with this export
 *   .ferry/snapshots/<key(name)>.tar.gz|.json snapshot archives and what they are of
 *   .ferry/tmp/                               directories and archives being made (renamed into place when whole)
 *   .ferry/trash/                             volume directories being removed
 */
export const layout = {
  volumes: `${FERRY_DIR}/volumes`,
  volume: (dir: string): string => `${FERRY_DIR}/volumes/${keyOf(dir)}.json`,
  publications: `${FERRY_DIR}/publications`,
  publicationsOf: (dir: string): string => `${FERRY_DIR}/publications/${keyOf(dir)}`,
  publication: (dir: string, nodeId: string): string => `${FERRY_DIR}/publications/${keyOf(dir)}/${keyOf(nodeId)}.json`,
  nodes: `${FERRY_DIR}/nodes`,
  node: (nodeId: string): string => `${FERRY_DIR}/nodes/${keyOf(nodeId)}.json`,
  snapshots: `${FERRY_DIR}/snapshots`,
  snapshot: (key: string): string => `${FERRY_DIR}/snapshots/${key}.json`,
  archive: (key: string): string => `${FERRY_DIR}/snapshots/${key}.tar.gz`,
  tmp: `${FERRY_DIR}/tmp`,
  trash: `${FERRY_DIR}/trash`,
};

/** Every directory between the export's root and `dir` (exclusive), deepest first: "a/b/c" → ["a/b", "a"]. */
export function parentsOf(dir: string): string[] {
  const out: string[] = [];
  for (let p = path.posix.dirname(dir); p !== '.' && p !== '/'; p = path.posix.dirname(p)) out.push(p);
  return out;
}

const bigintText = z.string().regex(/^\d+$/).transform((s) => BigInt(s));
const source = z.object({ kind: z.enum(['snapshot', 'volume']), id: z.string() }).nullable();

export const volumeMetaSchema = z.object({
  version: z.literal(1),
  name: z.string(),
  dir: z.string(),
  onDelete: z.enum(['delete', 'retain', 'archive']),
  capacityBytes: bigintText,
  source,
  createdAt: z.number(),
});
export type VolumeMeta = z.infer<typeof volumeMetaSchema>;

export const snapshotMetaSchema = z.object({
  version: z.literal(1),
  name: z.string(),
  sourceVolumeId: z.string(),
  /** The source volume's size when the archive was taken: the least a volume restored from it may have. */
  sizeBytes: bigintText,
  archiveBytes: bigintText,
  createdAt: z.number(),
});
export type SnapshotMeta = z.infer<typeof snapshotMetaSchema>;

export const publicationSchema = z.object({ nodeId: z.string(), readOnly: z.boolean(), accessMode: z.string() });
export type Publication = z.infer<typeof publicationSchema>;

export const nodeRecordSchema = z.object({ nodeId: z.string(), registeredAt: z.number() });

/** JSON of a record, bigints as decimal strings. */
export function recordText(value: unknown): string {
  return stateJson(value);
}

/** A record read back; undefined when absent or not one of ours (a file that does not parse is ignored, not trusted). */
export function parseRecord<T>(schema: z.ZodType<T>, text: string | null | undefined): T | undefined {
  if (text === null || text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
