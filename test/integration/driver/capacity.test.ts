import { call } from '../../helpers/csi-client.js';
import type { BlockCluster } from '../../helpers/block-cluster.js';
import { useBlockCluster, GiB, blockCapability } from '../../helpers/block-cluster.js';

/**
 * Issue 15, point 4: GetCapacity per topology segment, as the csi-provisioner asks it for CSIStorageCapacity objects
 * (one call per StorageClass and segment of the nodes' topology). A PowerFlex backend answers its pool's free space
 * for its own system's segment (the one its nodes report at NodeGetInfo) and 0 for any other, and the figure follows
 * what volumes take.
 */
let cluster: BlockCluster;

useBlockCluster('ferry-capacity-', (started) => (cluster = started));

async function capacity(segments?: Record<string, string>, parameters: Record<string, string> = {}): Promise<bigint> {
  const res = await call(cluster.controller, 'GetCapacity', {
    volume_capabilities: [blockCapability()],
    parameters,
    ...(segments === undefined ? {} : { accessible_topology: { segments } }),
  });
  return BigInt(res.available_capacity ?? '-1');
}

describe('GetCapacity per topology segment', () => {
  it('answers the pool for its own segment, 0 for another, and less once a thick volume takes its share', async () => {
    const info = await call(cluster.node('node01'), 'NodeGetInfo', {});
    const segment = info.accessible_topology?.segments ?? {};
    expect(Object.keys(segment)).toEqual([expect.stringMatching(/^ferry\.csi\.io\/powerflex-[0-9a-f]{16}$/)]);

    const whole = await capacity();
    expect(whole).toBeGreaterThan(0n);
    expect(await capacity(segment)).toBe(whole);
    expect(await capacity({ 'ferry.csi.io/powerflex-0000000000000000': 'true' })).toBe(0n);
    expect(await capacity({ 'topology.kubernetes.io/zone': 'elsewhere' })).toBe(0n);

    await cluster.createVolume('pvc-capacity-thick', { capability: blockCapability(), requiredBytes: 8n * GiB, parameters: { thinOrThick: 'ThickProvisioned' } });
    expect(await capacity(segment, { thinOrThick: 'ThickProvisioned' })).toBe(whole - 8n * GiB);
  });
});
