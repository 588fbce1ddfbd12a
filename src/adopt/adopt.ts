import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { NodeConfig } from '../config/schema.js';
import type { FerryConfig } from '../config/schema.js';
import { createPowerFlexBackend, type PowerFlexBackend } from '../backends/powerflex/backend.js';
import { gatewayName } from '../backends/powerflex/naming.js';
import { DomainError, errorMessage } from '../errors.js';
import { exec } from '../util/exec.js';
import { KiB } from '../util/size.js';
import type { Logger } from '../util/log.js';
import { adoptedPv, parsePowerflexHandle, type AdoptedVolume, type ManifestOptions } from './manifest.js';
import type { SourcePv } from './pv-input.js';

export interface AdoptOptions extends ManifestOptions {
  /** PVs whose spec.csi.driver is this are adopted; others are left alone. */
  fromDriver: string;
  /** One file per PV here; undefined: every PV to standard output. */
  outDir: string | undefined;
  /** Apply the manifests with kubectl (the old PVs must be gone: delete them with reclaim policy Retain first). */
  apply: boolean;
  kubeconfig: string | undefined;
}

/**
 * `ferry adopt`: hands volumes csi-powerflex made over to Ferry without copying data. For each of csi-powerflex's PVs:
 * find the configured PowerFlex backend of the handle's system, check the volume on the gateway, give it the gateway
 * name Ferry's catalog serves (Ferry answers only for volumes it named, so that a shared gateway's other volumes stay
 * others'), and write a static PV with Ferry's volume id. Renaming is idempotent: a second run finds the name set.
 */
export async function adopt(pvs: readonly SourcePv[], config: FerryConfig, options: AdoptOptions, log: Logger): Promise<Record<string, unknown>[]> {
  const chosen = pvs.filter((pv) => pv.spec.csi?.driver === options.fromDriver);
  if (chosen.length === 0) throw new DomainError('invalid-argument', `no PersistentVolume of driver ${options.fromDriver} in the input`);
  const backends = await connect(config, log);
  try {
    const adopted: AdoptedVolume[] = [];
    for (const pv of chosen) adopted.push(await adoptOne(pv, backends, log));
    const manifests = adopted.map((v) => adoptedPv(v, options));
    await write(manifests, options);
    return manifests;
  } finally {
    await Promise.allSettled([...backends.values()].map((b) => b.close()));
  }
}

/** Every configured PowerFlex backend, by the id of the system it serves. */
async function connect(config: FerryConfig, log: Logger): Promise<Map<string, PowerFlexBackend>> {
  const out = new Map<string, PowerFlexBackend>();
  const node: NodeConfig = config.node;
  for (const b of config.backends) {
    if (b.type !== 'powerflex') continue;
    const backend = await createPowerFlexBackend(b, node, log.child({ backend: b.name }));
    try {
      out.set((await backend.resolveTarget()).system.id, backend);
    } catch (err) {
      await backend.close();
      await Promise.allSettled([...out.values()].map((o) => o.close()));
      throw new DomainError('unavailable', `backend ${b.name}: ${errorMessage(err)}`, { cause: err });
    }
  }
  if (out.size === 0) throw new DomainError('invalid-argument', 'the configuration has no PowerFlex backend to adopt volumes into');
  return out;
}

async function adoptOne(pv: SourcePv, backends: ReadonlyMap<string, PowerFlexBackend>, log: Logger): Promise<AdoptedVolume> {
  const handle = pv.spec.csi?.volumeHandle ?? '';
  const ref = parsePowerflexHandle(handle);
  if (!ref) throw new DomainError('invalid-argument', `PV ${pv.metadata.name}: volume handle "${handle}" is not <systemID>-<volumeID>`);
  const backend = backends.get(ref.systemId);
  if (!backend) throw new DomainError('not-found', `PV ${pv.metadata.name}: no configured backend serves system ${ref.systemId}`);
  const info = await backend.client.volumes.getVolume(ref.volumeId);
  const ferryName = gatewayName('volume', pv.metadata.name);
  if (info.name !== ferryName) {
    await backend.client.volumes.renameVolume(info.id, ferryName);
    log.info({ pv: pv.metadata.name, volumeId: info.id, from: info.name, to: ferryName }, 'volume renamed for Ferry');
  }
  return { source: pv, backend: backend.name, ref, sizeBytes: info.sizeKiB * KiB, previousName: info.name === ferryName ? pv.metadata.name : info.name };
}

async function write(manifests: readonly Record<string, unknown>[], options: AdoptOptions): Promise<void> {
  const docs = manifests.map((m) => ({ name: (m['metadata'] as { name: string }).name, text: stringify(m) }));
  if (options.outDir !== undefined) {
    await mkdir(options.outDir, { recursive: true });
    for (const d of docs) await writeFile(path.join(options.outDir, `${d.name}.yaml`), d.text, { mode: 0o644 });
  } else {
    process.stdout.write(docs.map((d) => `---\n${d.text}`).join(''));
  }
  if (options.apply) {
    const kubeconfig = options.kubeconfig === undefined ? [] : ['--kubeconfig', options.kubeconfig];
    await exec('kubectl', [...kubeconfig, 'apply', '-f', '-'], { input: docs.map((d) => `---\n${d.text}`).join(''), timeoutMs: 120_000 });
  }
}
