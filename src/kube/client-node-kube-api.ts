import os from 'node:os';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  StorageV1Api,
  V1MicroTime,
  setHeaderOptions,
  type V1Lease,
  type V1Node,
} from '@kubernetes/client-node';
import {
  KubeApiError,
  KubeConflictError,
  type EventInput,
  type KubeApi,
  type LeaseView,
  type LeaseWrite,
  type NodeMarks,
  type NodeView,
  type PodRef,
  type Taint,
} from './kube-api.js';

/** A write that keeps losing races this many times in a row is given up (the caller's next round tries again). */
const CONFLICT_RETRIES = 5;

/** Where the API server is: a kubeconfig file, or the service account of the pod we run in. */
export function loadKubeConfig(kubeconfigFile: string | undefined): KubeConfig {
  const config = new KubeConfig();
  if (kubeconfigFile) config.loadFromFile(kubeconfigFile);
  else config.loadFromCluster();
  return config;
}

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/** Every call goes through here: a bound on how long we wait, and one error type for the callers. */
async function call<T>(what: string, timeoutMs: number, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KubeApiError(`${what}: no answer from the Kubernetes API within ${timeoutMs} ms`, undefined)), timeoutMs);
  });
  try {
    return await Promise.race([run(), timeout]);
  } catch (err) {
    if (err instanceof KubeApiError) throw err;
    const status = statusOf(err);
    if (status === 409) throw new KubeConflictError(`${what}: conflict`);
    const detail = err instanceof ApiException ? `HTTP ${err.code}` : err instanceof Error ? err.message : String(err);
    throw new KubeApiError(`${what}: ${detail}`, status, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

async function orUndefinedOn404<T>(run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return undefined;
    throw err;
  }
}

function nodeView(node: V1Node): NodeView {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    name: node.metadata?.name ?? '',
    ready: ready === undefined ? undefined : ready.status === 'True',
    taints: (node.spec?.taints ?? []).map((t) => ({ key: t.key, ...(t.value === undefined ? {} : { value: t.value }), effect: t.effect as Taint['effect'] })),
    annotations: { ...(node.metadata?.annotations ?? {}) },
  };
}

function leaseView(lease: V1Lease): LeaseView {
  const spec = lease.spec ?? {};
  return {
    namespace: lease.metadata?.namespace ?? '',
    name: lease.metadata?.name ?? '',
    holder: spec.holderIdentity ?? undefined,
    acquireTime: spec.acquireTime ? new Date(spec.acquireTime) : undefined,
    renewTime: spec.renewTime ? new Date(spec.renewTime) : undefined,
    durationSeconds: spec.leaseDurationSeconds ?? undefined,
    transitions: spec.leaseTransitions ?? 0,
    labels: { ...(lease.metadata?.labels ?? {}) },
    annotations: { ...(lease.metadata?.annotations ?? {}) },
    ownerPod: ((o) => (o ? { name: o.name, uid: o.uid } : undefined))(lease.metadata?.ownerReferences?.find((r) => r.kind === 'Pod')),
    resourceVersion: lease.metadata?.resourceVersion ?? '',
  };
}

function leaseBody(namespace: string, name: string, write: LeaseWrite, resourceVersion?: string): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name,
      namespace,
      labels: write.labels,
      annotations: write.annotations,
      ...(write.ownerPod ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: write.ownerPod.name, uid: write.ownerPod.uid }] } : {}),
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    spec: {
      holderIdentity: write.holder,
      leaseDurationSeconds: write.durationSeconds,
      acquireTime: new V1MicroTime(write.acquireTime.getTime()),
      renewTime: new V1MicroTime(write.renewTime.getTime()),
      leaseTransitions: write.transitions,
    },
  };
}

/** KubeApi on a real API server, through @kubernetes/client-node. */
export class ClientNodeKubeApi implements KubeApi {
  private readonly core: CoreV1Api;
  private readonly storage: StorageV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly instance = os.hostname();

