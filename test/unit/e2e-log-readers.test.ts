import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeKubeletSteps, kubeletVolumeSteps } from '../e2e/kubelet-log.js';
import { clientActivity, metricSum } from '../e2e/prometheus.js';

// What the end-to-end scenarios read from Kubernetes' own components: their figures are only as good as these readers.

describe('Prometheus text', () => {
  const before = [
    '# HELP rest_client_requests_total [ALPHA] Number of HTTP requests, partitioned by status code, method, and host.',
    '# TYPE rest_client_requests_total counter',
    'rest_client_requests_total{code="200",host="127.0.0.1:443",method="GET"} 10',
    'rest_client_requests_total{code="200",host="127.0.0.1:443",method="PUT"} 5',
    'rest_client_rate_limiter_duration_seconds_bucket{host="127.0.0.1:443",verb="PUT",le="0.005"} 14',
    'rest_client_rate_limiter_duration_seconds_bucket{host="127.0.0.1:443",verb="PUT",le="1"} 15',
    'rest_client_rate_limiter_duration_seconds_bucket{host="127.0.0.1:443",verb="PUT",le="+Inf"} 15',
    'rest_client_rate_limiter_duration_seconds_sum{host="127.0.0.1:443",verb="PUT"} 0.5',
    'rest_client_rate_limiter_duration_seconds_count{host="127.0.0.1:443",verb="PUT"} 15',
  ].join('\n');
  const after = [
    'rest_client_requests_total{code="200",host="127.0.0.1:443",method="GET"} 12',
    'rest_client_requests_total{code="200",host="127.0.0.1:443",method="PUT"} 25',
    'rest_client_requests_total{code="409",host="127.0.0.1:443",method="PUT"} 3',
    'rest_client_rate_limiter_duration_seconds_bucket{host="127.0.0.1:443",verb="PUT",le="0.005"} 16',
    'rest_client_rate_limiter_duration_seconds_bucket{host="127.0.0.1:443",verb="PUT",le="1"} 30',
    'rest_client_rate_limiter_duration_seconds_bucket{host="127.0.0.1:443",verb="PUT",le="+Inf"} 40',
    'rest_client_rate_limiter_duration_seconds_sum{host="127.0.0.1:443",verb="PUT"} 30.5',
    'rest_client_rate_limiter_duration_seconds_count{host="127.0.0.1:443",verb="PUT"} 40',
  ].join('\n');

  test('sums a metric over its labels, and over the labels asked for only', () => {
    expect(metricSum(after, 'rest_client_requests_total')).toBe(40);
    expect(metricSum(after, 'rest_client_requests_total', { method: 'PUT' })).toBe(28);
    // A longer name sharing the prefix is another metric.
    expect(metricSum(after, 'rest_client_rate_limiter_duration_seconds')).toBe(0);
  });

  test('what a client did between two readings: requests, those held by its rate limiter, and for how long', () => {
    expect(clientActivity(before, after)).toEqual({ requests: 25, byMethod: { GET: 2, PUT: 23 }, throttled: 23, waitedSeconds: 30, waitedOverOneSecond: 10 });
  });
});

describe("a kubelet's log of one pod's volume", () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubelet-log-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const volume = (uid: string) => `for volume \\"pvc-1\\" (UniqueName: \\"kubernetes.io/csi/ferry.csi.io^pool:s-v\\") pod \\"db-0\\" (UID: \\"${uid}\\")`;
  const token = (uid: string) => `for volume \\"kube-api-access-x\\" (UniqueName: \\"kubernetes.io/projected/${uid}-kube-api-access-x\\") pod \\"db-0\\" (UID: \\"${uid}\\")`;
  const lines = [
    `I1206 08:06:59.000000     201 operation_generator.go:617] "MountVolume.SetUp succeeded ${volume('old')}" pod="default/db-0"`,
    `I1206 08:07:16.797604     201 reconciler_common.go:251] "operationExecutor.VerifyControllerAttachedVolume started ${token('aaaa-1')}" pod="default/db-0"`,
    `I1206 08:07:16.974790     201 operation_generator.go:617] "MountVolume.SetUp succeeded ${token('aaaa-1')}" pod="default/db-0"`,
    `I1206 08:07:19.677416     201 operation_generator.go:617] "MountVolume.SetUp succeeded ${token('bbbb-2')}" pod="default/db-0"`,
    `I1206 08:07:20.778944     201 reconciler_common.go:251] "operationExecutor.VerifyControllerAttachedVolume started ${volume('bbbb-2')}" pod="default/db-0"`,
    `E1206 08:07:20.800000     201 nestedpendingoperations.go:348] Operation for "{volumeName:kubernetes.io/csi/ferry.csi.io^pool:s-v podName: nodeName:}" failed. No retries permitted until 2026-12-06 08:07:21.3 +0000 UTC (durationBeforeRetry 500ms). Error: Volume not attached according to node status ${volume('bbbb-2').replaceAll('\\', '')}`,
    `I1206 08:07:21.453907     201 operation_generator.go:558] "MountVolume.MountDevice succeeded ${volume('bbbb-2')} device mount path \\"/var/lib/kubelet/plugins/x\\"" pod="default/db-0"`,
    `I1206 08:07:22.141597     201 operation_generator.go:617] "MountVolume.SetUp succeeded ${volume('bbbb-2')}" pod="default/db-0"`,
    `I1206 08:07:22.200000     201 operation_generator.go:617] "MountVolume.SetUp succeeded for volume \\"pvc-2\\" (UniqueName: \\"kubernetes.io/csi/x\\") pod \\"db-10\\" (UID: \\"cccc\\")" pod="default/db-10"`,
  ];
  const file = path.join(dir, 'kubelet.log');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const since = Date.parse('2026-12-06T08:07:10Z');

  test('the pods of that name, the CSI volume checked, failed, staged and set up; earlier lines and other pods left out', () => {
    const steps = kubeletVolumeSteps(file, 'db-0', since);
    expect(steps).toEqual({
      podUids: ['aaaa-1', 'bbbb-2'],
      checking: Date.parse('2026-12-06T08:07:20.778Z'),
      failures: [{ at: Date.parse('2026-12-06T08:07:20.800Z'), why: 'not yet attached' }],
      mountDevice: Date.parse('2026-12-06T08:07:21.453Z'),
      setUp: Date.parse('2026-12-06T08:07:22.141Z'),
    });
    expect(describeKubeletSteps(steps, since)).toBe(
      "2 pod(s) of that name; volume reported in use and checked from 10.8, failed at 10.8 (not attached); device staged 11.5, pod's mount set up 12.1",
    );
  });

  test('a log that is not there reads as nothing seen', () => {
    expect(kubeletVolumeSteps(path.join(dir, 'missing.log'), 'db-0', since)).toEqual({ podUids: [], failures: [] });
  });
});
