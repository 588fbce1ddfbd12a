import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import type { RunRecords } from './records.js';

/**
 * The cgroups our containers leave behind. runc (cgroupfs driver, cgroup v1) puts each container in
 * /sys/fs/cgroup/<hierarchy>/k8s.io/<container id>; a container whose shim was SIGKILLed (a killed node, a teardown)
 * never gets its cgroups removed. An empty cgroup is removed with rmdir (its control files do not count).
 */
const CGROUP_ROOT = '/sys/fs/cgroup';
/** containerd's namespace, which is runc's parent cgroup when the kubelet gives none (cgroupsPerQOS: false). */
const PARENT = 'k8s.io';

function hierarchies(): string[] {
  if (!existsSync(CGROUP_ROOT)) return [];
  return readdirSync(CGROUP_ROOT, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => path.join(CGROUP_ROOT, e.name));
}

/** Records the parent cgroups that do not exist yet: runc creates them for us, teardown removes them. */
export function recordCgroupParents(records: RunRecords): void {
  for (const h of hierarchies()) {
    const dir = path.join(h, PARENT);
    if (!existsSync(dir)) records.add({ kind: 'cgroup', path: dir });
  }
}

/** The ids of every container and sandbox a node's containerd knows, from its directories (`nodeRoot`: its /). */
export function containerIds(nodeRoot: string): string[] {
  const dirs = [
    'run/containerd/io.containerd.runtime.v2.task/k8s.io',
    'var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes',
    'var/lib/containerd/io.containerd.grpc.v1.cri/containers',
  ];
  const ids = new Set<string>();
  for (const d of dirs) {
    const full = path.join(nodeRoot, d);
    if (!existsSync(full)) continue;
    for (const e of readdirSync(full)) if (/^[0-9a-f]{64}$/.test(e)) ids.add(e);
  }
  return [...ids];
}

/** Removes a cgroup and the cgroups below it, deepest first; returns the ones that would not go (processes left). */
export function removeCgroup(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const left: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) left.push(...removeCgroup(path.join(dir, e.name)));
  }
  try {
    rmdirSync(dir);
  } catch {
    left.push(dir);
  }
  return left;
}

/** Removes our containers' cgroups in every hierarchy. */
export function removeContainerCgroups(ids: readonly string[]): string[] {
  const left: string[] = [];
  for (const h of hierarchies()) {
    for (const id of ids) left.push(...removeCgroup(path.join(h, PARENT, id)));
  }
  return left;
}
