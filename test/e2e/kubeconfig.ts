import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import type { KeyPair } from './pki.js';

/** A kubeconfig file for one client certificate: what every component and kubectl read to find and trust the server. */
export function writeKubeconfig(file: string, server: string, caCert: string, client: KeyPair, user: string): void {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'ferry-e2e', cluster: { server, 'certificate-authority': caCert } }],
    users: [{ name: user, user: { 'client-certificate': client.cert, 'client-key': client.key } }],
    contexts: [{ name: 'ferry-e2e', context: { cluster: 'ferry-e2e', user } }],
    'current-context': 'ferry-e2e',
  };
  writeFileSync(file, stringify(doc), { mode: 0o600 });
}