  constructor(
    config: KubeConfig,
    private readonly timeoutMs = 10_000,
  ) {
    this.core = config.makeApiClient(CoreV1Api);
    this.storage = config.makeApiClient(StorageV1Api);
    this.coordination = config.makeApiClient(CoordinationV1Api);
  }

  getNode(name: string): Promise<NodeView | undefined> {
    return orUndefinedOn404(() => call(`get node ${name}`, this.timeoutMs, async () => nodeView(await this.core.readNode({ name }))));
  }

  async listNodes(): Promise<NodeView[]> {
    const list = await call('list nodes', this.timeoutMs, () => this.core.listNode());
    return list.items.map(nodeView);
  }

  async updateNodeMarks(name: string, change: (node: NodeView) => NodeMarks | undefined): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const node = await call(`get node ${name}`, this.timeoutMs, () => this.core.readNode({ name }));
      const marks = change(nodeView(node));
      if (!marks) return false;
      const annotations: Record<string, string> = { ...(node.metadata?.annotations ?? {}) };
      for (const [key, value] of Object.entries(marks.annotations)) {
        if (value === null) delete annotations[key];
        else annotations[key] = value;
      }
      // The test on resourceVersion makes this a compare-and-swap: taints are a list, and a plain patch would
      // overwrite a taint someone else added since we read the Node.
      const patch = [
        { op: 'test', path: '/metadata/resourceVersion', value: node.metadata?.resourceVersion ?? '' },
        { op: 'add', path: '/spec/taints', value: marks.taints },
        { op: 'add', path: '/metadata/annotations', value: annotations },
      ];
      try {
        await call(`patch node ${name}`, this.timeoutMs, () =>
          this.core.patchNode({ name, body: patch }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch)),
        );
        return true;
      } catch (err) {
        // A failed JSON-patch test is 422 (or 409 from the version check): someone wrote in between; read again.
        const raced = err instanceof KubeConflictError || (err instanceof KubeApiError && err.status === 422);
        if (!raced || attempt >= CONFLICT_RETRIES) throw err;
      }
    }
  }

  async csiNodeIds(driverName: string): Promise<Map<string, string>> {
    const list = await call('list csinodes', this.timeoutMs, () => this.storage.listCSINode());
    const ids = new Map<string, string>();
    for (const csiNode of list.items) {
      // `drivers` is required in the API's types but null on the wire while a (re)started kubelet has registered no
      // plugin yet: seen in the end-to-end failover, where it failed every failover round until the plugin was back.
      const drivers = (csiNode.spec.drivers as typeof csiNode.spec.drivers | null) ?? [];
      const driver = drivers.find((d) => d.name === driverName);
      if (driver && csiNode.metadata?.name) ids.set(csiNode.metadata.name, driver.nodeID);
    }
    return ids;
  }

  getLease(namespace: string, name: string): Promise<LeaseView | undefined> {
    return orUndefinedOn404(() =>
      call(`get lease ${namespace}/${name}`, this.timeoutMs, async () => leaseView(await this.coordination.readNamespacedLease({ namespace, name }))),
    );
  }

  async listLeases(namespace: string, labelSelector: string): Promise<LeaseView[]> {
    const list = await call(`list leases in ${namespace}`, this.timeoutMs, () => this.coordination.listNamespacedLease({ namespace, labelSelector }));
    return list.items.map(leaseView);
  }

  async createLease(namespace: string, name: string, write: LeaseWrite): Promise<LeaseView> {
    const body = leaseBody(namespace, name, write);
    return leaseView(await call(`create lease ${namespace}/${name}`, this.timeoutMs, () => this.coordination.createNamespacedLease({ namespace, body })));
  }

  async replaceLease(current: LeaseView, write: LeaseWrite): Promise<LeaseView> {
    const { namespace, name } = current;
    const body = leaseBody(namespace, name, write, current.resourceVersion);
    return leaseView(
      await call(`replace lease ${namespace}/${name}`, this.timeoutMs, () => this.coordination.replaceNamespacedLease({ namespace, name, body })),
    );
  }

  async deleteLease(current: LeaseView): Promise<void> {
    const { namespace, name } = current;
    await orUndefinedOn404(() =>
      call(`delete lease ${namespace}/${name}`, this.timeoutMs, () =>
        this.coordination.deleteNamespacedLease({ namespace, name, body: { preconditions: { resourceVersion: current.resourceVersion } } }),
      ),
    );
  }

  async persistentVolumeOf(driverName: string, volumeHandle: string): Promise<string | undefined> {
    const list = await call('list persistentvolumes', this.timeoutMs, () => this.core.listPersistentVolume());
    const pv = list.items.find((p) => p.spec?.csi?.driver === driverName && p.spec.csi.volumeHandle === volumeHandle);
    return pv?.metadata?.name;
  }

  async volumeAttributesOf(driverName: string, volumeHandle: string): Promise<Record<string, string> | undefined> {
    const list = await call('list persistentvolumes', this.timeoutMs, () => this.core.listPersistentVolume());
    const pv = list.items.find((p) => p.spec?.csi?.driver === driverName && p.spec.csi.volumeHandle === volumeHandle);
    const name = pv?.spec?.volumeAttributesClassName;
    if (name === undefined || name === '') return undefined;
    const vac = await orUndefinedOn404(() => call(`get volumeattributesclass ${name}`, this.timeoutMs, () => this.storage.readVolumeAttributesClass({ name })));
    if (vac === undefined || vac.driverName !== driverName) return undefined;
    return vac.parameters ?? {};
  }

  async podsUsingDriver(nodeName: string, driverName: string): Promise<PodRef[]> {
    const pvs = await call('list persistentvolumes', this.timeoutMs, () => this.core.listPersistentVolume());
    const claims = new Set(
      pvs.items
        .filter((p) => p.spec?.csi?.driver === driverName && p.spec.claimRef?.name)
        .map((p) => `${p.spec?.claimRef?.namespace ?? ''}/${p.spec?.claimRef?.name ?? ''}`),
    );
    const pods = await call(`list pods on ${nodeName}`, this.timeoutMs, () =>
      this.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${nodeName}` }),
    );
    const found: PodRef[] = [];
    for (const pod of pods.items) {
      const namespace = pod.metadata?.namespace ?? '';
      const name = pod.metadata?.name ?? '';
      const claimNames = (pod.spec?.volumes ?? []).flatMap((v) => {
        if (v.persistentVolumeClaim) return [v.persistentVolumeClaim.claimName];
        // A generic ephemeral volume's claim is named <pod>-<volume>.
        if (v.ephemeral) return [`${name}-${v.name}`];
        return [];
      });
      if (claimNames.some((c) => claims.has(`${namespace}/${c}`))) found.push({ namespace, name, uid: pod.metadata?.uid ?? '' });
    }
    return found;
  }

  async forceDeletePod(pod: PodRef): Promise<void> {
    await orUndefinedOn404(() =>
      call(`delete pod ${pod.namespace}/${pod.name}`, this.timeoutMs, () =>
        this.core.deleteNamespacedPod({
          namespace: pod.namespace,
          name: pod.name,
          gracePeriodSeconds: 0,
          // The uid precondition: never delete a pod of the same name created since we looked.
          body: { gracePeriodSeconds: 0, preconditions: { uid: pod.uid } },
        }),
      ),
    );
  }

  async createEvent(event: EventInput): Promise<void> {
    const now = new Date();
    const namespace = event.target.namespace ?? 'default';
    await call(`create event on ${event.target.kind} ${event.target.name}`, this.timeoutMs, () =>
      this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${event.target.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`, namespace },
          involvedObject: {
            apiVersion: 'v1',
            kind: event.target.kind,
            name: event.target.name,
            ...(event.target.namespace ? { namespace: event.target.namespace } : {}),
            ...(event.target.uid ? { uid: event.target.uid } : {}),
          },
          type: event.type,
          reason: event.reason,
          message: event.message.slice(0, 1024),
          source: { component: 'ferry', host: this.instance },
          reportingComponent: 'ferry.csi.io/ferry',
          reportingInstance: this.instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      }),
    );
  }
}
