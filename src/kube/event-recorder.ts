import { errorMessage } from '../errors.js';
import type { PreemptionRecord, PreemptionRecorder } from '../preemption/recorder.js';
import type { Logger } from '../util/log.js';
import type { EventInput, KubeApi } from './kube-api.js';

/**
 * Preemption decisions as Events on the volume's PersistentVolume, where `kubectl describe pv` shows them. Events are
 * best effort: a failure is logged and never fails the publish that caused it.
 */
export class PersistentVolumeEvents implements PreemptionRecorder {
  constructor(
    private readonly api: KubeApi,
    private readonly driverName: string,
    private readonly log: Logger,
  ) {}

  record(record: PreemptionRecord): void {
    void this.post(record);
  }

  private async post(record: PreemptionRecord): Promise<void> {
    try {
      const pv = await this.api.persistentVolumeOf(this.driverName, record.volumeId);
      if (!pv) return;
      const taken = record.outcome === 'taken-over';
      const event: EventInput = {
        target: { kind: 'PersistentVolume', name: pv },
        type: taken && record.mode === 'force' ? 'Warning' : taken ? 'Normal' : 'Warning',
        reason: taken ? 'VolumeTakenOver' : 'TakeOverRefused',
        message: taken
          ? `taken over from node ${record.holderNodeId} for node ${record.nodeId} (preemption: ${record.mode}): ${record.why.join('; ')}`
          : `not taken over from node ${record.holderNodeId} for node ${record.nodeId} (preemption: ${record.mode}): ${record.why.join('; ')}`,
      };
      await this.api.createEvent(event);
    } catch (err) {
      this.log.warn({ volumeId: record.volumeId, err: errorMessage(err) }, 'could not record the preemption as a Kubernetes Event');
    }
  }
}
