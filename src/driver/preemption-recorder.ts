import type { PreemptionRecord, PreemptionRecorder } from '../preemption/recorder.js';
import type { DriverMetrics } from '../server/metrics.js';
import type { Logger } from '../util/log.js';

/** Records every preemption decision as a log line and a metric (and, where Kubernetes is configured, an Event). */
export class LoggingPreemptionRecorder implements PreemptionRecorder {
  constructor(
    private readonly log: Logger,
    private readonly metrics: DriverMetrics,
    private readonly events?: PreemptionRecorder,
  ) {}

  record(record: PreemptionRecord): void {
    this.metrics.preemption(record.mode, record.outcome);
    const fields = { volumeId: record.volumeId, node: record.nodeId, holder: record.holderNodeId, mode: record.mode, why: record.why };
    if (record.outcome === 'taken-over') this.log.warn(fields, 'preemption: volume taken over from its holder');
    else this.log.info(fields, 'preemption: refused, the holder is not proven gone');
    this.events?.record(record);
  }
}
