/**
 * Sums of samples in a Prometheus text exposition: every sample of the metric `name` (whatever its labels) whose
 * labels include all of `labels`. Enough to take the difference of a component's counters over a scenario.
 */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (!Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) continue;
    const value = Number(match[3]);
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

/** What a Kubernetes component's client-go clients did between two readings of its metrics. */
export interface ClientActivity {
  requests: number;
  /** The same requests by HTTP method (PUT/PATCH: updates, POST: creations, mostly Events; GET, LIST and WATCH: reads). */
  byMethod: Record<string, number>;
  /** Requests that waited in the client's own rate limiter (client-side throttling), and for how long in all. */
  throttled: number;
  waitedSeconds: number;
  /** The longest waits: requests that waited more than a second. */
  waitedOverOneSecond: number;
}

export function clientActivity(before: string, after: string): ClientActivity {
  const delta = (name: string, labels: Record<string, string> = {}): number => metricSum(after, name, labels) - metricSum(before, name, labels);
  const waits = delta('rest_client_rate_limiter_duration_seconds_count');
  const byMethod: Record<string, number> = {};
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
    const n = delta('rest_client_requests_total', { method });
    if (n > 0) byMethod[method] = n;
  }
  return {
    requests: delta('rest_client_requests_total'),
    byMethod,
    throttled: waits - delta('rest_client_rate_limiter_duration_seconds_bucket', { le: '0.005' }),
    waitedSeconds: delta('rest_client_rate_limiter_duration_seconds_sum'),
    waitedOverOneSecond: waits - delta('rest_client_rate_limiter_duration_seconds_bucket', { le: '1' }),
  };
}
