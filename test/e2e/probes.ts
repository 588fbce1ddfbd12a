import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { KeyPair } from './pki.js';

/**
 * One GET for a health endpoint; resolves with the status code and body (status 0 when nothing answers). No
 * keep-alive (`agent: false`): a pooled socket to a daemon would keep the test process alive after the run.
 * With `ca`, the server certificate is checked; without, any certificate is taken (the controller manager's and the
 * scheduler's serving certificates are self-signed, and /healthz is all we ask them).
 */
export interface ProbeOptions {
  ca?: string;
  client?: KeyPair;
  timeoutMs?: number;
}

export function probe(url: string, options: ProbeOptions = {}): Promise<{ status: number; body: string }> {
  const secure = url.startsWith('https:');
  return new Promise((resolve) => {
    const onResponse = (res: http.IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    };
    const common = { agent: false as const, timeout: options.timeoutMs ?? 2_000 };
    const req = secure
      ? https.get(
          url,
          {
            ...common,
            ca: options.ca === undefined ? undefined : readFileSync(options.ca),
            cert: options.client === undefined ? undefined : readFileSync(options.client.cert),
            key: options.client === undefined ? undefined : readFileSync(options.client.key),
            rejectUnauthorized: options.ca !== undefined,
          },
          onResponse,
        )
      : http.get(url, common, onResponse);
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

export async function probeStatus(url: string, options: ProbeOptions = {}): Promise<number> {
  return (await probe(url, options)).status;
}
