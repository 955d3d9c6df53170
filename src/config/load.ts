import { hostname } from 'node:os';
import { dirname, isAbsolute, join, normalize as normalizePath, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { escapeName, hasRawBytes } from '../core/byte-names.js';
import { ProblemsError, UserError } from '../core/errors.js';
import type { TargetConfig, VaultConfig } from './config.js';
import { DEFAULT_SOURCE_RULES, DEFAULT_TARGET_RULES, type RetentionRules } from '../core/retention.js';
import { DEFAULT_CONFIG, layersInOrder, NOTIFY_DEFAULTS, SNAPSHOT_DIR, STATUS_DEFAULTS } from './defaults.js';
import { readConfigFile } from './files.js';
import { CONFIG_KEYS } from './keys.js';
import { problem, schemaProblems, show } from './problems.js';
import { configSchema, hostSchema, type RawConfig, type RetentionSide } from './schema.js';
import { assertDistinctSubvolumes, badPathReason, resolveSources } from './sources.js';

export { DEFAULT_CONFIG };
export { badPathReason, parseSourcesFile } from './sources.js';
const SOURCES_FILE = 'sources';
const CONFIG_DOCS = 'README, "Configuration"';

/**
 * Staged loading: the files (present, regular, changeable by root alone) -> TOML
 * syntax -> zod schema -> normalization and cross-field rules -> one subvolume
 * named once. Every problem of a stage is reported at once, with file, key and fix.
 */
export async function loadConfig(file: string = DEFAULT_CONFIG): Promise<VaultConfig> {
  const abs = resolve(file);
  // its path is written into systemd units, logs and --json, all UTF-8 text
  if (hasRawBytes(abs)) throw new UserError(`the config path ${escapeName(abs)} holds bytes that are not UTF-8; nothing was read`, 'move the config to a path that is UTF-8 text (systemd units, logs and --json name it)');
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
      throw new UserError(`${abs}:${err.line}:${err.column}: TOML syntax error: ${firstLine(err.message)}`, `fix the syntax at line ${err.line} (TOML: key = "value", one per line; [target] starts the target's table)`);
    }
    throw err;
  }
  const parsed = configSchema.safeParse(data);
  if (!parsed.success) {
    const noTarget = data !== null && typeof data === 'object' && !('target' in data);
    const issues = parsed.error.issues.filter((i) => !(noTarget && i.path.length === 1 && i.path[0] === 'target'));
    const problems = schemaProblems(abs, data, issues, { keys: CONFIG_KEYS, section: CONFIG_DOCS });
    throw new ProblemsError(noTarget ? [missingTarget(abs), ...problems] : problems, `${abs} has problems:`);
  }
  const sourcesFileText = readConfigFile(join(dir, SOURCES_FILE), 'sources file');
  const config = normalize(abs, parsed.data, sourcesFileText);
  assertDistinctSubvolumes(config);
  return config;
}

/** Without [target], where the backups go is not known; nothing is assumed (it once meant /media/backup). */
function missingTarget(file: string): string {
  return problem(
    file,
    'there is no [target] table, so it is not known where the backups go',
    'add it at the end of the file, e.g. for a plain btrfs disk mounted at /media/backup:\n' +
      '[target]\nmountpoint = "/media/backup"\nlayers = []   # ["raid", "luks", "lvm"] for the disk stack that setup makes\n' +
      `(${CONFIG_DOCS})`,
  );
}

