import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ChildService } from '../../src/harness/child.js';
import { exec, type ExecResult } from '../../src/util/exec.js';
import { hostSocket, importImages, startContainerd, writeContainerdConfig, type ContainerdPaths } from './containerd.js';
import { startKubelet, writeKubeletConfig, type KubeletSpec } from './kubelet.js';
import { nodeProcesses, nsenterArgs, type NodeNamespaces } from './namespaces.js';
import { podSubnet } from './network.js';
import { startNodeInit, type NodeInit } from './node-init.js';
import { killAll } from './procs.js';
import type { RunRecords } from './records.js';

/**
 * One node of the local cluster: a network and mount namespace (namespaces.ts), a PID namespace per boot with an init
 * of its own (node-init.ts), its own containerd and kubelet.
 * `kill()` makes the node die at once (SIGKILL to everything in it, containers included); `revive()` boots it again
 * with the same directories, as a machine coming back from a power cut.
 */
export interface NodeSpec {
  name: string;
  /** The node's IP (its eth0). */
  address: string;
  /** <run>/<node>: configs, logs, and root/ (what the node sees at its standard paths). */
  dir: string;
  ns: NodeNamespaces;
  bin: string;
  kubeconfig: string;
  caCert: string;
  verbose: boolean;
  /** The kubelet's nodeStatusUpdateFrequency (default: Kubernetes' own, 10s). */
  nodeStatusUpdateFrequency?: string;
}

export class LocalNode {
  readonly name: string;
  readonly address: string;
  /** Where the node's own directories are seen from the host: e.g. `${rootDir}/var/lib/kubelet`. */
  readonly rootDir: string;
  private init: NodeInit | undefined;
  private containerd: ChildService | undefined;
  private kubelet: ChildService | undefined;
  private readonly containerdPaths: ContainerdPaths;
  private readonly kubeletSpec: KubeletSpec;

  constructor(
    private readonly records: RunRecords,
    private readonly spec: NodeSpec,
  ) {
    this.name = spec.name;
    this.address = spec.address;
    this.rootDir = path.join(spec.dir, 'root');
    const logDir = path.join(spec.dir, 'logs');
    mkdirSync(logDir, { recursive: true });
    this.containerdPaths = {
      nodeRoot: this.rootDir,
      configFile: path.join(spec.dir, 'containerd.toml'),
      logFile: path.join(logDir, 'containerd.log'),
    };
    this.kubeletSpec = {
      node: spec.name,
      address: spec.address,
      configFile: path.join(spec.dir, 'kubelet-config.yaml'),
      kubeconfig: spec.kubeconfig,
      caCert: spec.caCert,
      logFile: path.join(logDir, 'kubelet.log'),
      verbose: spec.verbose,
      ...(spec.nodeStatusUpdateFrequency ? { nodeStatusUpdateFrequency: spec.nodeStatusUpdateFrequency } : {}),
    };
    writeContainerdConfig(this.containerdPaths, podSubnet(spec.address));
    writeKubeletConfig(this.kubeletSpec);
  }

  /** The node's containerd socket, as the host reaches it (for `ctr -a`). */
  get containerdSocket(): string {
    return hostSocket(this.containerdPaths);
  }

  get logDir(): string {
    return path.dirname(this.containerdPaths.logFile);
  }

  /** Whether the node's init, and the kubelet and containerd we started, are running. */
  get running(): boolean {
    return this.init?.service.running === true && this.kubelet?.running === true && this.containerd?.running === true;
  }

  /** Boots the node's PID namespace (unless it is up) and its containerd. */
  async startContainerd(): Promise<void> {
    if (this.init?.service.running !== true) {
      this.init = await startNodeInit(this.records, this.name, this.spec.ns, path.join(this.logDir, 'init.log'));
    }
    this.containerd = await startContainerd(this.records, this.name, this.spec.ns, this.pidFile(), this.containerdPaths, this.spec.verbose);
  }

  importImages(tarballs: readonly string[]): Promise<void> {
    return importImages(this.containerdPaths, tarballs);
  }

  async startKubelet(): Promise<void> {
    this.kubelet = await startKubelet(this.records, this.spec.bin, this.spec.ns, this.pidFile(), this.kubeletSpec);
  }

  /** Runs a command inside the running node (all its namespaces), as a test would on that machine. */
  exec(command: string, args: readonly string[], options: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    return exec('nsenter', [...nsenterArgs(this.spec.ns, this.pidFile()), command, ...args], options);
  }

  /** The command line that opens a shell on the running node (what up.ts prints). */
  shellCommand(): string {
    return ['nsenter', ...nsenterArgs(this.spec.ns, this.pidFile()), 'bash'].join(' ');
  }

  /** The node's PID namespace; a node that is down has none (its /proc is a dead namespace's until it boots). */
  private pidFile(): string {
    if (this.init?.service.running !== true) throw new Error(`${this.name} is down: nothing runs on it until it boots`);
    return this.init.pidFile;
  }

  /** Every process of this node (see nodeProcesses). */
  processes(): Set<number> {
    return nodeProcesses(this.nsIds());
  }

  /** The node "dies": SIGKILL to all its processes at once. Its Node object goes NotReady after the grace period. */
  async kill(): Promise<void> {
    const survivors = await killAll(() => this.processes());
    if (survivors.length > 0) throw new Error(`${this.name}: processes ${survivors.join(', ')} survived SIGKILL`);
    await this.exited();
  }

  /** Resolves once the kubelet and containerd we started last have exited (and closed their logs). */
  async exited(): Promise<void> {
    await Promise.all([this.kubelet?.exited, this.containerd?.exited, this.init?.service.exited]);
  }

  /** Boots the node again: containerd (which cleans up after its dead shims), then the kubelet. Images are still there. */
  async revive(): Promise<void> {
    if (this.running) return;
    await this.startContainerd();
    await this.startKubelet();
  }

  private nsIds(): { netIno: number; mntIno: number } {
    const rec = this.records.read().find((r) => r.kind === 'node-ns' && r.node === this.name);
    if (!rec || rec.kind !== 'node-ns') throw new Error(`${this.name}: no namespaces recorded`);
    return rec;
  }
}
