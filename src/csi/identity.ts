import type { IdentityHandlers } from '../gen/csi/v1/Identity.js';
import type { GetPluginCapabilitiesResponse } from '../gen/csi/v1/GetPluginCapabilitiesResponse.js';
import type { GetPluginInfoResponse } from '../gen/csi/v1/GetPluginInfoResponse.js';
import type { PluginCapability } from '../gen/csi/v1/PluginCapability.js';
import type { ProbeResponse } from '../gen/csi/v1/ProbeResponse.js';
import type { Backend } from '../backends/backend.js';
import { errorMessage } from '../errors.js';
import type { CallContext, ServiceImpl } from '../server/handler.js';

export interface IdentityOptions {
  driverName: string;
  version: string;
  controller: boolean;
  /** The GroupController service is served (a controller with a backend that takes group snapshots). */
  groupController?: boolean;
  backends: readonly Backend[];
  /** Upper bound on a Probe that carries no deadline of its own. */
  probeTimeoutMs?: number;
}

/** Answers false instead of hanging: a Probe must never outlive its caller's deadline. */
const PROBE_MARGIN_MS = 500;

export class IdentityService implements ServiceImpl<IdentityHandlers> {
  constructor(private readonly options: IdentityOptions) {}

  async GetPluginInfo(): Promise<GetPluginInfoResponse> {
    return { name: this.options.driverName, vendor_version: this.options.version, manifest: {} };
  }

  async GetPluginCapabilities(): Promise<GetPluginCapabilitiesResponse> {
    const capabilities: PluginCapability[] = [];
    if (this.options.controller) {
      capabilities.push({ service: { type: 'CONTROLLER_SERVICE' } });
      capabilities.push({ service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } });
    }
    if (this.options.groupController === true) capabilities.push({ service: { type: 'GROUP_CONTROLLER_SERVICE' } });
    capabilities.push({ volume_expansion: { type: 'ONLINE' } });
    return { capabilities };
  }

  async Probe(_request: unknown, ctx: CallContext): Promise<ProbeResponse> {
    const budgetMs = ctx.deadline
      ? Math.max(0, ctx.deadline.getTime() - Date.now() - PROBE_MARGIN_MS)
      : (this.options.probeTimeoutMs ?? 10_000);
    const abort = new AbortController();
    const stopOnCancel = (): void => abort.abort();
    ctx.signal.addEventListener('abort', stopOnCancel, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`no answer within ${budgetMs} ms`), budgetMs);
    });
    try {
      const failures = await Promise.all(
        this.options.backends.map(async (backend) => {
          const problem = await Promise.race([
            backend.checkHealth(abort.signal).then(
              () => undefined,
              (err: unknown) => errorMessage(err),
            ),
            outOfTime,
          ]);
          return problem === undefined ? undefined : `${backend.name}: ${problem}`;
        }),
      );
      const problems = failures.filter((f): f is string => f !== undefined);
      if (problems.length > 0) {
        ctx.log.warn({ problems }, 'not ready: a backend failed its health check');
        return { ready: { value: false } };
      }
      return { ready: { value: true } };
    } finally {
      if (timer) clearTimeout(timer);
      abort.abort();
      ctx.signal.removeEventListener('abort', stopOnCancel);
    }
  }
}