export function normalize(file: string, raw: RawConfig, sourcesFileText: string | undefined): VaultConfig {
  const dir = dirname(file);
  const problems: string[] = [];
  const at = (p: string) => (isAbsolute(p) ? resolve(p) : resolve(dir, p));
  const snapshotDir = at(raw.snapshot_dir ?? SNAPSHOT_DIR);
  const t = raw.target;
  const { sources, fromFile } = resolveSources({ file, sourcesFile: join(dir, SOURCES_FILE), raw: raw.sources ?? [], fileText: sourcesFileText, at, snapshotDir, token: t.token }, problems);

  for (const [key, value] of [['snapshot_dir', snapshotDir], ['target.mountpoint', t.mountpoint]] as const) {
    const bad = badPathReason(value);
    if (bad) problems.push(problem(`${file}: ${key}`, `${show(value)} ${bad}`, `choose another folder (${CONFIG_DOCS})`));
  }
  if (!isAbsolute(t.mountpoint)) {
    problems.push(problem(`${file}: target.mountpoint`, `${show(t.mountpoint)} is not an absolute path`, `under [target], write it from /, e.g. mountpoint = "/media/backup"`));
  } else if (resolve(t.mountpoint) === '/') {
    problems.push(problem(`${file}: target.mountpoint`, '"/" is the root filesystem, not a backup disk', 'under [target], name where the backup disk is mounted, e.g. mountpoint = "/media/backup"'));
  }
  if (isAbsolute(t.token) || normalizePath(t.token).split('/')[0] === '..') {
    problems.push(problem(`${file}: target.token`, `${show(t.token)} is not on the backup filesystem`, 'under [target], give it relative to the mount point, e.g. token = ".token"'));
  }
  for (const key of ['array', 'partition', 'device'] as const) {
    const value = t[key];
    if (value !== undefined && !isAbsolute(value)) {
      problems.push(problem(`${file}: target.${key}`, `${show(value)} is not an absolute path`, `under [target], give the device's path, e.g. ${CONFIG_KEYS[`target.${key}`]!.example}`));
    }
  }
  const layers = t.layers;
  if (!layersInOrder(layers)) {
    problems.push(
      problem(
        `${file}: target.layers`,
        `${show(layers)}: each layer at most once, bottom-up in the order raid, luks, lvm`,
        'under [target], write e.g. layers = ["raid", "luks", "lvm"], ["luks"] or [] (a plain btrfs disk)',
      ),
    );
  }

  const host = raw.host ?? hostname().split('.')[0]!;
  if (raw.host === undefined && !hostSchema.safeParse(host).success) {
    problems.push(problem(`${file}: host`, `this machine's host name ${show(host)} cannot name its volume`, 'set one: host = "deimos" (letters, digits, ".", "_", "-")'));
  }
  if (layers.includes('lvm') && lvmReserved(host)) {
    problems.push(problem(`${file}: host`, `${show(host)} names this host's logical volume, and LVM keeps that name for itself`, 'set another: host = "deimos"'));
  }
  if (problems.length > 0) throw new ProblemsError(problems, `${file} has problems:`);

  const mountpoint = resolve(t.mountpoint);
  return {
    file,
    dir,
    host,
    snapshotDir,
    sources,
    sourcesFromFile: fromFile,
    target: {
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
    },
    retention: raw.retention && {
      source: rules(raw.retention.source, DEFAULT_SOURCE_RULES),
      target: rules(raw.retention.target, DEFAULT_TARGET_RULES),
    },
    maxAgeSeconds: parseAge(raw.status?.max_age ?? STATUS_DEFAULTS.max_age),
    notify: raw.notify && {
      command: typeof raw.notify.command === 'string' ? [raw.notify.command] : raw.notify.command,
      url: raw.notify.url,
      timeoutSeconds: raw.notify.timeout ?? NOTIFY_DEFAULTS.timeout,
      on: raw.notify.on ?? [...NOTIFY_DEFAULTS.on],
    },
  };
}

/** A side's counts: each key left out takes its default; "all" keeps every period. */
function rules(raw: RetentionSide | undefined, defaults: RetentionRules): RetentionRules {
  const n = (v: number | 'all' | undefined, d: number) => (v === undefined ? d : v === 'all' ? Infinity : v);
  return {
    keepLast: n(raw?.keep_last, defaults.keepLast),
    hourly: n(raw?.hourly, defaults.hourly),
    daily: n(raw?.daily, defaults.daily),
    weekly: n(raw?.weekly, defaults.weekly),
    monthly: n(raw?.monthly, defaults.monthly),
    yearly: n(raw?.yearly, defaults.yearly),
  };
}

function parseMinFree(text: string | undefined): TargetConfig['minFree'] {
  if (text === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(%|[KMGT])$/.exec(text)!;
  const value = Number(m[1]);
  return m[2] === '%' ? { percent: value } : { bytes: Math.round(value * 1024 ** ('KMGT'.indexOf(m[2]!) + 1)) };
}

function parseAge(text: string): number {
  const m = /^(\d+)([hdw])$/.exec(text)!;
  return Number(m[1]) * { h: 3600, d: 86_400, w: 604_800 }[m[2] as 'h' | 'd' | 'w'];
}

// lvcreate refuses these names and name parts (lvm(8), "Valid names")
function lvmReserved(name: string): boolean {
  return (
    ['snapshot', 'pvmove'].some((p) => name.startsWith(p)) ||
    ['_cdata', '_cmeta', '_corig', '_iorig', '_mimage', '_mlog', '_pmspare', '_rimage', '_rmeta', '_tdata', '_tmeta', '_vdata', '_vorigin', '_wcorig'].some((p) => name.includes(p))
  );
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
