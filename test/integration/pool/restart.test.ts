import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { lstat, mkdir, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Sdc, StoragePool, System, Volume } from '../../../src/pool/wire.js';
import { attachLoop, detachLoop } from '../../../src/pool/loop.js';
import { hostDeviceLink, stateFile, volumeFile } from '../../../src/pool/paths.js';
import { cleanupAllPools, startPool, type HttpResult, type PoolProcess } from '../../helpers/pool.js';

/**
 * Crash safety: kill -9 in the middle of work, restart, and everything acknowledged is still there, every
 * mapping has its device and link back, and no loop device over the data directory is left without a mapping.
 */
const VOLUMES = 24;

let pool: PoolProcess;
let systemId: string;
let poolId: string;
const sdcs: Record<string, Sdc> = {};

beforeAll(async () => {
  pool = await startPool({
    hosts: [
      { name: 'node1', guid: 'CRASH-0001' },
      { name: 'node2', guid: 'CRASH-0002' },
    ],
  });
  systemId = (await pool.api<System[]>('GET', '/api/types/System/instances')).body[0]?.id ?? '';
  poolId = (await pool.api<StoragePool[]>('GET', '/api/types/StoragePool/instances')).body[0]?.id ?? '';
  for (const s of (await pool.api<Sdc[]>('GET', '/api/types/Sdc/instances')).body) sdcs[s.name ?? ''] = s;
}, 60_000);

afterAll(cleanupAllPools, 60_000);

function sdc(name: string): Sdc {
  const found = sdcs[name];
  if (!found) throw new Error(`no SDC ${name}`);
  return found;
}

