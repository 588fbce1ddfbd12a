import { readFileSync } from 'node:fs';

/**
 * What a kubelet's volume manager did with one pod's volume, from the kubelet's own log (klog text): each failed
 * check before the mount and why (its operations back off 0.5 s, 1 s, 2 s, 4 s … after each failure), and when the
 * device and then the pod's mount were set up. The kubelet mounts an attachable volume only once it has both reported
 * it in its Node's `status.volumesInUse` (its node status loop) and seen it attached: the part of a failover that is
 * the kubelet's.
 */
export interface KubeletVolumeSteps {
  /** Pods of that name the kubelet saw (their UIDs): more than one when a replacement was itself deleted again. */
  podUids: string[];
  /** The kubelet began checking the attachment: it had reported the volume in `volumesInUse` (not before, since 1.36). */
  checking?: number;
  failures: { at: number; why: 'not yet in volumesInUse' | 'not yet attached' | 'other' }[];
  mountDevice?: number;
  setUp?: number;
}

/** klog's header: severity, MMDD hh:mm:ss.uuuuuu (the process's local time, UTC on these hosts). */
const HEADER = /^[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})/;

export function kubeletVolumeSteps(logFile: string, pod: string, since: number): KubeletVolumeSteps {
  const year = new Date(since).getUTCFullYear();
  const steps: KubeletVolumeSteps = { podUids: [], failures: [] };
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return steps;
  }
  for (const line of text.split('\n')) {
    if (!line.includes(`"${pod}"`) && !line.includes(`/${pod}"`)) continue;
    const h = HEADER.exec(line);
    if (!h) continue;
    const at = Date.UTC(year, Number(h[1]) - 1, Number(h[2]), Number(h[3]), Number(h[4]), Number(h[5]), Number(h[6]) / 1000);
    if (at < since) continue;
    const uid = /pod \\?"[^"\\]+\\?" \(UID: \\?"([0-9a-f-]+)/.exec(line)?.[1];
    if (uid !== undefined && !steps.podUids.includes(uid)) steps.podUids.push(uid);
    // The CSI volume's steps only (a pod's service account token volume is set up at once).
    if (!line.includes('kubernetes.io/csi/')) continue;
    if (steps.checking === undefined && line.includes('VerifyControllerAttachedVolume started')) {
      steps.checking = at;
    } else if (line.includes('No retries permitted until')) {
      const why = line.includes('has not been added to the list of VolumesInUse')
        ? 'not yet in volumesInUse'
        : line.includes('not attached according to node status')
          ? 'not yet attached'
          : 'other';
      steps.failures.push({ at, why });
    } else if (steps.mountDevice === undefined && line.includes('MountVolume.MountDevice succeeded')) {
      steps.mountDevice = at;
    } else if (steps.setUp === undefined && line.includes('MountVolume.SetUp succeeded')) {
      steps.setUp = at;
    }
  }
  return steps;
}

/** The steps in one phrase, in seconds after `since`. */
export function describeKubeletSteps(steps: KubeletVolumeSteps, since: number): string {
  const s = (t: number): string => ((t - since) / 1000).toFixed(1);
  const short = { 'not yet in volumesInUse': 'not in volumesInUse', 'not yet attached': 'not attached', other: 'other' } as const;
  const failures = steps.failures.length === 0 ? 'none failed' : `failed at ${steps.failures.map((f) => `${s(f.at)} (${short[f.why]})`).join(', ')}`;
  return (
    `${steps.podUids.length} pod(s) of that name; volume reported in use and checked from ${steps.checking === undefined ? '-' : s(steps.checking)}, ${failures}; ` +
    `device staged ${steps.mountDevice === undefined ? '-' : s(steps.mountDevice)}, pod's mount set up ${steps.setUp === undefined ? '-' : s(steps.setUp)}`
  );
}
