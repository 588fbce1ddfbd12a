import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { detachLoopsUnder, loopsUnder } from '../../src/harness/cleanup.js';
import { startPool, type PoolHandle } from '../../src/harness/pool.js';
import { exec } from '../../src/util/exec.js';
import { LocalCluster } from './cluster.js';
import { e2eValues, NFS_CONTAINER_DIR, NFS_SERVER, NFS_SHARE, SDC_DEVICE_DIR } from './ferry-values.js';
import { startTimeOf } from './procs.js';

/**
 * Ferry on the local cluster: `ferry pool` on the host as the storage system (outside the cluster, as a PowerFlex
 * system is), each node made an SDC host (its `drv_cfg` answers its GUID; its pool device directory appears at
 * SDC_DEVICE_DIR inside the node), and `helm install charts/ferry` with the locally built images.
 */
const REPO_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const RELEASE = 'ferry';
export const NAMESPACE = 'kube-system';
export const NODE_GUIDS: Record<string, string> = {
  node1: 'E2E00001-0000-4000-8000-000000000001',
  node2: 'E2E00002-0000-4000-8000-000000000002',
};

function helmBin(): string {
  const dir = execFileSync('bash', [path.join(REPO_ROOT, 'scripts/install-helm.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  return path.join(dir, 'helm');
}

/** A line of the pool's log: "mapped" names one SDC (sdcId), "unmapped" every SDC it removed (sdcIds). */
export interface PoolLogLine {
  msg?: string;
  time?: string;
  volumeId?: string;
  sdcId?: string;
  sdcIds?: string[];
}

/** The CSI driver's name, as the kubelet registers it. */
const DRIVER_NAME = 'ferry.csi.io';

/**
 * FERRY_E2E_KCM_API_QPS=<qps>[,<burst>]: the controller manager's API rate (default: Kubernetes' 20 / 30). Its
 * PersistentVolume controller binds claims at that rate (a few writes per claim), so it bounds how fast many claims
 * bind once their volumes exist. Large clusters raise it; the default is what the measurements are quoted against.
 */
function controllerManagerApiFromEnv(): { qps: number; burst: number } | undefined {
  const raw = process.env['FERRY_E2E_KCM_API_QPS'];
  if (raw === undefined || raw === '') return undefined;
  const [qps, burst] = raw.split(',').map(Number);
  if (qps === undefined || !Number.isInteger(qps) || qps <= 0 || (burst !== undefined && (!Number.isInteger(burst) || burst < qps))) {
    throw new Error(`FERRY_E2E_KCM_API_QPS=${raw}: expected <qps>[,<burst>], positive integers, burst at least qps`);
  }
  return { qps, burst: burst ?? qps * 2 };
}

/**
 * FERRY_E2E_KUBELET_STATUS_SECONDS=<seconds>: the kubelets' nodeStatusUpdateFrequency (default: Kubernetes' 10 s).
 * A kubelet mounts an attached volume only after its node status has reported the volume in use, so after a
 * failover this loop adds 0 to one period to every moved pod; clusters tuned for fast failover lower it.
 */
function kubeletStatusFrequencyFromEnv(): string | undefined {
  const raw = process.env['FERRY_E2E_KUBELET_STATUS_SECONDS'];
  if (raw === undefined || raw === '') return undefined;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds <= 0 || seconds > 60) {
    throw new Error(`FERRY_E2E_KUBELET_STATUS_SECONDS=${raw}: expected whole seconds, 1 to 60`);
  }
  return `${seconds}s`;
}

export class FerryCluster {
  private readonly helm = helmBin();
  private readonly valuesFile: string;
  private readonly password: string;

  private constructor(
    readonly cluster: LocalCluster,
    readonly pool: PoolHandle,
    private readonly log: (m: string) => void,
  ) {
    this.valuesFile = path.join(cluster.runDir, 'ferry-values.json');
    this.password = readFileSync(pool.passwordFile, 'utf8').trim();
  }

  static async start(log: (m: string) => void): Promise<FerryCluster> {
    const cluster = await LocalCluster.start({
      log,
      extraNodePaths: ['/var/lib/ferry', '/opt/emc/scaleio/sdc/bin'],
      // Kubernetes' default, so "failover off" is measured as a real cluster behaves.
      nodeMonitorGracePeriod: '50s',
      controllerManagerApi: controllerManagerApiFromEnv(),
      kubeletNodeStatusUpdateFrequency: kubeletStatusFrequencyFromEnv(),
    });
    let pool: PoolHandle | undefined;
    try {
      const dataDir = path.join(cluster.runDir, 'pool');
      pool = await startPool({
        node: process.execPath,
        cli: path.join(REPO_ROOT, 'dist', 'cli.js'),
        dataDir,
        passwordFile: path.join(cluster.runDir, 'pool-password'),
        hosts: Object.entries(NODE_GUIDS).map(([name, guid]) => ({ name, guid })),
        tls: false,
        // Sparse: the 100-PVC scenario allocates 100 x 8 GiB (the allocation unit) at once.
        capacity: '4Ti',
        logFile: path.join(cluster.runDir, 'pool.log'),
        verbose: false,
        // Pods reach the host at the bridge address, not at 127.0.0.1.
        listen: `${cluster.hostAddress}:0`,
      });
      cluster.records.add({ kind: 'pid', name: 'pool', pid: pool.process.pid, startTime: startTimeOf(pool.process.pid) });
      const ferry = new FerryCluster(cluster, pool, log);
      for (const name of Object.keys(NODE_GUIDS)) await ferry.makeSdcHost(name);
      await ferry.makeNfsExport();
      return ferry;
    } catch (err) {
      await pool?.stop().catch(() => undefined);
      if (pool) await detachLoopsUnder(pool.dataDir).catch(() => undefined);
      await cluster.stop().catch(() => undefined);
      throw err;
    }
  }

  /** What an SDC installation gives a host: drv_cfg that knows its GUID, and the volumes mapped to it as devices. */
  private async makeSdcHost(name: string): Promise<void> {
    const node = this.cluster.node(name);
    const guid = NODE_GUIDS[name] ?? '';
    const binDir = path.join(node.rootDir, 'opt/emc/scaleio/sdc/bin');
    mkdirSync(binDir, { recursive: true });
    writeFileSync(path.join(binDir, 'drv_cfg'), `#!/bin/sh\n# e2e SDC: the GUID of ${name}; --rescan has nothing to do (the pool links devices at once)\n[ "$1" = --query_guid ] && echo ${guid}\nexit 0\n`);
    chmodSync(path.join(binDir, 'drv_cfg'), 0o755);
    const byId = this.pool.byIdDir(guid);
    mkdirSync(byId, { recursive: true });
    mkdirSync(path.join(node.rootDir, SDC_DEVICE_DIR), { recursive: true });
    await node.exec('mount', ['--bind', byId, SDC_DEVICE_DIR]);
  }

  get nfsExportDir(): string {
    return path.join(this.cluster.runDir, 'nfs-export');
  }

  private get nfsHelper(): string {
    return path.join(this.cluster.runDir, 'mount.nfs');
  }

  /**
   * The NFS export, as a stand-in (this kernel has no NFS client): a tmpfs named SERVER:SHARE, so mounts of it read in
   * the mount table as NFS mounts do, and a mount.nfs that bind-mounts SERVER:SHARE/DIR from where the containers see
   * the export. The same stand-in as the NFS integration tests' (test/helpers/nfs-harness.ts), without the hang switch.
   */
  private async makeNfsExport(): Promise<void> {
    mkdirSync(this.nfsExportDir, { recursive: true });
    // 64 GiB is only a ceiling (tmpfs takes memory as it is written): Ferry reports the export's free space as its
    // capacity, and with late binding the scheduler places a claim only where that fits (1 GiB left no room for the
    // storage suite's 1 GiB claims).
    await exec('mount', ['-t', 'tmpfs', '-o', 'size=64g,mode=0777', `${NFS_SERVER}:${NFS_SHARE}`, this.nfsExportDir]);
    writeFileSync(
      this.nfsHelper,
      [
        '#!/bin/sh',
        '# e2e stand-in for mount.nfs (no NFS client in this kernel): SERVER:SHARE[/DIR] -> bind of the export dir',
        'spec="$1"; dir="$2"; shift 2; opts=""',
        'while [ $# -gt 0 ]; do case "$1" in -o) opts="$2"; shift 2 ;; *) shift ;; esac; done',
        `case "$spec" in ${NFS_SERVER}:${NFS_SHARE}|${NFS_SERVER}:${NFS_SHARE}/*) ;; *) echo "mount.nfs: access denied by server while mounting $spec" >&2; exit 32 ;; esac`,
        `src="${NFS_CONTAINER_DIR}\${spec#${NFS_SERVER}:${NFS_SHARE}}"`,
        '[ -d "$src" ] || { echo "mount.nfs: mounting $spec failed, reason given by server: No such file or directory" >&2; exit 32; }',
        'case ",$opts," in *,ro,*) exec mount --bind -o ro -- "$src" "$dir" ;; esac',
        'exec mount --bind -- "$src" "$dir"',
        '',
      ].join('\n'),
    );
    chmodSync(this.nfsHelper, 0o755);
  }

  helmRun(args: readonly string[], timeoutMs = 600_000): Promise<{ stdout: string; stderr: string }> {
    return exec(this.helm, [...args, '--kubeconfig', this.cluster.kubeconfig], { timeoutMs });
  }

  async install(failover: 'off' | 'dry-run' | 'on', options: { maxVolumesPerNode?: number } = {}): Promise<void> {
    const version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const nfs = { exportHostDir: this.nfsExportDir, helperHostFile: this.nfsHelper };
    const input = { imageTag: version, poolEndpoint: this.pool.url, poolPassword: this.password, poolSystemId: this.pool.systemId, failover, nfs, ...options };
    writeFileSync(this.valuesFile, JSON.stringify(e2eValues(input)));
    await this.helmRun(['install', RELEASE, path.join(REPO_ROOT, 'charts/ferry'), '-n', NAMESPACE, '-f', this.valuesFile, '--wait', '--timeout', '5m']);
    await this.waitForNodeRegistration();
    this.log('helm install: Ferry is up');
  }

  /**
   * helm's --wait sees the node plugins Ready; each kubelet registers its plugin (the CSINode entry, the node's
   * topology labels) a moment later. A test that starts in between finds no topology on the nodes (Kubernetes'
   * storage suite skipped its first spec so: "No topology with at least 1 nodes found").
   */
  private async waitForNodeRegistration(timeoutMs = 120_000): Promise<void> {
    type Nodes = { items: { metadata: { name: string; labels?: Record<string, string> } }[] };
    type CsiNodes = { items: { metadata: { name: string }; spec: { drivers: { name: string; topologyKeys?: string[] | null }[] | null } }[] };
    const until = Date.now() + timeoutMs;
    for (;;) {
      const nodes = await this.cluster.kubectl.getJson<Nodes>(['nodes']);
      const csiNodes = await this.cluster.kubectl.getJson<CsiNodes>(['csinodes']);
      const unregistered = nodes.items.filter((node) => {
        const driver = csiNodes.items.find((c) => c.metadata.name === node.metadata.name)?.spec.drivers?.find((d) => d.name === DRIVER_NAME);
        return driver === undefined || (driver.topologyKeys ?? []).some((key) => node.metadata.labels?.[key] === undefined);
      });
      if (unregistered.length === 0) return;
      if (Date.now() > until) throw new Error(`${DRIVER_NAME} not registered on ${unregistered.map((n) => n.metadata.name).join(', ')} ${timeoutMs} ms after helm install`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  async setFailover(mode: 'off' | 'dry-run' | 'on'): Promise<void> {
    await this.helmRun(['upgrade', RELEASE, path.join(REPO_ROOT, 'charts/ferry'), '-n', NAMESPACE, '--reuse-values', '--set', `controller.failover.mode=${mode}`, '--wait', '--timeout', '5m']);
    // The new controller pods must lead before a node dies, or their first seconds go to the election. The failover
    // controller has pods of its own (none with failover off).
    for (const deployment of mode === 'off' ? ['controller'] : ['controller', 'failover']) {
      await this.cluster.kubectl.run(['-n', NAMESPACE, 'rollout', 'status', `deployment/${RELEASE}-${deployment}`, '--timeout=180s'], { timeoutMs: 200_000 });
    }
  }

  async uninstall(): Promise<void> {
    await this.helmRun(['uninstall', RELEASE, '-n', NAMESPACE, '--wait', '--timeout', '5m']);
  }

  /** The pool's own view: its volumes (and snapshots), with their mappings. */
  async poolVolumes(): Promise<{ id: string; name: string; mappedSdcInfo?: { sdcId: string }[] }[]> {
    const res = await this.poolRequest('GET', '/api/types/Volume/instances');
    return JSON.parse(res) as { id: string; name: string; mappedSdcInfo?: { sdcId: string }[] }[];
  }

  /** The MDM's view of a host's SDC: what a real system reports when the host dies (the pool is told). */
  async setSdcState(node: string, state: 'Connected' | 'Disconnected'): Promise<void> {
    await this.poolRequest('POST', `/pool/hosts/${NODE_GUIDS[node] ?? ''}/state`, { mdmConnectionState: state });
  }

  /** Each node's SDC id in the pool (what the pool's log names in its "mapped" and "unmapped" lines). */
  async sdcIds(): Promise<Record<string, string>> {
    const sdcs = JSON.parse(await this.poolRequest('GET', '/api/types/Sdc/instances')) as { id: string; sdcGuid: string }[];
    return Object.fromEntries(Object.entries(NODE_GUIDS).map(([node, guid]) => [node, sdcs.find((s) => s.sdcGuid === guid)?.id ?? '']));
  }

  /** The pool's log, JSON lines in the order the pool did things (one process: its changes are applied one at a time). */
  poolLog(): PoolLogLine[] {
    return readFileSync(path.join(this.cluster.runDir, 'pool.log'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as PoolLogLine);
  }

  loopDevices(): Promise<string[]> {
    return loopsUnder(this.pool.dataDir);
  }

  /**
   * The pool's admin endpoints (/pool/...) take the password; the gateway API (/api/...) a session token from
   * /api/login, as PowerFlex's gateway does.
   */
  private async poolRequest(method: string, urlPath: string, body?: unknown): Promise<string> {
    const basic = (secret: string): string => `Basic ${Buffer.from(`admin:${secret}`).toString('base64')}`;
    let secret = this.password;
    if (urlPath.startsWith('/api/')) {
      const login = await fetch(new URL('/api/login', this.pool.url), { headers: { Authorization: basic(this.password) } });
      if (!login.ok) throw new Error(`pool login: HTTP ${login.status}`);
      secret = JSON.parse(await login.text()) as string;
    }
    const res = await fetch(new URL(urlPath, this.pool.url), {
      method,
      headers: { Authorization: basic(secret), 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`pool ${method} ${urlPath}: HTTP ${res.status} ${text}`);
    return text;
  }

  /**
   * Stops everything: the pool (its loop devices detached), then the cluster (every process, mount, directory).
   * FERRY_E2E_LOGS_DIR=<dir>: the daemons' logs (control plane, kubelets, containerds) are copied there first, to read
   * after the run.
   */
  async stop(): Promise<void> {
    await this.pool.stop().catch(() => undefined);
    await detachLoopsUnder(this.pool.dataDir).catch(() => undefined);
    const logsDir = process.env['FERRY_E2E_LOGS_DIR'];
    await this.cluster.stop(logsDir ? { keepLogsIn: logsDir } : {});
  }
}
