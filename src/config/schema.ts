import { z } from 'zod';

// The user-facing keys of config.toml. Unknown keys are errors (a typo must not
// silently fall back to a default).

const path = z.string().min(1, 'must not be empty');

export const sourceEntrySchema = z.union([
  path,
  z
    .object({
      path,
      name: z.string().regex(/^[^/\0\n]+$/, 'must be a plain folder name (no "/")').optional(),
      snapshot_dir: path.optional(),
    })
    .strict(),
]);

export const layerSchema = z.enum(['raid', 'luks', 'lvm']);

export const targetSchema = z
  .object({
    mountpoint: path.default('/media/backup'),
    layers: z.array(layerSchema).default([]),
    token: path.default('.token'),
    token_sha512: path.default('token.sha512'),
    array: path.default('/dev/md/backup'),
    luks_name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a device-mapper name (letters, digits, ".", "_", "-")').default('enc-backup'),
    keyfile: path.default('key'),
    volume_group: z.string().regex(/^[A-Za-z0-9+_.-]+$/, 'must be an LVM volume group name').default('backup'),
    /** the device that holds the btrfs filesystem; derived from the layers when absent */
    device: path.optional(),
    /** the partition at the bottom of the stack when there is no RAID layer */
    partition: path.default('/dev/disk/by-partlabel/backup'),
  })
  .strict();

export const configSchema = z
  .object({
    host: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a host name (letters, digits, ".", "_", "-")')
      .optional(),
    sources: z.array(sourceEntrySchema).optional(),
    snapshot_dir: path.optional(),
    target: targetSchema.default(targetSchema.parse({})),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;
