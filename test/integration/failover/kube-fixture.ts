import { CoreV1Api, StorageV1Api, type KubeConfig } from '@kubernetes/client-node';

/**
 * The test plays the kubelets' and the user's parts against the real API server: Nodes with a Ready condition,
 * CSINodes naming the driver's node ids, and a PV / PVC / Pod triple bound to a node.
 */
export class KubeFixture {
  readonly core: CoreV1Api;
  readonly storage: StorageV1Api;

  constructor(config: KubeConfig, private readonly driverName: string) {
    this.core = config.makeApiClient(CoreV1Api);
    this.storage = config.makeApiClient(StorageV1Api);
  }

  /** What the controller manager would have made: pods are not admitted without their namespace's default ServiceAccount. */
  async addDefaultServiceAccount(): Promise<void> {
    await this.core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'default' } } });
  }

  async addNode(name: string, nodeId: string): Promise<void> {
    await this.core.createNode({ body: { metadata: { name } } });
    await this.setReady(name, true);
    await this.storage.createCSINode({ body: { metadata: { name }, spec: { drivers: [{ name: this.driverName, nodeID: nodeId }] } } });
  }

  async setReady(name: string, ready: boolean): Promise<void> {
    const node = await this.core.readNode({ name });
    const now = new Date();
    node.status = {
      ...node.status,
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'KubeletReady' : 'KubeletStopped', lastHeartbeatTime: now, lastTransitionTime: now }],
    };
    await this.core.replaceNodeStatus({ name, body: node });
  }

  /** The out-of-service taints (the API server adds a not-ready taint of its own to new Nodes, which is not ours to judge). */
  async taints(name: string): Promise<string[]> {
    const node = await this.core.readNode({ name });
    return (node.spec?.taints ?? []).filter((t) => t.key === 'node.kubernetes.io/out-of-service').map((t) => `${t.key}=${t.value ?? ''}:${t.effect}`);
  }

  async annotations(name: string): Promise<Record<string, string>> {
    return (await this.core.readNode({ name })).metadata?.annotations ?? {};
  }

  /** A PV of the driver bound to claim default/<claim>, and a pod on `nodeName` that mounts it. */
  async addWorkload(pvName: string, volumeHandle: string, claim: string, pod: string, nodeName: string): Promise<void> {
    await this.core.createPersistentVolume({
      body: {
        metadata: { name: pvName },
        spec: {
          capacity: { storage: '8Gi' },
          accessModes: ['ReadWriteOnce'],
          csi: { driver: this.driverName, volumeHandle },
          claimRef: { namespace: 'default', name: claim },
          persistentVolumeReclaimPolicy: 'Retain',
        },
      },
    });
    await this.core.createNamespacedPersistentVolumeClaim({
      namespace: 'default',
      body: { metadata: { name: claim }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '8Gi' } }, volumeName: pvName, storageClassName: '' } },
    });
    await this.core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: pod },
        spec: {
          nodeName,
          containers: [{ name: 'app', image: 'busybox:1.36', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }],
        },
      },
    });
  }

  async podExists(name: string): Promise<boolean> {
    try {
      await this.core.readNamespacedPod({ namespace: 'default', name });
      return true;
    } catch {
      return false;
    }
  }

  /** Events on an object, as `reason: message`. */
  async events(kind: string, name: string): Promise<string[]> {
    const list = await this.core.listEventForAllNamespaces({ fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` });
    return list.items.map((e) => `${e.reason ?? ''}: ${e.message ?? ''}`);
  }
}