async function volumes(): Promise<Volume[]> {
  return (await pool.api<Volume[]>('GET', '/api/types/Volume/instances')).body;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * The invariant reconciliation guarantees: every mapping in the pool has a link to a loop device over the
 * volume's own file (read-only exactly for ReadOnly mappings), and every loop device over the data directory
 * serves some mapping.
 */
async function expectAttachmentsMatchMappings(): Promise<void> {
  const devices = await pool.loopDevices();
  const used = new Set<string>();
  for (const volume of await volumes()) {
    for (const mapping of volume.mappedSdcInfo ?? []) {
      const host = Object.values(sdcs).find((s) => s.id === mapping.sdcId);
      const link = hostDeviceLink(pool.dataDir, host?.sdcGuid ?? '', systemId, volume.id);
      const target = await readlink(link);
      expect((await stat(link)).isBlockDevice()).toBe(true);
      const device = devices.find((d) => d.name === target);
      expect(device?.backFile).toBe(volumeFile(pool.dataDir, volume.id));
      expect(device?.readOnly).toBe(mapping.accessMode === 'ReadOnly');
      used.add(target);
    }
  }
  expect(devices.map((d) => d.name).filter((name) => !used.has(name))).toEqual([]);
  // At most one writable device per volume file, ever.
  const writable = devices.filter((d) => !d.readOnly).map((d) => d.backFile);
  expect(new Set(writable).size).toBe(writable.length);
  // Nothing but links to mapped volumes under hosts/.
  for (const name of Object.keys(sdcs)) {
    const dir = path.join(pool.dataDir, 'hosts', sdc(name).sdcGuid, 'by-id');
    for (const entry of await readdir(dir).catch(() => [])) {
      const volumeId = entry.split('-').pop() ?? '';
      const volume = (await volumes()).find((v) => v.id === volumeId);
      expect(volume?.mappedSdcInfo?.some((m) => m.sdcId === sdc(name).id)).toBe(true);
    }
  }
}

describe('kill -9 and restart', () => {
  let ids: string[] = [];

  it('keeps every volume and every acknowledged mapping when killed while mapping many volumes', async () => {
    for (let i = 0; i < VOLUMES; i += 1) {
      const created = await pool.api<{ id: string }>('POST', '/api/types/Volume/instances', {
        name: `crash-${i}`,
        volumeSizeInGb: '8',
        storagePoolId: poolId,
      });
      expect(created.status).toBe(200);
      ids.push(created.body.id);
    }
    // Many mappings at once; the pool runs them one by one. Kill it when about a third are done.
    // Settled from the start: requests cut by the kill reject while kill9 is still being awaited.
    const requests = Promise.allSettled(
      ids.map((id, i) =>
        pool.api('POST', `/api/instances/Volume::${id}/action/addMappedSdc`, {
          sdcId: sdc(i % 2 === 0 ? 'node1' : 'node2').id,
          allowMultipleMappings: 'FALSE',
          accessMode: i % 5 === 0 ? 'ReadOnly' : 'ReadWrite',
        }),
      ),
    );
    await waitFor(async () => (await pool.request<{ mappings: number }>('GET', '/pool/stats')).body.mappings >= VOLUMES / 3);
    await pool.kill9();
    const results = await requests;
    const acknowledged = ids.filter((_, i) => {
      const r = results[i];
      return r?.status === 'fulfilled' && (r.value as HttpResult).status === 200;
    });
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(acknowledged.length).toBeLessThan(VOLUMES);

    // The state on disk is whole JSON, never half written.
    const saved = JSON.parse(await readFile(stateFile(pool.dataDir), 'utf8')) as { volumes: unknown[] };
    expect(saved.volumes).toHaveLength(VOLUMES);

    await pool.restart();
    const after = await volumes();
    expect(after.map((v) => v.id).sort()).toEqual([...ids].sort());
    for (const id of acknowledged) {
      const i = ids.indexOf(id);
      expect(after.find((v) => v.id === id)?.mappedSdcInfo).toEqual([
        expect.objectContaining({ sdcId: sdc(i % 2 === 0 ? 'node1' : 'node2').id, accessMode: i % 5 === 0 ? 'ReadOnly' : 'ReadWrite' }),
      ]);
    }
    await expectAttachmentsMatchMappings();
    expect((await readdir(pool.dataDir)).filter((n) => n.includes('.tmp'))).toEqual([]);
  }, 120_000);

  it('keeps its word when killed while unmapping', async () => {
    const mapped = (await volumes()).filter((v) => v.mappedSdcInfo !== null).map((v) => v.id);
    expect(mapped.length).toBeGreaterThan(2);
    const requests = Promise.allSettled(mapped.map((id) => pool.api('POST', `/api/instances/Volume::${id}/action/removeMappedSdc`, { allSdcs: '' })));
    await waitFor(async () => (await pool.request<{ mappings: number }>('GET', '/pool/stats')).body.mappings <= mapped.length / 2);
    await pool.kill9();
    const results = await requests;
    const unmapped = mapped.filter((_, i) => {
      const r = results[i];
      return r?.status === 'fulfilled' && (r.value as HttpResult).status === 200;
    });
    await pool.restart();
    const after = await volumes();
    for (const id of unmapped) expect(after.find((v) => v.id === id)?.mappedSdcInfo).toBeNull();
    await expectAttachmentsMatchMappings();
  }, 120_000);

  it('detaches leaked loop devices, removes stale links and orphan files, and re-attaches after a reboot', async () => {
    await pool.stop();
    const state = JSON.parse(await readFile(stateFile(pool.dataDir), 'utf8')) as {
      volumes: { id: string; mappings: unknown[] }[];
    };
    const unmappedId = state.volumes.find((v) => v.mappings.length === 0)?.id ?? '';
    const mappedId = state.volumes.find((v) => v.mappings.length > 0)?.id ?? '';
    // A loop device over a volume no one mapped (as a crash between attach and save leaves it).
    const leaked = await attachLoop(volumeFile(pool.dataDir, unmappedId), false);
    // A link for a mapping that does not exist, and a volume file the state does not know.
    const staleLink = hostDeviceLink(pool.dataDir, sdc('node1').sdcGuid, systemId, unmappedId);
    await mkdir(path.dirname(staleLink), { recursive: true });
    await symlink(leaked, staleLink).catch(() => undefined);
    const orphan = volumeFile(pool.dataDir, 'feedfacefeedface');
    await writeFile(orphan, '');
    // A half-written state from a crash between write and rename.
    await writeFile(`${stateFile(pool.dataDir)}.tmp-999`, '{"version":');
    // And a reboot: the kernel forgot a mapped volume's device.
    const mappedDevices = (await pool.loopDevices()).filter((d) => d.backFile === volumeFile(pool.dataDir, mappedId));
    for (const d of mappedDevices) await detachLoop(d.name);

    await pool.restart();
    expect((await pool.loopDevices()).map((d) => d.backFile)).not.toContain(volumeFile(pool.dataDir, unmappedId));
    await expect(lstat(staleLink)).rejects.toThrow(/ENOENT/);
    await expect(lstat(orphan)).rejects.toThrow(/ENOENT/);
    expect((await readdir(pool.dataDir)).filter((n) => n.includes('.tmp'))).toEqual([]);
    expect((await pool.loopDevices()).map((d) => d.backFile)).toContain(volumeFile(pool.dataDir, mappedId));
    await expectAttachmentsMatchMappings();
  }, 120_000);

  it('refuses to start over a damaged state, or over volume files without one', async () => {
    const other = await startPool();
    try {
      const pools = await other.api<StoragePool[]>('GET', '/api/types/StoragePool/instances');
      await other.api('POST', '/api/types/Volume/instances', { name: 'keep-me', volumeSizeInGb: '8', storagePoolId: pools.body[0]?.id });
      await other.stop();
      const good = await readFile(stateFile(other.dataDir), 'utf8');
      await writeFile(stateFile(other.dataDir), 'not json');
      await expect(other.restart()).rejects.toThrow(/is not JSON/);
      await rm(stateFile(other.dataDir));
      await expect(other.restart()).rejects.toThrow(/holds volume files but no state.json/);
      await writeFile(stateFile(other.dataDir), good);
      await other.restart();
      expect((await other.api<Volume[]>('GET', '/api/types/Volume/instances')).body.map((v) => v.name)).toEqual(['keep-me']);
    } finally {
      await other.cleanup();
    }
  }, 60_000);

  afterAll(() => {
    ids = [];
  });
});
