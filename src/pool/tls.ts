import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { exec } from '../util/exec.js';
import type { Logger } from '../util/log.js';
import { tlsDir } from './paths.js';

/**
 * The pool's self-signed certificate, made once with openssl (through util/exec) and kept in DATA_DIR/tls so
 * clients that pinned it (`caFile: DATA_DIR/tls/cert.pem`) keep working across restarts. It is its own CA
 * (basicConstraints CA:TRUE), so Node and curl accept it as a trust anchor. openssl rather than an npm library:
 * no new dependency, and the private key never passes through JavaScript crypto code we would have to vet.
 * It is made again only when the set of names it must cover changes.
 */
export interface Certificate {
  cert: string;
  key: string;
  certFile: string;
  fingerprint256: string;
}

const VALID_DAYS = 3650;

/** The names a client may use to reach the pool: the loopback names, this host, and the listen address. */
export function certificateNames(listenHost: string): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', os.hostname()]);
  if (listenHost !== '0.0.0.0' && listenHost !== '::' && listenHost !== '') names.add(listenHost);
  return [...names].sort();
}

export async function ensureCertificate(dataDir: string, names: readonly string[], logger: Logger): Promise<Certificate> {
  const dir = tlsDir(dataDir);
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  const namesFile = path.join(dir, 'names');
  const wanted = names.join('\n');
  try {
    const [cert, key, had] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8'), readFile(namesFile, 'utf8')]);
    if (had === wanted) return { cert, key, certFile, fingerprint256: new X509Certificate(cert).fingerprint256 };
    logger.info({ names }, 'the listen names changed: making a new TLS certificate');
  } catch {
    // None yet (or incomplete): make one.
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // The names file is written last and vouches for the pair: without it a half-replaced pair is never trusted.
  await rm(namesFile, { force: true });
  const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  const tmpKey = `${keyFile}.tmp`;
  const tmpCert = `${certFile}.tmp`;
  try {
    await exec(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', tmpKey, '-out', tmpCert, '-days', String(VALID_DAYS), '-subj', '/CN=ferry-pool',
        '-addext', `subjectAltName=${san}`,
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,digitalSignature,keyCertSign',
        '-addext', 'extendedKeyUsage=serverAuth',
      ],
      { timeoutMs: 30_000, logger },
    );
    await chmod(tmpKey, 0o600);
    await rename(tmpKey, keyFile);
    await rename(tmpCert, certFile);
    await writeFile(namesFile, wanted);
  } finally {
    await rm(tmpKey, { force: true });
    await rm(tmpCert, { force: true });
  }
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  const fingerprint256 = new X509Certificate(cert).fingerprint256;
  logger.info({ certFile, fingerprint256, names }, 'made a self-signed TLS certificate');
  return { cert, key, certFile, fingerprint256 };
}
