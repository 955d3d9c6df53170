import { InternalError } from '../core/errors.js';
import { DEFAULT_SOURCE_RULES, DEFAULT_TARGET_RULES, type RetentionRules } from '../core/retention.js';
import type { VaultConfig } from './config.js';
import { describedToml } from './described-toml.js';
import { configSchema } from './schema.js';

/**
 * The config setup writes: built as data, checked with the very schema that loads it,
 * then written by smol-toml (a host name that would not load is a bug here, not a
 * config to find broken later); each key under a comment from the schema's description.
 * Retention is on, with the defaults. Made from the same description of the target
 * that the plan's layers came from: the partition of this disk, and `layerKeys`, the
 * [target] keys each of its layers' handlers writes.
 */
export function configText(config: VaultConfig, layerKeys: Readonly<Record<string, string>>): string {
  const t = config.target;
  const counts = (r: RetentionRules) => ({
    keep_last: r.keepLast,
    hourly: r.hourly,
    daily: r.daily,
    weekly: r.weekly,
    monthly: r.monthly === Infinity ? 'all' : r.monthly,
    yearly: r.yearly === Infinity ? 'all' : r.yearly,
  });
  const raw = {
    host: config.host,
    target: {
      mountpoint: t.mountpoint,
      layers: [...t.layers],
      partition: t.partition,
      ...layerKeys,
      token_sha512: t.tokenHashFile,
    },
    retention: { source: counts(DEFAULT_SOURCE_RULES), target: counts(DEFAULT_TARGET_RULES) },
  };
  const checked = configSchema.safeParse(raw);
  if (!checked.success)
    throw new InternalError(
      `setup made a config its own schema refuses: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return [
    '# written by btrfs-vault setup; see README, "Configuration"',
    '# sources = ["/", "/home"]   # add yours, or one path a line in the file `sources` beside this one',
    describedToml(configSchema, raw),
    '',
  ].join('\n');
}
