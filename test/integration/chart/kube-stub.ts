import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Just enough of a Kubernetes API server for `kubectl apply --dry-run=client` to run offline: legacy discovery for the
 * kinds the chart renders, the real OpenAPI v2 document in its protobuf form (so kubectl validates every field
 * client-side; CRD kinds such as VolumeSnapshotClass have no schema there and are only checked for kind), and 404 for
 * every object (so each one is a dry-run create). Anything but a GET is recorded as a violation: a client-side dry run
 * must never write.
 */
export interface KubeStub {
  url: string;
  writes: string[];
  close(): Promise<void>;
}

interface Resource {
  name: string;
  kind: string;
  namespaced: boolean;
}

const GROUPS: Record<string, Resource[]> = {
  v1: [
    { name: 'configmaps', kind: 'ConfigMap', namespaced: true },
    { name: 'secrets', kind: 'Secret', namespaced: true },
    { name: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
    { name: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', namespaced: true },
    { name: 'pods', kind: 'Pod', namespaced: true },
    { name: 'namespaces', kind: 'Namespace', namespaced: false },
  ],
  'apps/v1': [
    { name: 'deployments', kind: 'Deployment', namespaced: true },
    { name: 'daemonsets', kind: 'DaemonSet', namespaced: true },
  ],
  'storage.k8s.io/v1': [
    { name: 'storageclasses', kind: 'StorageClass', namespaced: false },
    { name: 'csidrivers', kind: 'CSIDriver', namespaced: false },
    { name: 'volumeattributesclasses', kind: 'VolumeAttributesClass', namespaced: false },
  ],
  'rbac.authorization.k8s.io/v1': [
    { name: 'clusterroles', kind: 'ClusterRole', namespaced: false },
    { name: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false },
    { name: 'roles', kind: 'Role', namespaced: true },
    { name: 'rolebindings', kind: 'RoleBinding', namespaced: true },
  ],
  'admissionregistration.k8s.io/v1': [
    { name: 'validatingadmissionpolicies', kind: 'ValidatingAdmissionPolicy', namespaced: false },
    { name: 'validatingadmissionpolicybindings', kind: 'ValidatingAdmissionPolicyBinding', namespaced: false },
  ],
  'snapshot.storage.k8s.io/v1': [{ name: 'volumesnapshotclasses', kind: 'VolumeSnapshotClass', namespaced: false }],
};

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

interface Body {
  type: string;
  data: string | Buffer;
}

function json(value: unknown): Body {
  return { type: 'application/json', data: JSON.stringify(value) };
}

function routes(openApiProtobufFile: string): Map<string, Body> {
  const out = new Map<string, Body>();
  const groups = Object.keys(GROUPS).filter((gv) => gv.includes('/'));
  out.set('/api', json({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] }));
  out.set(
    '/apis',
    json({
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: groups.map((gv) => {
        const [group = '', version = ''] = gv.split('/');
        const v = { groupVersion: gv, version };
        return { name: group, versions: [v], preferredVersion: v };
      }),
    }),
  );
  for (const [gv, resources] of Object.entries(GROUPS)) {
    const list = {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: gv,
      resources: resources.map((r) => ({ name: r.name, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs: VERBS })),
    };
    out.set(gv === 'v1' ? '/api/v1' : `/apis/${gv}`, json(list));
  }
  out.set('/openapi/v2', { type: 'application/octet-stream', data: readFileSync(openApiProtobufFile) });
  return out;
}

export async function startKubeStub(openApiProtobufFile: string): Promise<KubeStub> {
  const table = routes(openApiProtobufFile);
  const writes: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    if (req.method !== 'GET') writes.push(`${req.method ?? '?'} ${url.pathname}`);
    const body = req.method === 'GET' ? table.get(url.pathname) : undefined;
    if (body !== undefined) {
      res.writeHead(200, { 'content-type': body.type });
      res.end(body.data);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${url.pathname} not found` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    writes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
