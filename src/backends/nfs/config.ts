import { z } from 'zod';
import { isValidServer, isValidSharePath } from './share-ref.js';

/** An octal mode such as "0777" or "2770": what a new volume directory is chmod-ed to. */
export const modeText = z
  .string()
  .regex(/^0?[0-7]{1,4}$/, 'an octal mode in quotes, such as "0777"')
  .transform((s) => parseInt(s, 8));

/** `type: nfs` backend keys: one NFS export whose subdirectories are the volumes. */
export const nfsBackendSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a DNS label: lower-case letters, digits and dashes'),
  type: z.literal('nfs'),
  /** Host name, IPv4 address or [IPv6] address of the NFS server. */
  server: z.string().refine(isValidServer, 'a host name, an IPv4 address or a bracketed IPv6 address'),
  /** The exported directory, absolute ("/exports/k8s"). */
  share: z.string().refine(isValidSharePath, 'an absolute path of letters, digits and . _ - ~ @ + = /, without "." or ".." parts'),
  /** Options for every mount of the export (nodes and controller); the PV's mountOptions are added on the nodes. */
  mountOptions: z.array(z.string().regex(/^[^\s,]+$/, 'one option, without spaces or commas')).default(['nfsvers=4.1']),
  /** What DeleteVolume does with the directory; a StorageClass may choose another. */
  onDelete: z.enum(['delete', 'retain', 'archive']).default('delete'),
  /**
   * Mode of a new volume directory, applied after mkdir (so the umask does not narrow it); 0 leaves mkdir's mode.
   * A quoted string: YAML reads an unquoted 0777 as the decimal number 777.
   */
  mountPermissions: modeText.default(0o777),
  /** Where this process mounts exports it manages (controller) or registers with (node); one subdirectory per export. */
  workDir: z.string().startsWith('/').optional(),
  /** Bound on one mount: a server that does not answer fails the call instead of hanging it. */
  mountTimeoutSeconds: z.number().positive().max(600).default(30),
  /** Bound on each unmount, stat, statfs and small file operation on the export. */
  operationTimeoutSeconds: z.number().positive().max(600).default(30),
  /** Bound on copying a directory (clone), archiving it (snapshot), restoring an archive, or removing a volume's data. */
  copyTimeoutSeconds: z.number().positive().max(86_400).default(6 * 3600),
});

export type NfsBackendConfig = z.infer<typeof nfsBackendSchema>;

/** Where exports are mounted when the config names no workDir. */
export function defaultWorkDir(backendName: string): string {
  return `/var/lib/ferry/nfs/${backendName}`;
}
