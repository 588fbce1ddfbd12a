import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exec } from '../../src/util/exec.js';
import { LocalCluster } from './cluster.js';
import { mountsUnder } from './mounts.js';
import { BRIDGE } from './network.js';
import { isSameProcess, listProcs } from './procs.js';
import { RECORDS_FILE, type RunRecord } from './records.js';

/**
 * The harness checks itself: a two-node cluster comes up (start() already runs a busybox pod on each node), a node
 * dies and comes back, and stop() leaves no process, mount, interface or directory behind.
 */
const log = (m: string) => process.stderr.write(`[e2e] ${m}\n`);

describe('local cluster harness', () => {
  let cluster: LocalCluster | undefined;
  let records: RunRecord[] = [];

  beforeAll(async () => {
    cluster = await LocalCluster.start({ images: ['busybox'], log });
  });

  afterAll(async () => {
    if (cluster && !cluster.isStopped) await cluster.stop();
  });

  it('has two Ready nodes with their own addresses', async () => {
    const nodes = await cluster!.kubectl.getJson<{ items: { metadata: { name: string }; status: { addresses: { type: string; address: string }[] } }[] }>(['nodes']);
    const byName = Object.fromEntries(nodes.items.map((n) => [n.metadata.name, n.status.addresses.find((a) => a.type === 'InternalIP')?.address]));
    expect(byName).toEqual({ node1: cluster!.node('node1').address, node2: cluster!.node('node2').address });
  });

  it('gives each node its own /var/lib/kubelet', async () => {
    const one = await cluster!.node('node1').exec('sh', ['-c', 'echo node1 > /var/lib/kubelet/whoami && cat /var/lib/kubelet/whoami']);
    expect(one.stdout.trim()).toBe('node1');
    const two = await cluster!.node('node2').exec('sh', ['-c', 'cat /var/lib/kubelet/whoami 2>/dev/null || echo none']);
    expect(two.stdout.trim()).toBe('none');
    expect(readFileSync(path.join(cluster!.node('node1').rootDir, 'var/lib/kubelet/whoami'), 'utf8').trim()).toBe('node1');
  });

  // Tools that look at "the host" from a privileged pod (Kubernetes' storage suite: nsenter --mount=/rootfs/proc/1/ns/mnt)
  // must land in the node, not in the machine that runs both nodes: node-init.ts.
  const expectOwnProc = async (name: string): Promise<void> => {
    const node = cluster!.node(name);
    const seen = (await node.exec('sh', ['-c', 'readlink /proc/1/ns/mnt; readlink /proc/self/ns/mnt; ls /var/lib/kubelet >/dev/null && echo kubelet-dir'])).stdout.trim().split('\n');
    expect(seen[0]).toBe(seen[1]);
    expect(seen[2]).toBe('kubelet-dir');
    expect(seen[0]).not.toBe(readlinkSync('/proc/self/ns/mnt'));
    // The host's /proc is still the host's.
    expect(readlinkSync('/proc/self')).toBe(String(process.pid));
  };

  it("gives each node a PID namespace whose PID 1 is in the node's mount namespace", async () => {
    await expectOwnProc('node1');
    await expectOwnProc('node2');
  });

  it('lets a node die and come back, and its pods with it', async () => {
    const k = cluster!.kubectl;
    await k.apply(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'survivor', namespace: 'default' },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': 'node2' },
          hostNetwork: true,
          terminationGracePeriodSeconds: 0,
          containers: [{ name: 'c', image: 'busybox:1.36', imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
        },
      }),
    );
    await k.run(['wait', '--for=condition=Ready', '--timeout=60s', 'pod/survivor'], { timeoutMs: 70_000 });

    await cluster!.killNode('node2');
    expect(cluster!.node('node2').processes().size).toBe(0);
    await cluster!.waitForNodeReady('node2', 'Unknown', 120_000);

    await cluster!.reviveNode('node2');
    await cluster!.waitForNodeReady('node2', 'True', 120_000);
    await expectOwnProc('node2');
    // The kubelet finds the pod's sandbox dead and starts it again.
    await k.run(['wait', '--for=condition=Ready', '--timeout=90s', 'pod/survivor'], { timeoutMs: 100_000 });
    await k.run(['delete', 'pod', 'survivor', '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
  });

  it('stops without leaving anything behind', async () => {
    const runDir = cluster!.runDir;
    records = readFileSync(path.join(runDir, RECORDS_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunRecord);
    await cluster!.stop();
    expect(existsSync(runDir)).toBe(false);
    expect(mountsUnder(runDir)).toEqual([]);
    const alive = records.filter((r) => r.kind === 'pid' && isSameProcess(r.pid, r.startTime));
    expect(alive).toEqual([]);
    expect(listProcs().filter((p) => p.state !== 'Z' && p.cmdline.includes(runDir))).toEqual([]);
    const link = await exec('ip', ['link', 'show', 'dev', BRIDGE], { okExitCodes: [1] });
    expect(link.exitCode).not.toBe(0);
    if (records.some((r) => r.kind === 'rshared')) {
      expect((await exec('findmnt', ['-n', '-o', 'PROPAGATION', '/'])).stdout.trim()).toBe('private');
    }
  });
});
