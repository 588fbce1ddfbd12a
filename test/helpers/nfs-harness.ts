import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI } from './driver-process.js';

/**
 * A stand-in NFS server for tests, on a kernel without an NFS client, that leaves the host untouched.
 *
 * Everything happens in a private mount namespace held open by a `sleep` process (the "holder"):
 *  - each export is a tmpfs whose source is named `server:/share`, so that mounts of it read in the mount table
 *    exactly as kernel NFS mounts do (source `server:/share`, root the directory within);
 *  - an overlay on /usr/sbin adds a test `mount.nfs`, which util-linux's `mount -t nfs` calls as it calls the real
 *    one: it maps `server:/share/dir` to a bind mount of that export's directory (or, for a server listed as hung,
 *    records its pid and sleeps forever).
 * Each driver runs in a namespace of its own, a child of the holder's (so it sees the exports and the helper, and
 * two node plugins are two "hosts"). The driver's own code path is unchanged: it runs `mount -t nfs`.
 * Killing the holder and the drivers ends the namespaces, and with them every mount made in them.
 */
export interface ExportSpec {
  server: string;
  share: string;
}

export interface NamespacedDriver {
  readonly socket: string;
  readonly pid: number;
  readonly child: ChildProcess;
  output(): string;
  /** A path as this driver's namespace sees it, reachable from the test process. */
  view(p: string): string;
  stop(): Promise<number | string>;
}

export interface NfsHarness {
  readonly dir: string;
  readonly holderPid: number;
  /** A path inside an export ("" = its root), reachable from the test process. */
  serverPath(spec: ExportSpec, rel?: string): string;
  /** Servers whose mount helper hangs forever from now on. */
  hang(server: string): void;
  /** Pids of helper processes that hung (to check they were killed). */
  hungPids(): number[];
  /** Every `mount.nfs` invocation: "spec dir options". */
  helperLog(): string[];
  startDriver(args: readonly string[], config: string): Promise<NamespacedDriver>;
  close(): Promise<void>;
}

const HELPER = `#!/bin/sh
# Test double of /sbin/mount.nfs: mount.nfs SPEC DIR [-o OPTIONS] ...
map="@MAP@"; log="@LOG@"; hang="@HANG@"; pids="@PIDS@"
spec="$1"; dir="$2"; shift 2
opts=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) opts="$2"; shift 2 ;;
    -N|-t) shift 2 ;;
    *) shift ;;
  esac
done
echo "$spec $dir $opts" >> "$log"
server="\${spec%%:*}"
if grep -qx -- "$server" "$hang" 2>/dev/null; then echo $$ >> "$pids"; exec sleep 86400; fi
best=""; bestdir=""
while IFS='	' read -r key local; do
  case "$spec" in "$key"|"$key"/*) if [ \${#key} -gt \${#best} ]; then best="$key"; bestdir="$local"; fi ;; esac
done < "$map"
[ -n "$best" ] || { echo "mount.nfs: access denied by server while mounting $spec" >&2; exit 32; }
src="$bestdir\${spec#"$best"}"
[ -d "$src" ] || { echo "mount.nfs: mounting $spec failed, reason given by server: No such file or directory" >&2; exit 32; }
case ",$opts," in *,ro,*) exec mount --bind -o ro -- "$src" "$dir" ;; esac
exec mount --bind -- "$src" "$dir"
`;

const DIE_WITH_PARENT = ['setpriv', '--pdeathsig', 'KILL', '--'];

