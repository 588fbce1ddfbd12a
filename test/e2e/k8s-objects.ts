import { BLOCK_CLASS, GROUP_SNAPSHOT_CLASS, SNAPSHOT_CLASS, STORAGE_CLASS } from './ferry-values.js';

/**
 * The objects the scenarios create, as JSON manifests. Pods use the node's network (the cluster has no pod network)
 * and the busybox image every node has; they land on a node by its hostname label, through the scheduler (so
 * WaitForFirstConsumer binding works as in any cluster).
 */
export const NS = 'default';

export function pvc(
  name: string,
  size: string,
  options: { block?: boolean; fromSnapshot?: string; storageClass?: string; accessMode?: 'ReadWriteOnce' | 'ReadWriteMany'; labels?: Record<string, string>; volumeAttributesClass?: string } = {},
): object {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: NS, ...(options.labels ? { labels: options.labels } : {}) },
    spec: {
      accessModes: [options.accessMode ?? 'ReadWriteOnce'],
      storageClassName: options.storageClass ?? (options.block ? BLOCK_CLASS : STORAGE_CLASS),
      volumeMode: options.block ? 'Block' : 'Filesystem',
      resources: { requests: { storage: size } },
      ...(options.volumeAttributesClass ? { volumeAttributesClassName: options.volumeAttributesClass } : {}),
      ...(options.fromSnapshot ? { dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: options.fromSnapshot } } : {}),
    },
  };
}

/** A VolumeAttributesClass of Ferry's (storage.k8s.io/v1, GA in Kubernetes 1.34): QoS a bound PVC can switch to. */
export function volumeAttributesClass(name: string, parameters: Record<string, string>): object {
  return { apiVersion: 'storage.k8s.io/v1', kind: 'VolumeAttributesClass', metadata: { name }, driverName: 'ferry.csi.io', parameters };
}

export function snapshot(name: string, claim: string): object {
  return {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshot',
    metadata: { name, namespace: NS },
    spec: { volumeSnapshotClassName: SNAPSHOT_CLASS, source: { persistentVolumeClaimName: claim } },
  };
}

/** A VolumeGroupSnapshot of every PVC carrying `labels`. */
export function groupSnapshot(name: string, labels: Record<string, string>): object {
  return {
    apiVersion: 'groupsnapshot.storage.k8s.io/v1',
    kind: 'VolumeGroupSnapshot',
    metadata: { name, namespace: NS },
    spec: { volumeGroupSnapshotClassName: GROUP_SNAPSHOT_CLASS, source: { selector: { matchLabels: labels } } },
  };
}

/** A pod on `node` with several claims, each mounted at /<claim's mount name>. */
export function multiClaimPod(name: string, node: string, claims: Record<string, string>, script: string, keepRunning = false): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      hostNetwork: true,
      terminationGracePeriodSeconds: 2,
      restartPolicy: keepRunning ? 'Always' : 'Never',
      nodeSelector: { 'kubernetes.io/hostname': node },
      containers: [
        {
          name: 'main',
          image: 'busybox:1.36',
          imagePullPolicy: 'Never',
          command: ['sh', '-c', script],
          volumeMounts: Object.keys(claims).map((mount) => ({ name: mount, mountPath: `/${mount}` })),
        },
      ],
      volumes: Object.entries(claims).map(([mount, claim]) => ({ name: mount, persistentVolumeClaim: { claimName: claim } })),
    },
  };
}

function container(script: string, block: boolean): object {
  return {
    name: 'main',
    image: 'busybox:1.36',
    imagePullPolicy: 'Never',
    command: ['sh', '-c', script],
    ...(block ? { volumeDevices: [{ name: 'data', devicePath: '/dev/xvda' }] } : { volumeMounts: [{ name: 'data', mountPath: '/data' }] }),
  };
}

/** What every scenario pod shares: the node's network (no pod network here), a quick stop, one busybox container. */
function podSpec(script: string, block: boolean): Record<string, unknown> {
  return { hostNetwork: true, terminationGracePeriodSeconds: 2, containers: [container(script, block)] };
}

/** A pod on `node` that runs `script` once against the claim (mounted at /data, or the device /dev/xvda). */
export function pod(name: string, node: string, claim: string, script: string, options: { block?: boolean; keepRunning?: boolean; labels?: Record<string, string> } = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, ...(options.labels ? { labels: options.labels } : {}) },
    spec: {
      ...podSpec(script, options.block ?? false),
      restartPolicy: options.keepRunning ? 'Always' : 'Never',
      nodeSelector: { 'kubernetes.io/hostname': node },
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }],
    },
  };
}

/**
 * A one-replica StatefulSet (a database's shape): at first start it writes `token`, every start prints what it finds,
 * then it keeps appending (synced) as a live database would.
 */
export function statefulSet(name: string, token: string, preferredNode?: string, labels: Record<string, string> = {}): object {
  const script = `[ -f /data/token ] || { echo ${token} > /data/token; sync; }; echo "found $(cat /data/token)"; while true; do date >> /data/journal; sync; sleep 1; done`;
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: NS },
    spec: {
      serviceName: name,
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { ...labels, app: name } },
        spec: {
          ...podSpec(script, false),
          ...(preferredNode
            ? {
                affinity: {
                  nodeAffinity: {
                    preferredDuringSchedulingIgnoredDuringExecution: [
                      { weight: 100, preference: { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [preferredNode] }] } },
                    ],
                  },
                },
              }
            : {}),
        },
      },
      volumeClaimTemplates: [
        { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: STORAGE_CLASS, resources: { requests: { storage: '1Gi' } } } },
      ],
    },
  };
}
