import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { escapeName, hasRawBytes } from '../core/byte-names.js';
import { ProblemsError, UserError } from '../core/errors.js';
import type { NamedTargetConfig, TargetConfig, VaultConfig } from './config.js';
import { DEFAULT_SOURCE_RULES, DEFAULT_TARGET_RULES, type RetentionRules } from '../core/retention.js';
import {
  BACKUP_DEFAULTS,
  DEFAULT_CONFIG,
  ROTATION_DEFAULTS,
  SNAPSHOT_DIR,
  STATUS_DEFAULTS,
  TARGET_DEFAULTS,
} from './defaults.js';
import { remoteTargets } from './remote-tables.js';
import { readConfigFile } from './files.js';
import { CONFIG_KEYS } from './keys.js';
import { problem, schemaProblems } from './problems.js';
import { configSchema, type RawConfig } from './schema.js';
import { assertDistinctSubvolumes, resolveSources } from './sources.js';
import { notifyConfig, parseAge, parseMinFree, parseStallTimeout, retentionRules as rules } from './values.js';
import { serveConfig } from './serve-config.js';
import { folderProblems, hostProblems, targetProblems } from './config-rules.js';
import { targetClashProblems, targetTables, type TargetTable } from './target-tables.js';

export { DEFAULT_CONFIG };
export { badPathReason, parseSourcesFile } from './sources.js';
const SOURCES_FILE = 'sources';
const CONFIG_DOCS = 'README, "Configuration"';

/**
 * Staged loading: the files (present, regular, changeable by root alone) -> TOML
 * syntax -> zod schema -> normalization and cross-field rules -> one subvolume
 * named once. Every problem of a stage is reported at once, with file, key and fix.
 */
export async function loadConfig(
  file: string = DEFAULT_CONFIG,
  /** `target add`: a config with no target yet is the one it is about to give one */
  opts: { noTargetYet?: boolean } = {},
): Promise<VaultConfig> {
  const abs = resolve(file);
  // its path is written into systemd units, logs and --json, all UTF-8 text
  if (hasRawBytes(abs))
    throw new UserError(
      `the config path ${escapeName(abs)} holds bytes that are not UTF-8; nothing was read`,
      'move the config to a path that is UTF-8 text (systemd units, logs and --json name it)',
    );
  const dir = dirname(abs);
  const text = readConfigFile(abs, 'config file');
  if (text === undefined) {
    throw new UserError(
      `config file ${abs} does not exist`,
      `create it (see ${CONFIG_DOCS}; the least it needs is a [target] table with mountpoint = "...") or point to one with --config FILE`,
    );
  }
  let data: unknown;
  try {
    data = parseToml(text);
  } catch (err) {
    if (err instanceof TomlError && /cannot be represented losslessly/.test(err.message)) {
      // valid TOML, but a number no count or size here can be (beyond 2^53)
      const key = /^\s*([\w.-]+)\s*=/.exec(text.split('\n')[err.line - 1] ?? '')?.[1] ?? 'the value';
      throw new UserError(
        `${abs}:${err.line}:${err.column}: ${key} is out of range (a number must be at most ${Number.MAX_SAFE_INTEGER})`,
        `use a smaller number${/^(keep_last|hourly|daily|weekly|monthly|yearly)$/.test(key) ? `; to keep them all, write ${key} = "all"` : ''}`,
      );
    }
    if (err instanceof TomlError) {
      throw new UserError(
        `${abs}:${err.line}:${err.column}: TOML syntax error: ${firstLine(err.message)}`,
        `fix the syntax at line ${err.line} (TOML: key = "value", one per line; [target] starts the target's table)`,
      );
    }
    throw err;
  }
  const parsed = configSchema.safeParse(data);
  if (
    parsed.success &&
    !opts.noTargetYet &&
    !parsed.data.target &&
    Object.keys(parsed.data.targets ?? {}).length === 0 &&
    // a backup server's config: its [serve] table is all it needs
    !parsed.data.serve
  ) {
    throw new ProblemsError([missingTarget(abs)], `${abs} has problems:`);
  }
  if (!parsed.success) {
    const noTarget =
      !opts.noTargetYet &&
      data !== null &&
      typeof data === 'object' &&
      !('target' in data) &&
      !('targets' in data) &&
      !('serve' in data);
    const issues = parsed.error.issues;
    const problems = schemaProblems(abs, data, issues, { keys: CONFIG_KEYS, section: CONFIG_DOCS });
    throw new ProblemsError(noTarget ? [missingTarget(abs), ...problems] : problems, `${abs} has problems:`);
  }
  const sourcesFileText = readConfigFile(join(dir, SOURCES_FILE), 'sources file');
  const config = normalize(abs, parsed.data, sourcesFileText);
  assertDistinctSubvolumes(config);
  return config;
}

