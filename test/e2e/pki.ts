import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { exec } from '../../src/util/exec.js';

/**
 * The cluster's certificates, made with openssl: one CA signs everything. Who a client is comes from its certificate:
 * the common name is the user, the organizations are its groups (system:masters is all-powerful; system:nodes with
 * the name system:node:<node> is what the Node authorizer lets act for that node).
 */
export interface KeyPair {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: KeyPair;
  apiserver: KeyPair;
  /** The API server's client certificate towards the kubelets (logs, exec). */
  apiserverKubeletClient: KeyPair;
  admin: KeyPair;
  controllerManager: KeyPair;
  scheduler: KeyPair;
  /** Service-account token signing key and its public half. */
  serviceAccountKey: string;
  serviceAccountPub: string;
  nodes: Record<string, KeyPair>;
}

const DAYS = '30';
// EC keys: an RSA key costs a noticeable fraction of a second each, EC keys nothing.
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: string[]): Promise<void> {
  await exec('openssl', args, { timeoutMs: 30_000 });
}

async function signed(
  dir: string,
  ca: KeyPair,
  name: string,
  subject: string,
  usage: 'clientAuth' | 'serverAuth',
  sans: string[] = [],
): Promise<KeyPair> {
  const pair = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  const csr = path.join(dir, `${name}.csr`);
  const ext = ['-addext', `extendedKeyUsage=${usage}`, '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment'];
  if (sans.length > 0) ext.push('-addext', `subjectAltName=${sans.join(',')}`);
  await openssl(['req', '-new', ...NEW_KEY, '-keyout', pair.key, '-subj', subject, ...ext, '-out', csr]);
  await openssl([
    'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key,
    // A random serial each: certificates are signed in parallel, and a shared serial file (-CAcreateserial) races.
    '-set_serial', `0x${randomBytes(15).toString('hex')}`,
    '-days', DAYS, '-copy_extensions', 'copy', '-out', pair.cert,
  ]);
  return pair;
}

export interface PkiOptions {
  /** IP addresses the API server is reached at (loopback, the host's bridge address, the Service IP, ...). */
  apiserverIps: string[];
  nodes: readonly string[];
}

export async function makePki(dir: string, options: PkiOptions): Promise<Pki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = { cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') };
  await openssl([
    'req', '-x509', ...NEW_KEY, '-keyout', ca.key, '-out', ca.cert, '-days', DAYS, '-subj', '/CN=ferry-e2e-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  const dnsNames = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
  const sans = [...dnsNames.map((d) => `DNS:${d}`), ...options.apiserverIps.map((ip) => `IP:${ip}`)];
  const [apiserver, apiserverKubeletClient, admin, controllerManager, scheduler] = await Promise.all([
    signed(dir, ca, 'apiserver', '/CN=kube-apiserver', 'serverAuth', sans),
    signed(dir, ca, 'apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'clientAuth'),
    signed(dir, ca, 'admin', '/O=system:masters/CN=ferry-e2e-admin', 'clientAuth'),
    signed(dir, ca, 'controller-manager', '/CN=system:kube-controller-manager', 'clientAuth'),
    signed(dir, ca, 'scheduler', '/CN=system:kube-scheduler', 'clientAuth'),
  ]);
  const nodes: Record<string, KeyPair> = {};
  for (const node of options.nodes) {
    nodes[node] = await signed(dir, ca, `node-${node}`, `/O=system:nodes/CN=system:node:${node}`, 'clientAuth');
  }
  const serviceAccountKey = path.join(dir, 'sa.key');
  const serviceAccountPub = path.join(dir, 'sa.pub');
  await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', serviceAccountKey]);
  await openssl(['pkey', '-in', serviceAccountKey, '-pubout', '-out', serviceAccountPub]);
  return { dir, ca, apiserver, apiserverKubeletClient, admin, controllerManager, scheduler, serviceAccountKey, serviceAccountPub, nodes };
}
