import { exec } from '../../src/util/exec.js';
import type { RunRecords } from './records.js';

/**
 * The cluster's network: a bridge on the host, one veth per node into the node's network namespace.
 *
 *   host: bridge BRIDGE with HOST_ADDRESS/24 and SERVICE_IP/32 (the `kubernetes` Service's cluster IP)
 *   node i: eth0 with its node IP, default route via HOST_ADDRESS; pods on their own network get addresses of the
 *   node's pod subnet (containerd.ts's CNI bridge), which the node forwards and the host routes back via the node
 *
 * There is no kube-proxy. In-cluster clients (the CSI sidecars, the driver) reach the API server at the Service IP,
 * port 443: that address is the host's own, so a packet to it from a node (or a pod) is delivered to the API server,
 * which listens on 0.0.0.0:443. Host processes use HOST_ADDRESS or 127.0.0.1. Node to node goes through the bridge.
 */
export const BRIDGE = 'fe2e0';
export const SUBNET_PREFIX = '10.200.0';
export const HOST_ADDRESS = `${SUBNET_PREFIX}.1`;
export const SERVICE_CIDR = '10.0.0.0/24';
export const SERVICE_IP = '10.0.0.1';

/** A node's pod subnet: 10.201.<last octet of its own address>.0/24, so no two nodes hand out the same pod IP. */
export function podSubnet(nodeAddress: string): string {
  return `10.201.${nodeAddress.split('.')[3] ?? '0'}.0/24`;
}

export function nodeAddress(index: number): string {
  return `${SUBNET_PREFIX}.${11 + index}`;
}

/** Host-side name of a node's veth (interface names have at most 15 characters). */
export function hostVeth(node: string): string {
  return `fe2e-${node}`.slice(0, 15);
}

async function linkExists(name: string): Promise<boolean> {
  const { exitCode } = await exec('ip', ['link', 'show', 'dev', name], { okExitCodes: [1] });
  return exitCode === 0;
}

export async function createBridge(records: RunRecords): Promise<void> {
  if (await linkExists(BRIDGE)) {
    throw new Error(`network interface ${BRIDGE} already exists: another e2e cluster is running (or run test/e2e/teardown.ts)`);
  }
  records.add({ kind: 'link', name: BRIDGE });
  await exec('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  await exec('ip', ['addr', 'add', `${HOST_ADDRESS}/24`, 'dev', BRIDGE]);
  await exec('ip', ['addr', 'add', `${SERVICE_IP}/32`, 'dev', BRIDGE]);
  await exec('ip', ['link', 'set', BRIDGE, 'up']);
}

/** A veth from the bridge into the node's network namespace (the file pinning it), addressed and routed. */
export async function connectNode(records: RunRecords, node: string, netFile: string, address: string): Promise<void> {
  const host = hostVeth(node);
  const peer = `${host}p`.slice(0, 15);
  records.add({ kind: 'link', name: host });
  await exec('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
  // `ip` takes a namespace file's path where it takes a name (a name is looked up under /run/netns).
  await exec('ip', ['link', 'set', peer, 'netns', netFile]);
  await exec('ip', ['link', 'set', host, 'master', BRIDGE, 'up']);
  const inNode = (args: string[]) => exec('nsenter', [`--net=${netFile}`, '--', 'ip', ...args]);
  await inNode(['link', 'set', 'lo', 'up']);
  await inNode(['link', 'set', peer, 'name', 'eth0']);
  await inNode(['addr', 'add', `${address}/24`, 'dev', 'eth0']);
  await inNode(['link', 'set', 'eth0', 'up']);
  await inNode(['route', 'add', 'default', 'via', HOST_ADDRESS]);
  // Pods with a network of their own (a controller such as the storage suite's volume populator) reach the API
  // server at the Service IP: the node forwards their packets, the host sends the answers back through the node. The
  // route goes with the bridge at teardown.
  // (/proc/sys/net answers for the network namespace of whoever opens it.)
  await exec('nsenter', [`--net=${netFile}`, '--', 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
  await exec('ip', ['route', 'add', podSubnet(address), 'via', address, 'dev', BRIDGE]);
}

/** Deletes a link if it exists (a veth's peer goes with it). */
export async function deleteLink(name: string): Promise<void> {
  if (await linkExists(name)) await exec('ip', ['link', 'del', name]).catch(() => undefined);
}
