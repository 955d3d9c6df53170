import { parse as parseToml } from 'smol-toml';
import { InternalError, UserError } from '../core/errors.js';
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
    target: targetKeys(config, layerKeys),
    retention: { source: counts(DEFAULT_SOURCE_RULES), target: counts(DEFAULT_TARGET_RULES) },
  };
  checkedRaw(raw);
  return [
    '# written by btrfs-vault setup; see README, "Configuration"',
    '# sources = ["/", "/home"]   # add yours, or one path a line in the file `sources` beside this one',
    describedToml(configSchema, raw),
    '',
  ].join('\n');
}

/** A target's keys as setup writes them: where it is mounted, its layers and partition, its layers' own keys, the token's hash. */
function targetKeys(config: VaultConfig, layerKeys: Readonly<Record<string, string>>): Record<string, unknown> {
  const t = config.target;
  return {
    mountpoint: t.mountpoint,
    layers: [...t.layers],
    partition: t.partition,
    ...layerKeys,
    token_sha512: t.tokenHashFile,
  };
}

function checkedRaw(raw: unknown): void {
  const checked = configSchema.safeParse(raw);
  if (!checked.success)
    throw new InternalError(
      `setup made a config its own schema refuses: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
}

/**
 * Rotation: the config as it is, with a `[targets.<name>]` table for another backup
 * disk added at its end (at the end a table header cannot fall inside another table's
 * keys). Everything written before stays as it was, comments too. The result is
 * checked with the schema that loads it; a file it cannot add to is refused.
 */
export function withTargetTable(
  existing: string,
  file: string,
  name: string,
  config: VaultConfig,
  layerKeys: Readonly<Record<string, string>>,
): string {
  const table = { targets: { [name]: targetKeys(config, layerKeys) } };
  const text = `${existing.replace(/\n*$/, '\n')}\n# another backup disk of this host, added by btrfs-vault setup${describedToml(configSchema, table)}\n`;
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    throw new UserError(
      `setup cannot add [targets.${name}] to ${file}: ${(err as Error).message.split('\n')[0]}; the config was not changed`,
      `add the table by hand (docs/GUIDE.md, "Several backup disks"), or fix the config and run setup again (it resumes)`,
    );
  }
  checkedRaw(raw);
  return text;
}

/** Does the config have a `[targets.<name>]` table? (setup's rotation step, done already) */
export function hasTargetTable(text: string, name: string): boolean {
  try {
    const raw = parseToml(text) as { targets?: Record<string, unknown> };
    return raw.targets?.[name] !== undefined;
  } catch {
    return false;
  }
}

/** The config as it is, with a backup server's `[targets.<name>]` table at its end (checked by the schema). */
export function withRemoteTable(
  existing: string,
  file: string,
  name: string,
  keys: { ssh: string; port?: number },
): string {
  const table = { targets: { [name]: { ssh: keys.ssh, ...(keys.port === undefined ? {} : { port: keys.port }) } } };
  const text = `${existing.replace(/\n*$/, '\n')}\n# a backup server of this host, added by btrfs-vault target add${describedToml(configSchema, table)}\n`;
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    throw new UserError(
      `target add cannot add [targets.${name}] to ${file}: ${(err as Error).message.split('\n')[0]}; the config was not changed`,
      'fix the config, then run target add again',
    );
  }
  checkedRaw(raw);
  return text;
}
