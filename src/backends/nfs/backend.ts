import { localIdBudget } from '../../csi/ids.js';
import { ComposedBackend } from '../composed-backend.js';
import { errorMessage } from '../../errors.js';
import type { NodeConfig } from '../../config/node.js';
import type { Logger } from '../../util/log.js';
import type {
  Backend,
  Capability,
  NodeSource,
  OpContext,
} from '../backend.js';
import { defaultWorkDir, type NfsBackendConfig } from './config.js';
import { Jobs } from './jobs.js';
import { NFS_PARAMETER_KEYS } from './parameters.js';
import { Provisioner } from './provisioner.js';
import { Publisher } from './publisher.js';
import { ShareFs, ShareMounts } from './share-fs.js';
import { mountSource, parseVolumeId, type ShareRef } from './share-ref.js';
import { Snapshotter } from './snapshotter.js';

/** How often a node plugin whose registration failed (export unreachable) tries again. */
const REGISTER_RETRY_MS = 30_000;

export function createNfsBackend(config: NfsBackendConfig, _node: NodeConfig, log: Logger): Promise<NfsBackend> {
  return Promise.resolve(new NfsBackend(config, log));
}

/**
 * An NFS export as a Ferry backend: each volume is a directory of the export, mountable by many nodes at once.
 * The controller mounts the export in its working directory and works there through child processes; the volume
 * id carries everything a later call needs, so the controller keeps no state of its own. The constructor touches
 * nothing: the export is mounted on first use.
 */
export class NfsBackend extends ComposedBackend implements Backend {
  readonly name: string;
  readonly type = 'nfs' as const;
  readonly shareFsType = 'nfs' as const;
  readonly parameterKeys = NFS_PARAMETER_KEYS;
  private readonly mounts: ShareMounts;
  private readonly jobs: Jobs;
  protected readonly volumes: Provisioner;
  protected readonly publishing: Publisher;
  protected readonly snapshots: Snapshotter;
  private readonly home: ShareRef;
  private registerRetry: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: NfsBackendConfig,
    private readonly log: Logger,
  ) {
    super();
    this.name = config.name;
    this.home = { server: config.server, share: config.share };
    const timeouts = {
      mountMs: Math.round(config.mountTimeoutSeconds * 1000),
      operationMs: Math.round(config.operationTimeoutSeconds * 1000),
      copyMs: Math.round(config.copyTimeoutSeconds * 1000),
    };
    this.mounts = new ShareMounts(config.workDir ?? defaultWorkDir(config.name), config.mountOptions, timeouts, log);
    const fs = new ShareFs(this.mounts);
    this.jobs = new Jobs(log);
    this.volumes = new Provisioner(fs, this.jobs, {
      ...this.home,
      onDelete: config.onDelete,
      mountPermissions: config.mountPermissions,
      maxLocalIdBytes: localIdBudget(config.name),
    });
    this.publishing = new Publisher(fs, this.home);
    this.snapshots = new Snapshotter(fs, this.jobs, this.volumes);
  }

  /** Directories on a shared export: any access mode, many writers on many nodes included. No raw block. */
  supports(capability: Capability): boolean {
    // The fs_type is not ours to choose (a provisioner's --default-fstype may set one): the export is what it is.
    return capability.accessType === 'mount';
  }

  /** The volume's directory of its export, mounted with the backend's options under its timeouts. */
  nodeSource(volumeId: string): NodeSource {
    const ref = parseVolumeId(volumeId);
    return {
      kind: 'share',
      source: mountSource(ref, ref.dir),
      fsType: 'nfs',
      mountOptions: this.config.mountOptions,
      mountTimeoutMs: Math.round(this.config.mountTimeoutSeconds * 1000),
      operationTimeoutMs: Math.round(this.config.operationTimeoutSeconds * 1000),
    };
  }

  /** Every node reaches the export: no topology segment. */
  async nodeTopology(): Promise<Record<string, string>> {
    return {};
  }

  /**
   * Registers the node with the export (so that publishing to a node that does not exist is not-found). An export
   * that cannot be reached now must not keep the node plugin from registering with the kubelet: retried later.
   */
  async registerNode(nodeId: string, ctx: OpContext): Promise<void> {
    if (this.registerRetry) {
      clearTimeout(this.registerRetry);
      this.registerRetry = undefined;
    }
    try {
      await this.publishing.registerNode(nodeId, ctx);
    } catch (err) {
      ctx.log.warn({ nodeId, err: errorMessage(err), retryInMs: REGISTER_RETRY_MS }, 'could not register the node with the export; trying again later');
      this.registerRetry = setTimeout(() => {
        void this.registerNode(nodeId, { signal: new AbortController().signal, log: this.log });
      }, REGISTER_RETRY_MS);
      this.registerRetry.unref();
    }
  }

  /** Every export this process has mounted answers (a process that has mounted none has nothing to check). */
  async checkHealth(signal: AbortSignal): Promise<void> {
    await this.mounts.check(signal);
  }

  async close(): Promise<void> {
    if (this.registerRetry) clearTimeout(this.registerRetry);
    await this.jobs.close();
    await this.mounts.close();
  }
}
