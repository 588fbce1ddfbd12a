import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ChildService } from '../../src/harness/child.js';

/**
 * A real Kubernetes control plane for tests that need an API server and nothing else: etcd and kube-apiserver,
 * built from their Go modules by test/e2e/build-tools.sh (.ci/run runs `build-tools.sh control-plane` first), on
 * free loopback ports with a throw-away CA and an admin token. No controller manager, scheduler or kubelet: the test
 * plays those parts itself by writing Node, CSINode and Pod objects.
 */
const run = promisify(execFile);
const REPO_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

export interface ControlPlane {
  readonly kubeconfig: string;
  readonly server: string;
  stop(): Promise<void>;
}

/**
 * A free port below the kernel's ephemeral range (32768 and up): a port the kernel handed out once can be handed out
 * again to a client connection (etcd's own) before the server binds it.
 */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** The directory holding etcd and kube-apiserver; fails with what to run when they were never built. */
export async function controlPlaneBin(): Promise<string> {
  const { stdout } = await run('bash', [path.join(REPO_ROOT, 'test/e2e/build-tools.sh'), '--print-dir'], { maxBuffer: 1 << 20 });
  const bin = stdout.trim();
  for (const tool of ['etcd', 'kube-apiserver']) {
    if (!existsSync(path.join(bin, tool))) throw new Error(`${bin}/${tool} is missing: run \`bash test/e2e/build-tools.sh control-plane\``);
  }
  return bin;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd });
}

async function waitReady(server: string, token: string, ca: string, processes: ChildService[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    for (const p of processes) if (!p.running) throw new Error(`${p.name} exited early:\n${p.tail(30).join('\n')}`);
    try {
      const { stdout } = await run('curl', ['-sS', '--max-time', '2', '--cacert', ca, '-H', `Authorization: Bearer ${token}`, `${server}/readyz`]);
      if (stdout.trim() === 'ok') return;
      last = stdout;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`kube-apiserver not ready after ${timeoutMs} ms: ${last}`);
}

export async function startControlPlane(): Promise<ControlPlane> {
  const bin = await controlPlaneBin();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-kube-'));
  const processes: ChildService[] = [];
  const stop = async (): Promise<void> => {
    for (const p of processes.reverse()) await p.stop(10_000);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ferry-test-ca'], dir);
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver'], dir);
    await writeFile(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n');
    await openssl(['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'apiserver.crt', '-days', '2', '-extfile', 'san.ext'], dir);
    await openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
    await openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
    const token = randomBytes(16).toString('hex');
    await writeFile(path.join(dir, 'tokens.csv'), `${token},admin,admin,system:masters\n`, { mode: 0o600 });

    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    processes.push(
      await ChildService.start({
        name: 'etcd',
        command: path.join(bin, 'etcd'),
        args: ['--data-dir', path.join(dir, 'etcd'), '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl, '--listen-peer-urls', peerUrl,
          '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `default=${peerUrl}`, '--unsafe-no-fsync', '--log-level', 'error'],
        logFile: path.join(dir, 'etcd.log'),
        verbose: false,
      }),
    );
    processes.push(
      await ChildService.start({
        name: 'kube-apiserver',
        command: path.join(bin, 'kube-apiserver'),
        args: [
          `--etcd-servers=${etcdUrl}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
          `--tls-cert-file=${dir}/apiserver.crt`, `--tls-private-key-file=${dir}/apiserver.key`, `--client-ca-file=${dir}/ca.crt`,
          `--token-auth-file=${dir}/tokens.csv`, '--authorization-mode=RBAC', `--cert-dir=${dir}/certs`,
          '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${dir}/sa.pub`,
          `--service-account-signing-key-file=${dir}/sa.key`, '--service-cluster-ip-range=10.0.0.0/24', '--v=0',
        ],
        logFile: path.join(dir, 'kube-apiserver.log'),
        verbose: false,
      }),
    );
    const server = `https://127.0.0.1:${apiPort}`;
    await waitReady(server, token, path.join(dir, 'ca.crt'), processes, 90_000);
    const ca = (await readFile(path.join(dir, 'ca.crt'))).toString('base64');
    const kubeconfig = path.join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1', 'kind: Config', 'clusters:', '- name: test', '  cluster:', `    server: ${server}`, `    certificate-authority-data: ${ca}`,
        'users:', '- name: admin', '  user:', `    token: ${token}`, 'contexts:', '- name: test', '  context:', '    cluster: test', '    user: admin',
        'current-context: test', '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return { kubeconfig, server, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