/** Without [target], where the backups go is not known; nothing is assumed. */
function missingTarget(file: string): string {
  return problem(
    file,
    'there is no [target] table (nor any [targets.<name>]), so it is not known where the backups go',
    'add it at the end of the file, e.g. for a plain btrfs disk mounted at /media/backup:\n' +
      '[target]\nmountpoint = "/media/backup"\nlayers = []   # ["raid", "luks", "lvm"] for the disk stack that setup makes\n' +
      `(${CONFIG_DOCS})`,
  );
}

/**
 * The parsed config as the program uses it: paths resolved, defaults filled in, and the
 * rules no schema can say (paths, the target's keys, the host's name) checked, every
 * problem at once.
 */
export function normalize(file: string, raw: RawConfig, sourcesFileText: string | undefined): VaultConfig {
  const dir = dirname(file);
  const problems: string[] = [];
  const at = (p: string) => (isAbsolute(p) ? resolve(p) : resolve(dir, p));
  const snapshotDir = at(raw.snapshot_dir ?? SNAPSHOT_DIR);
  const tables = targetTables(file, raw, problems);
  const remotes = remoteTargets(file, raw, problems);
  const { sources, fromFile } = resolveSources(
    {
      file,
      sourcesFile: join(dir, SOURCES_FILE),
      raw: raw.sources ?? [],
      fileText: sourcesFileText,
      at,
      snapshotDir,
      tokens: tables.map((t) => t.token),
    },
    problems,
  );
  problems.push(...folderProblems(file, snapshotDir, tables), ...tables.flatMap((t) => targetProblems(file, t)));
  problems.push(...targetClashProblems(file, tables, at));
  const host = raw.host ?? hostname().split('.')[0]!;
  problems.push(...hostProblems(file, host, raw.host === undefined, [...new Set(tables.flatMap((t) => t.layers))]));
  if (problems.length > 0) throw new ProblemsError(problems, `${file} has problems:`);

  const retention = raw.retention && {
    source: rules(raw.retention.source, DEFAULT_SOURCE_RULES),
    target: rules(raw.retention.target, DEFAULT_TARGET_RULES),
  };
  const targets = tables.map((t) => targetConfig(t, host, at, retention?.target ?? DEFAULT_TARGET_RULES));
  // `target` holds the disk's keys alone, as it did before there were several; a config
  // of servers alone has no disk, and its `target` (the defaults) is never opened
  const target = diskConfig(tables[0] ?? { ...TARGET_DEFAULTS, layers: [], name: 'backup', table: 'target' }, host, at);
  return {
    file,
    dir,
    host,
    snapshotDir,
    sources,
    sourcesFromFile: fromFile,
    target,
    targets,
    remotes,
    retention,
    maxAgeSeconds: parseAge(raw.status?.max_age ?? STATUS_DEFAULTS.max_age),
    stallMs: parseStallTimeout(raw.backup?.stall_timeout ?? BACKUP_DEFAULTS.stall_timeout),
    notify: raw.notify && notifyConfig(raw.notify),
    serve: raw.serve && serveConfig(raw.serve, file),
  };
}

function targetConfig(
  t: TargetTable,
  host: string,
  at: (path: string) => string,
  targetRules: RetentionRules,
): NamedTargetConfig {
  return {
    ...diskConfig(t, host, at),
    name: t.name,
    keepForAbsentSeconds: parseAge(t.keep_for_absent ?? ROTATION_DEFAULTS.keep_for_absent),
    maxAgeSeconds: parseAge(t.max_age ?? ROTATION_DEFAULTS.max_age),
    retention: t.retention && rules(t.retention, targetRules),
  };
}

function diskConfig(t: TargetTable, host: string, at: (path: string) => string): TargetConfig {
  const mountpoint = resolve(t.mountpoint);
  return {
    mountpoint,
    layers: t.layers,
    tokenFile: resolve(mountpoint, t.token),
    tokenHashFile: at(t.token_sha512),
    array: t.array,
    luksName: t.luks_name,
    keyfile: at(t.keyfile),
    volumeGroup: t.volume_group,
    logicalVolume: host,
    device: t.device,
    partition: t.partition,
    minFree: parseMinFree(t.min_free),
  };
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
