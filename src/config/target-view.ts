import { UserError } from '../core/errors.js';
import type { NamedTargetConfig, VaultConfig } from './config.js';
import { ROTATION_DEFAULTS, SINGLE_TARGET_NAME } from './defaults.js';

// A config of several backup disks, seen as the config of one: the flows written for
// one target (they read `config.target` and `config.retention`) run on each disk
// through its view, unchanged.

/** The config as one target sees it: `target` is that disk, `retention.target` its own rules. */
export function forTarget(config: VaultConfig, name: string): VaultConfig {
  const target = targetsOf(config).find((t) => t.name === name);
  if (!target) throw unknownTarget(config, name);
  return viewOf(config, target);
}

/** The view of a target the config holds. */
export function viewOf(config: VaultConfig, target: NamedTargetConfig): VaultConfig {
  const retention =
    target.retention === undefined
      ? config.retention
      : // a disk's own rules with no [retention] at all: its backups are pruned, the source's snapshots never
        { source: config.retention?.source ?? KEEP_ALL, target: target.retention };
  return { ...config, target, retention };
}

/** Several backup disks: what rotation adds (pins that may go, absence warnings) is on. */
export function rotates(config: VaultConfig): boolean {
  return targetsOf(config).length > 1;
}

/** The targets a command names with `--target`, or all of them. */
export function namedTargets(config: VaultConfig, name: string | undefined): NamedTargetConfig[] {
  if (name === undefined) return targetsOf(config);
  // a backup server: no disk of the verbs over disks
  if (config.remotes?.some((r) => r.name === name)) return [];
  const target = targetsOf(config).find((t) => t.name === name);
  if (!target) throw unknownTarget(config, name);
  return [target];
}

function unknownTarget(config: VaultConfig, name: string): UserError {
  return new UserError(
    `there is no target named ${JSON.stringify(name)} in ${config.file}`,
    `name one of ${[...targetsOf(config), ...(config.remotes ?? [])]
      .map((t) => t.name)
      .join(', ')} with --target, or add a [targets.${/^[a-z0-9][a-z0-9_-]*$/.test(name) ? name : '<name>'}] table`,
  );
}

const KEEP_ALL = { keepLast: Infinity, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 } as const;

/** Every target of the config; one made by hand around `target` alone has that one, named `backup`. */
export function targetsOf(config: VaultConfig): NamedTargetConfig[] {
  return config.targets ?? [{ ...config.target, name: SINGLE_TARGET_NAME, ...ROTATION_SECONDS }];
}

/** The target a view (or a one-target config) is about, with its name. */
export function currentTarget(config: VaultConfig): NamedTargetConfig {
  const t = config.target as Partial<NamedTargetConfig>;
  return t.name !== undefined ? (config.target as NamedTargetConfig) : targetsOf(config)[0]!;
}

const days = (text: string) => Number(/^(\d+)d$/.exec(text)![1]) * 86_400;
const ROTATION_SECONDS = {
  keepForAbsentSeconds: days(ROTATION_DEFAULTS.keep_for_absent),
  maxAgeSeconds: days(ROTATION_DEFAULTS.max_age),
};
