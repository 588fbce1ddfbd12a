import { parseAllDocuments } from 'yaml';

/**
 * The PersistentVolumes `ferry adopt` reads: the output of `kubectl get pv -o yaml` (or -o json: a List), or PV
 * documents one after the other. Only the fields adopt carries over are typed; anything else is ignored.
 */
export interface SourcePv {
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    capacity?: { storage?: string };
    accessModes?: string[];
    volumeMode?: string;
    persistentVolumeReclaimPolicy?: string;
    storageClassName?: string;
    mountOptions?: string[];
    claimRef?: { namespace?: string; name?: string; uid?: string };
    csi?: { driver?: string; volumeHandle?: string; fsType?: string; volumeAttributes?: Record<string, string> };
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asPv(value: unknown, where: string): SourcePv {
  if (!isRecord(value) || value['kind'] !== 'PersistentVolume') throw new Error(`${where}: not a PersistentVolume`);
  const metadata = value['metadata'];
  const spec = value['spec'];
  if (!isRecord(metadata) || typeof metadata['name'] !== 'string' || !isRecord(spec)) throw new Error(`${where}: a PersistentVolume needs metadata.name and spec`);
  return value as unknown as SourcePv;
}

/** Every PV in the text (List items flattened); anything that is not a PV is an error, not silently skipped. */
export function parsePvs(text: string, file: string): SourcePv[] {
  const out: SourcePv[] = [];
  parseAllDocuments(text).forEach((doc, d) => {
    if (Array.isArray(doc)) throw new Error(`${file}: not YAML documents`);
    if (doc.errors.length > 0) throw new Error(`${file}: YAML: ${doc.errors[0]?.message.split('\n')[0] ?? ''}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    if (isRecord(value) && value['kind'] === 'List') {
      const items = value['items'];
      if (!Array.isArray(items)) throw new Error(`${file}: a List without items`);
      items.forEach((item, i) => out.push(asPv(item, `${file} document ${d} item ${i}`)));
    } else {
      out.push(asPv(value, `${file} document ${d}`));
    }
  });
  return out;
}
