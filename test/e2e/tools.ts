import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec } from '../../src/util/exec.js';

/**
 * The cluster's binaries and images: built by build-tools.sh and images.sh, cached by version (and content) outside
 * the work tree, so after the first run both only print where they are. The first run builds Kubernetes from the Go
 * module proxy: tens of minutes, hence the long timeouts.
 */
const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface ImageTarball {
  file: string;
  ref: string;
}

/** Directory with etcd, kube-*, kubelet, the CSI sidecars and snapshot-controller; ../crd has the snapshot CRDs. */
export async function toolsBin(): Promise<string> {
  // FERRY_E2E_BIN: a bin directory to use as is (say, while build-tools.sh is still running elsewhere).
  if (process.env.FERRY_E2E_BIN) return process.env.FERRY_E2E_BIN;
  const { stdout } = await exec('bash', [path.join(HERE, 'build-tools.sh')], { timeoutMs: 2 * 3600_000 });
  return stdout.trim().split('\n').pop() ?? '';
}

/** The image tarballs (images.txt), all of them or those named (pause, busybox, ferry, csi-provisioner, ...). */
export async function imageTarballs(names?: readonly string[]): Promise<ImageTarball[]> {
  const { stdout } = await exec('bash', [path.join(HERE, 'images.sh'), ...(names ?? [])], { timeoutMs: 3600_000 });
  const dir = stdout.trim().split('\n').pop() ?? '';
  const all = readFileSync(path.join(dir, 'images.txt'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [file = '', ref = ''] = line.split(' ');
      return { file: path.join(dir, file), ref };
    });
  return names === undefined ? all : all.filter((i) => names.includes(path.basename(i.file, '.tar')));
}

/** The snapshot.storage.k8s.io CRD files that build-tools.sh saved next to its bin directory. */
export function snapshotCrdDir(bin: string): string {
  return path.join(path.dirname(bin), 'crd');
}