function run(cmd: string, args: readonly string[]): void {
  const result = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${result.stderr || result.error?.message || `exit ${result.status}`}`);
}

function inHolder(pid: number, args: readonly string[]): void {
  run('nsenter', ['-t', String(pid), '-m', '--', ...args]);
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; only its parent has not collected it yet.
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

export async function startNfsHarness(exports: readonly ExportSpec[]): Promise<NfsHarness> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-nfs-'));
  const helperDir = path.join(dir, 'helper');
  mkdirSync(helperDir);
  const files = { map: path.join(dir, 'exports.map'), log: path.join(dir, 'helper.log'), hang: path.join(dir, 'hang'), pids: path.join(dir, 'hung.pids') };
  writeFileSync(files.log, '');
  writeFileSync(files.hang, '');
  writeFileSync(files.pids, '');
  const exportDir = (spec: ExportSpec): string => path.join(dir, 'exports', `${spec.server}${spec.share.replaceAll('/', '_')}`);
  writeFileSync(files.map, exports.map((e) => `${e.server}:${e.share}\t${exportDir(e)}\n`).join(''));
  const helper = path.join(helperDir, 'mount.nfs');
  writeFileSync(helper, HELPER.replace('@MAP@', files.map).replace('@LOG@', files.log).replace('@HANG@', files.hang).replace('@PIDS@', files.pids));
  chmodSync(helper, 0o755);

  // --pdeathsig: should the test process die without cleaning up, the holder and the drivers die with it.
  const holder = spawn('unshare', ['--mount', '--propagation', 'private', '--', ...DIE_WITH_PARENT, 'sleep', 'infinity'], { stdio: 'ignore' });
  const holderPid = holder.pid;
  if (holderPid === undefined) throw new Error('could not start the namespace holder');
  const drivers = new Set<NamespacedDriver>();
  const hungPids = (): number[] =>
    readFileSync(files.pids, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(Number);
  const close = async (): Promise<void> => {
    await Promise.allSettled([...drivers].map((d) => d.stop()));
    // A hung helper that outlived its driver would keep the namespace (and its mounts) alive.
    for (const pid of hungPids().filter(alive)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    if (holder.exitCode === null && holder.signalCode === null) {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const ownNs = readlinkSync('/proc/self/ns/mnt');
    await waitFor(() => {
      try {
        return readlinkSync(`/proc/${holderPid}/ns/mnt`) !== ownNs;
      } catch {
        return false;
      }
    }, 'the holder namespace');
    for (const e of exports) {
      mkdirSync(exportDir(e), { recursive: true });
      inHolder(holderPid, ['mount', '-t', 'tmpfs', '-o', 'size=4g,mode=0755', `${e.server}:${e.share}`, exportDir(e)]);
    }
    inHolder(holderPid, ['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${helperDir}:/usr/sbin`, '/usr/sbin']);
  } catch (err) {
    await close();
    throw err;
  }

  return {
    dir,
    holderPid,
    serverPath: (spec, rel = '') => path.join(`/proc/${holderPid}/root`, exportDir(spec), rel),
    hang: (server) => writeFileSync(files.hang, `${readFileSync(files.hang, 'utf8')}${server}\n`),
    hungPids,
    helperLog: () => readFileSync(files.log, 'utf8').split('\n').filter((l) => l !== ''),
    startDriver: async (args, config) => {
      const driverDir = mkdtempSync(path.join(dir, 'driver-'));
      const socket = path.join(driverDir, 'csi.sock');
      const configFile = path.join(driverDir, 'ferry.yaml');
      writeFileSync(configFile, config);
      const child = spawn(
        'nsenter',
        ['-t', String(holderPid), '-m', '--', 'unshare', '--mount', '--propagation', 'private', '--', ...DIE_WITH_PARENT, process.execPath, CLI, 'driver', '--endpoint', `unix://${socket}`, '--config', configFile, '--log-level', 'debug', ...args],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
      const pid = child.pid;
      if (pid === undefined) throw new Error('could not start the driver');
      const driver: NamespacedDriver = {
        socket,
        pid,
        child,
        output: () => output,
        view: (p) => path.join(`/proc/${pid}/root`, p),
        stop: async () => {
          drivers.delete(driver);
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
          const code = await exited;
          clearTimeout(timer);
          return code;
        },
      };
      drivers.add(driver);
      try {
        await waitFor(() => output.includes('"serving CSI"') || child.exitCode !== null, 'the driver to serve', 20_000);
        if (!output.includes('"serving CSI"')) throw new Error(`driver did not start:\n${output}`);
      } catch (err) {
        await driver.stop();
        throw err;
      }
      return driver;
    },
    close,
  };
}

export { alive as processAlive };

/** Whether `p` exists, as seen from the test process. */
export function exists(p: string): boolean {
  return existsSync(p);
}
