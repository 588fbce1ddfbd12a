/**
 * The Helm values the end-to-end cluster installs Ferry with: the chart's own settings, pointed at the `ferry pool`
 * running on the host, with the locally built images (no registry: every pull policy is Never).
 */
export interface E2eValuesInput {
  imageTag: string;
  poolEndpoint: string;
  poolPassword: string;
  /** The pool's system id: the node plugins take it from their configuration (they hold no gateway credentials). */
  poolSystemId: string;
  failover: 'off' | 'dry-run' | 'on';
  /** The NFS export stand-in on the host (FerryCluster.makeNfsExport). */
  nfs: { exportHostDir: string; helperHostFile: string };
  /** The node plugins' max_volumes_per_node (0: no limit, the default). The storage suite's volume-limit specs need one. */
  maxVolumesPerNode?: number;
}

/**
 * Where the images differ from the chart's defaults: the module proxy reachable here lacks csi-resizer v2.2.1 (v2.2.0
 * is built) and every version of node-driver-registrar and livenessprobe (stand-ins/ replaces them). Named for what
 * they are, never under the upstream names.
 */
const SIDECAR_IMAGES: Record<string, { repository: string; tag: string }> = {
  resizer: { repository: 'registry.k8s.io/sig-storage/csi-resizer', tag: 'v2.2.0' },
  nodeDriverRegistrar: { repository: 'localhost/ferry-e2e/csi-node-driver-registrar', tag: 'stand-in' },
  livenessProbe: { repository: 'localhost/ferry-e2e/livenessprobe', tag: 'stand-in' },
};

export const STORAGE_CLASS = 'ferry-xfs';
/** The same, bound at once (the 100-PVC scenario binds before any pod exists). */
export const IMMEDIATE_CLASS = 'ferry-xfs-now';
export const BLOCK_CLASS = 'ferry-raw';
export const SNAPSHOT_CLASS = 'ferry-snapshots';
export const GROUP_SNAPSHOT_CLASS = 'ferry-group-snapshots';
export const NFS_CLASS = 'ferry-nfs';
export const NFS_SERVER = 'nfs-e2e';
export const NFS_SHARE = '/exports/share';
/** Where the export's contents appear inside the driver containers, for the stand-in mount helper. */
export const NFS_CONTAINER_DIR = `/e2e-nfs${NFS_SHARE}`;
/** Inside the node's own /var/lib/ferry, so the node plugin (which mounts that directory) sees it. */
export const SDC_DEVICE_DIR = '/var/lib/ferry/sdc-devices';

const SIDECARS = ['provisioner', 'attacher', 'resizer', 'snapshotter', 'nodeDriverRegistrar', 'livenessProbe'] as const;

export function e2eValues(input: E2eValuesInput): Record<string, unknown> {
  const sidecars = Object.fromEntries(
    SIDECARS.map((name) => [name, { image: { ...(SIDECAR_IMAGES[name] ?? {}), pullPolicy: 'Never' }, ...(name === 'snapshotter' ? { volumeGroupSnapshots: true } : {}) }]),
  );
  const storageClass = (name: string, fsType: string, volumeBindingMode = 'WaitForFirstConsumer'): Record<string, unknown> => ({
    name,
    parameters: { backend: 'pool', storagePool: 'pool1', 'csi.storage.k8s.io/fstype': fsType, preemption: 'safe' },
    reclaimPolicy: 'Delete',
    allowVolumeExpansion: true,
    volumeBindingMode,
  });
  // This kernel has no NFS client: the driver containers get a stand-in /usr/sbin/mount.nfs (mount -t nfs calls it as
  // it calls the real one) that bind-mounts the export's directory, which they see at NFS_CONTAINER_DIR. Ferry's own
  // code path (mount -t nfs SERVER:/SHARE/DIR, its checks of the mount table) is unchanged.
  const nfsVolumes = [
    { name: 'e2e-nfs-export', hostPath: { path: input.nfs.exportHostDir, type: 'Directory' } },
    { name: 'e2e-nfs-helper', hostPath: { path: input.nfs.helperHostFile, type: 'File' } },
  ];
  const nfsMounts = [
    { name: 'e2e-nfs-export', mountPath: NFS_CONTAINER_DIR, mountPropagation: 'HostToContainer' },
    { name: 'e2e-nfs-helper', mountPath: '/usr/sbin/mount.nfs', readOnly: true },
  ];
  return {
    image: { repository: 'ferry', tag: input.imageTag, pullPolicy: 'Never' },
    sidecars,
    logLevel: 'debug',
    controller: {
      // The chart's default: two replicas, one per node (host network ports keep them apart), so the failover
      // controller survives the death of either node (the other replica takes the lead after the chart's 6 s lease).
      replicas: 2,
      // The cluster has no pod network beyond loopback (no CNI plugin, no kube-proxy): the controller reaches the pool
      // and the API server from its node's network namespace, as the node plugin does.
      hostNetwork: true,
      failover: { mode: input.failover, intervalSeconds: 1 },
      extraVolumes: nfsVolumes,
      extraVolumeMounts: nfsMounts,
    },
    node: { heartbeat: { intervalSeconds: 1, durationSeconds: 5 }, extraVolumes: nfsVolumes, extraVolumeMounts: nfsMounts },
    backends: [
      {
        name: 'pool',
        type: 'powerflex',
        endpoint: input.poolEndpoint,
        username: 'admin',
        credentials: { password: input.poolPassword },
        systemId: input.poolSystemId,
        storagePool: 'pool1',
        preemption: 'safe',
        preemptionConfirmSeconds: 2,
      },
      { name: 'shared', type: 'nfs', server: NFS_SERVER, share: NFS_SHARE, onDelete: 'delete', mountTimeoutSeconds: 20 },
    ],
    // The SDC's device links: each node sees its own pool host directory there (FerryCluster binds it per node).
    nodeConfig: {
      stateDir: '/var/lib/ferry/node',
      deviceDir: SDC_DEVICE_DIR,
      deviceWaitSeconds: 30,
      cleanupIntervalSeconds: 5,
      ...(input.maxVolumesPerNode ? { maxVolumes: input.maxVolumesPerNode } : {}),
    },
    storageClasses: [
      storageClass(STORAGE_CLASS, 'xfs'),
      storageClass(IMMEDIATE_CLASS, 'xfs', 'Immediate'),
      storageClass(BLOCK_CLASS, 'ext4'),
      { name: NFS_CLASS, parameters: { backend: 'shared' }, reclaimPolicy: 'Delete', volumeBindingMode: 'Immediate' },
    ],
    volumeSnapshotClasses: [{ name: SNAPSHOT_CLASS, deletionPolicy: 'Delete' }],
    volumeGroupSnapshotClasses: [{ name: GROUP_SNAPSHOT_CLASS, deletionPolicy: 'Delete' }],
    tests: { enabled: true, image: { repository: 'busybox', tag: '1.36', pullPolicy: 'Never' }, size: '1Gi', hostNetwork: true },
  };
}
