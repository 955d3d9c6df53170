// The user-facing keys of config.toml. Unknown keys are errors (a typo must not
// silently fall back to a default). zod/mini: the same validation as classic zod,
// at a twentieth of the code to load at every start (a backup is mostly start-up).
import * as z from 'zod/mini';

const path = z.string().check(z.minLength(1, 'must not be empty'));

export const sourceEntrySchema = z.union([
  path,
  z.strictObject({
    path,
    name: z.optional(z.string().check(z.regex(/^[^/\0\n]+$/, 'must be a plain folder name (no "/")'))),
    snapshot_dir: z.optional(path),
  }),
]);

export const layerSchema = z.enum(['raid', 'luks', 'lvm']);

export const targetSchema = z.strictObject({
  mountpoint: z._default(path, '/media/backup'),
  layers: z._default(z.array(layerSchema), []),
  token: z._default(path, '.token'),
  token_sha512: z._default(path, 'token.sha512'),
  array: z._default(path, '/dev/md/backup'),
  luks_name: z._default(z.string().check(z.regex(/^[A-Za-z0-9._-]+$/, 'must be a device-mapper name (letters, digits, ".", "_", "-")')), 'enc-backup'),
  keyfile: z._default(path, 'key'),
  volume_group: z._default(z.string().check(z.regex(/^[A-Za-z0-9+_.-]+$/, 'must be an LVM volume group name')), 'backup'),
  /** the device that holds the btrfs filesystem; derived from the layers when absent */
  device: z.optional(path),
  /** the partition at the bottom of the stack when there is no RAID layer */
  partition: z._default(path, '/dev/disk/by-partlabel/backup'),
});

export const configSchema = z.strictObject({
  host: z.optional(z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a host name (letters, digits, ".", "_", "-")'))),
  sources: z.optional(z.array(sourceEntrySchema)),
  snapshot_dir: z.optional(path),
  target: z._default(targetSchema, () => targetSchema.parse({})),
});

export type RawConfig = z.infer<typeof configSchema>;
