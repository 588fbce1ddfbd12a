import { z } from 'zod';
import { nfsBackendSchema } from '../backends/nfs/config.js';
import { powerFlexBackendSchema } from '../backends/powerflex/config.js';
import { csiPowerflexArraysSchema } from './csi-powerflex-arrays.js';
import { nodeSchema } from './node.js';

/**
 * The driver's configuration file. Every object is strict: a misspelt key is an error at start-up, never
 * a silently ignored setting. Each backend type owns its own schema beside its code.
 */
export const backendSchema = z.discriminatedUnion('type', [powerFlexBackendSchema, nfsBackendSchema]);

export const configSchema = z
  .strictObject({
    backends: z.array(backendSchema).default([]),
    node: nodeSchema.default(nodeSchema.parse({})),
    /** csi-powerflex's array Secret as more PowerFlex backends (drop-in configuration); read by loadConfig. */
    csiPowerflexArrays: csiPowerflexArraysSchema.optional(),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.backends.forEach((backend, index) => {
      if (seen.has(backend.name)) {
        ctx.addIssue({ code: 'custom', path: ['backends', index, 'name'], message: `duplicate backend name "${backend.name}"` });
      }
      seen.add(backend.name);
    });
  });

export type BackendConfig = z.infer<typeof backendSchema>;
export type FerryConfig = z.infer<typeof configSchema>;
export type { NodeConfig } from './node.js';
