import { z } from 'zod';

/** A command as an argument array; a string is split on whitespace (no shell is ever involved). */
const command = z.union([z.array(z.string().min(1)).min(1), z.string().min(1).transform((s) => s.trim().split(/\s+/))]);

/** `node:`: settings of the node plugin on this host. */
export const nodeSchema = z.strictObject({
  /** This host's SDC GUID; read with sdcGuidCommand when absent. It is the CSI node id, as in Dell's driver. */
  sdcGuid: z.string().regex(/^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/, 'a GUID').optional(),
  sdcGuidCommand: command.default(['/opt/emc/scaleio/sdc/bin/drv_cfg', '--query_guid']),
  /** Asked to look for new volumes when a device is slow to appear; skipped when its program is not installed. */
  sdcRescanCommand: command.default(['/opt/emc/scaleio/sdc/bin/drv_cfg', '--rescan']),
  /** Where mapped volumes appear as emc-vol-<systemId>-<volumeId>. */
  deviceDir: z.string().startsWith('/').default('/dev/disk/by-id'),
  /** How long NodeStage waits for a device to appear. */
  deviceWaitSeconds: z.number().positive().max(600).default(30),
  /** Volumes this node may hold; 0 = no limit. */
  maxVolumes: z.number().int().min(0).default(0),
  /** How often the node plugin looks for volumes staged here whose mapping was taken away (0 = only at start). */
  cleanupIntervalSeconds: z.number().min(0).max(3600).default(30),
  /** Records of what this node staged and published, so a restart can find and clean what it no longer holds. */
  stateDir: z.string().startsWith('/').default('/var/lib/ferry/node'),
  /**
   * Where the CO puts staging and publish paths (the kubelet's root directory; the chart's node.kubeletDir). A path
   * from a request outside all of them is refused, and so is one with a symlink or `..` below them.
   */
  kubeletRoots: z
    .array(z.string().regex(/^\/(?:[^/\0]+\/?)*$/, 'an absolute path without empty components').refine((p) => !p.split('/').includes('..'), 'no ".." component'))
    .min(1)
    .default(['/var/lib/kubelet']),
});

export type NodeConfig = z.infer<typeof nodeSchema>;
