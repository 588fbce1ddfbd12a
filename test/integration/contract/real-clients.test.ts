import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Volume } from '../../../src/pool/wire.js';
import { contractClients, PYPOWERFLEX_SCRIPT, runClient, type ClientRun, type ContractClients } from '../../helpers/contract-clients.js';
import { cleanupAllPools, startPool, type PoolProcess } from '../../helpers/pool.js';

/**
 * `ferry pool` driven, unchanged, by public PowerFlex clients nobody here wrote: Dell's Go client goscaleio v1.23.0
 * (under Dell's CSI driver) and Dell's Python SDK PyPowerFlex 2.0.1 (under Dell's Ansible modules). Each program
 * (test/contract/) lives a volume's whole life and checks every call's result: values, errorCodes, the gateway's
 * message texts. Here: each program ran every call it should, every one passed, and the pool is left clean.
 */
const HOSTS = [
  { name: 'contract1', guid: 'C0A7AC70-0000-4000-8000-000000000001' },
  { name: 'contract2', guid: 'C0A7AC70-0000-4000-8000-000000000002' },
];
const SYSTEM_NAME = 'ferry-contract';
const CAPACITY_KIB = String(1024 * 1024 * 1024); // 1Ti
const TOKEN_IDLE_S = 2;

/** Every call of goscaleio's volume life, in order (test/contract/goscaleio/main.go). */
const GOSCALEIO_CALLS = [
  'NewClientWithArgs',
  'Authenticate',
  'GetVersion',
  'GetSystems',
  'FindSystem by name',
  'FindProtectionDomain',
  'FindProtectionDomainByName',
  'FindProtectionDomainByName unknown',
  'FindStoragePool',
  'CreateVolume',
  'CreateVolume same name',
  'GetVolume by name',
  'GetVolume by unknown name',
  'GetVolume by id',
  'GetVolume unknown id',
  'GetSdc',
  'FindSdc by GUID',
  'FindSdc by GUID (second host)',
  'GetSdcByID',
  'MapVolumeSdc allowMultipleMappings FALSE',
  'MapVolumeSdc same SDC again',
  'MapVolumeSdc second SDC',
  'MapVolumeSdc unknown SDC',
  'SetMappedSdcLimits',
  'RemoveVolume while mapped',
  'UnmapVolumeSdc by id',
  'UnmapVolumeSdc not mapped',
  'MapVolumeSdc second host',
  'UnmapVolumeSdc by GUID (FindSdc, then its id)',
  'MapVolumeSdc two hosts allowMultipleMappings TRUE',
  'UnmapVolumeSdc allSdcs',
  'CreateSnapshotConsistencyGroup',
  'GetVolume snapshot',
  'CreateVolume second (for a consistency group)',
  'CreateSnapshotConsistencyGroup two volumes',
  'GetVolume group members',
  'SetVolumeSize 24 GiB',
  'SetVolumeSize shrink',
  'SetVolumeName',
  "SetVolumeName to a snapshot's name",
  'GetVolumeStatistics',
  'System GetStatistics',
  'StoragePool GetStatistics',
  're-login after token expiry',
  'RemoveVolume snapshot',
  'RemoveVolume',
];

/** Every call of PyPowerFlex's volume life, in order (test/contract/pypowerflex/volume_life.py). */
const PYPOWERFLEX_CALLS = [
  'initialize (login, version)',
  'system.api_version',
  'system.get',
  'protection_domain.get by name',
  'storage_pool.get by name and domain',
  'volume.create 10 GiB',
  'volume.create same name',
  'volume.get by name',
  'volume.get by id',
  'volume.get unknown id',
  'sdc.get by GUID',
  'sdc.get by GUID (second host)',
  'volume.add_mapped_sdc allow_multiple_mappings False',
  'volume.add_mapped_sdc same SDC again',
  'volume.add_mapped_sdc second SDC',
  'volume.set_mapped_sdc_limits',
  'volume.delete while mapped',
  'volume.remove_mapped_sdc by id',
  'volume.remove_mapped_sdc not mapped',
  'volume.add_mapped_sdc by GUID',
  'volume.remove_mapped_sdc by GUID',
  'volume.remove_mapped_sdc unknown GUID',
  'volume.add_mapped_sdc allow_multiple_mappings True',
  'volume.add_mapped_sdc second host allow_multiple_mappings True',
  'volume.remove_mapped_sdc all_sdcs',
  'system.snapshot_volumes',
  'volume.get snapshot',
  'volume.create second (for a consistency group)',
  'system.snapshot_volumes two volumes',
  'volume.get group members',
  'system.remove_cg_snapshots',
  'volume.get removed group member',
  'system.remove_cg_snapshots again',
  'volume.delete second',
  'volume.extend to 24 GiB',
  'volume.extend shrink',
  'volume.rename',
  'volume.get renamed',
  'volume.rename to the snapshot name',
  'volume.get_statistics',
  'system.query_selected_statistics',
  'storage_pool.get_statistics',
  'storage_pool.query_selected_statistics (allIds)',
  're-login after token expiry',
  'volume.delete snapshot',
  'volume.delete',
  'volume.get deleted',
];

