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
