import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InflightObserver } from './inflight.js';

/** Ferry's Prometheus metrics: one registry per driver process, so tests can run several side by side. */
export class DriverMetrics implements InflightObserver {
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: 'ferry_csi_requests_total',
    help: 'CSI calls answered, by method and gRPC status code.',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });

  private readonly duration = new Histogram({
    name: 'ferry_csi_request_duration_seconds',
    help: 'Time to answer a CSI call, by method.',
    labelNames: ['method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });

  private readonly inFlight = new Gauge({
    name: 'ferry_csi_requests_in_flight',
    help: 'CSI calls being served now, by method.',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });

  private readonly lockWait = new Histogram({
    name: 'ferry_inflight_lock_wait_seconds',
    help: 'Time a call waited for its per-resource in-flight key, by outcome (acquired, aborted).',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 15, 30, 60],
    registers: [this.registry],
  });

  private readonly preemptions = new Counter({
    name: 'ferry_preemptions_total',
    help: 'Publishes that found a single-node volume held by another node, by policy and outcome (taken-over, refused).',
    labelNames: ['mode', 'outcome'] as const,
    registers: [this.registry],
  });

  private readonly staleCleaned = new Counter({
    name: 'ferry_node_stale_volumes_cleaned_total',
    help: 'Volumes this node plugin found staged here but no longer mapped to it, and unmounted.',
    registers: [this.registry],
  });

  private readonly nodeClean = new Gauge({
    name: 'ferry_node_clean',
    help: '1 when the last sweep found no volume staged here that is no longer mapped to this node.',
    registers: [this.registry],
  });

  private readonly failoverActions = new Counter({
    name: 'ferry_failover_actions_total',
    help: 'Failover controller actions: fenced, would-fence (dry-run), pod-deleted, unfenced, refused (storage did not confirm), failed.',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });

  private readonly failoverLeader = new Gauge({
    name: 'ferry_failover_leader',
    help: '1 while this controller replica leads the failover controller.',
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'ferry_' });
  }

  callStarted(method: string): void {
    this.inFlight.inc({ method });
  }

  callFinished(method: string, code: string, seconds: number): void {
    this.inFlight.dec({ method });
    this.requests.inc({ method, code });
    this.duration.observe({ method }, seconds);
  }

  preemption(mode: string, outcome: string): void {
    this.preemptions.inc({ mode, outcome });
  }

  staleSweep(cleaned: number, clean: boolean): void {
    this.staleCleaned.inc(cleaned);
    this.nodeClean.set(clean ? 1 : 0);
  }

  failoverAction(action: string): void {
    this.failoverActions.inc({ action });
  }

  failoverLeading(leading: boolean): void {
    this.failoverLeader.set(leading ? 1 : 0);
  }

  onWait(seconds: number, outcome: 'acquired' | 'aborted'): void {
    this.lockWait.observe({ outcome }, seconds);
  }
}

/** Serves `GET /metrics` in the Prometheus text format on host:port. */
export async function serveMetrics(registry: Registry, address: string): Promise<{ server: Server; port: number }> {
  const { host, port } = parseHostPort(address);
  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { 'Content-Type': registry.contentType });
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end(String(err));
        });
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found: try /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

export function parseHostPort(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`"${address}" is not host:port`);
  }
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}