let clients: ContractClients;
let secure: PoolProcess;
let plain: PoolProcess;

beforeAll(async () => {
  // Cold, this builds the Go program and the venv (a minute or two); cached afterwards.
  clients = contractClients();
  const common = {
    hosts: HOSTS,
    capacity: '1Ti',
    tokenIdleTimeout: `${TOKEN_IDLE_S}s`,
    logLevel: 'info',
    extraArgs: ['--system-name', SYSTEM_NAME],
  };
  secure = await startPool({ ...common, tls: true });
  plain = await startPool(common);
}, 900_000);

afterAll(cleanupAllPools, 60_000);

/** Every expected call ran, in order, and passed; the program's own count agrees; it exited 0. */
function expectClean(label: string, run: ClientRun, expected: readonly string[]): void {
  const failed = run.calls.filter((c) => !c.ok).map((c) => `${c.call}: ${c.detail}`);
  // The per-call lines are the evidence: shown with the counts so a run can be read in the test output.
  process.stdout.write(`\n${label}: ${run.calls.filter((c) => c.ok).length} of ${expected.length} calls ok\n`);
  expect(failed).toEqual([]);
  expect(run.calls.map((c) => c.call)).toEqual(expected);
  expect(run.summary).toEqual({ passed: expected.length, failed: 0 });
  expect(run.exitCode).toBe(0);
}

async function expectPoolClean(pool: PoolProcess): Promise<void> {
  const volumes = await pool.api<Volume[]>('GET', '/api/types/Volume/instances');
  expect(volumes.body).toEqual([]);
  expect(await pool.loopDevices()).toEqual([]);
}

function goArgs(pool: PoolProcess, tls: string[]): string[] {
  return [
    '-endpoint', pool.url, '-user', pool.username, '-password', pool.password, ...tls,
    '-system-name', SYSTEM_NAME, '-guid1', HOSTS[0]?.guid ?? '', '-guid2', HOSTS[1]?.guid ?? '',
    '-token-idle', `${TOKEN_IDLE_S}s`, '-capacity-kib', CAPACITY_KIB,
  ];
}

function pythonArgs(pool: PoolProcess, tls: string[]): string[] {
  return [
    PYPOWERFLEX_SCRIPT, '--port', new URL(pool.url).port, '--user', pool.username, '--password', pool.password, ...tls,
    '--system-name', SYSTEM_NAME, '--guid1', HOSTS[0]?.guid ?? '', '--guid2', HOSTS[1]?.guid ?? '',
    '--token-idle', String(TOKEN_IDLE_S), '--capacity-kib', CAPACITY_KIB,
  ];
}

describe('goscaleio v1.23.0', () => {
  it('lives a volume over HTTPS without verification (insecure)', async () => {
    expectClean('goscaleio, HTTPS insecure', await runClient(clients.goscaleio, goArgs(secure, ['-insecure'])), GOSCALEIO_CALLS);
    await expectPoolClean(secure);
  });

  it('lives a volume over HTTPS verified against the pool certificate', async () => {
    expectClean('goscaleio, HTTPS with the CA', await runClient(clients.goscaleio, goArgs(secure, ['-ca', secure.caFile ?? ''])), GOSCALEIO_CALLS);
    await expectPoolClean(secure);
  });

  it('lives a volume over plain HTTP', async () => {
    expectClean('goscaleio, plain HTTP', await runClient(clients.goscaleio, goArgs(plain, [])), GOSCALEIO_CALLS);
    await expectPoolClean(plain);
  });

  it('refuses the pool certificate when neither the CA nor insecure is given', async () => {
    const run = await runClient(clients.goscaleio, goArgs(secure, []));
    expect(run.exitCode).toBe(1);
    expect(run.calls.map((c) => [c.call, c.ok])).toEqual([
      ['NewClientWithArgs', true],
      ['Authenticate', false],
    ]);
    expect(run.calls[1]?.detail).toMatch(/certificate signed by unknown authority/);
  });
});

describe('PyPowerFlex 2.0.1 (HTTPS only)', () => {
  it('lives a volume over HTTPS without verification', async () => {
    expectClean('PyPowerFlex, HTTPS insecure', await runClient(clients.python, pythonArgs(secure, [])), PYPOWERFLEX_CALLS);
    await expectPoolClean(secure);
  });

  it('lives a volume over HTTPS verified against the pool certificate', async () => {
    expectClean('PyPowerFlex, HTTPS with the CA', await runClient(clients.python, pythonArgs(secure, ['--ca', secure.caFile ?? ''])), PYPOWERFLEX_CALLS);
    await expectPoolClean(secure);
  });
});
