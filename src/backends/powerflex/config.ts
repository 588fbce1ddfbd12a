import { z } from 'zod';

/** `type: powerflex` backend keys (a Dell PowerFlex / ScaleIO gateway, or `ferry pool`). */
export const powerFlexBackendSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a DNS label: lower-case letters, digits and dashes'),
    type: z.literal('powerflex'),
    /** Gateway URL; may or may not end in /api. */
    endpoint: z.url({ protocol: /^https?$/ }),
    /**
     * The gateway login: required where the controller runs; a node plugin never logs in (it takes systemId from here,
     * its SDC GUID and rescan from `node:`), so the node's configuration carries no credentials.
     */
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
    /** Skip TLS verification (REX-Ray's setting of the same name). Off by default. */
    insecure: z.boolean().default(false),
    caFile: z.string().min(1).optional(),
    /** Optional when the gateway has exactly one system. */
    systemId: z.string().regex(/^[0-9a-f]{16}$/, '16 lower-case hex characters').optional(),
    protectionDomain: z.string().min(1).optional(),
    storagePool: z.string().min(1),
    thinOrThick: z.enum(['ThinProvisioned', 'ThickProvisioned']).default('ThinProvisioned'),
    /** Volumes one node (SDC) may hold at once; 0 = no limit. Keep it equal to node.maxVolumes on the nodes. */
    maxVolumesPerNode: z.number().int().min(0).default(0),
    /** Default for volumes whose StorageClass does not set `preemption` (never, safe or force). */
    preemption: z.enum(['never', 'safe', 'force']).default('safe'),
    /** How long a Disconnected holder's volume must show no I/O before `safe` preemption takes it over. */
    preemptionConfirmSeconds: z.number().min(0).max(60).default(2),
    /** Seconds before one gateway request gives up. */
    requestTimeoutSeconds: z.number().positive().max(600).default(30),
  })
  .refine((b) => b.password === undefined || b.passwordFile === undefined, {
    message: 'at most one of password and passwordFile',
    path: ['password'],
  })
  // A CA file means the operator expects a verified TLS connection; over http:// it would be silently ignored.
  .refine((b) => b.caFile === undefined || !isPlainHttp(b.endpoint), {
    message: 'caFile is set but the endpoint is plain http:// (no TLS, so the CA would be ignored): use https://',
    path: ['caFile'],
  });

/** An http:// (not https://) gateway URL. */
export function isPlainHttp(endpoint: string): boolean {
  return URL.canParse(endpoint) && new URL(endpoint).protocol === 'http:';
}

/** Whether the backend has what a gateway login needs (the controller's side). */
export function hasGatewayCredentials(b: PowerFlexBackendConfig): boolean {
  return b.username !== undefined && (b.password !== undefined || b.passwordFile !== undefined);
}

export type PowerFlexBackendConfig = z.infer<typeof powerFlexBackendSchema>;
