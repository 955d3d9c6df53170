import { readFileSync, realpathSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, normalize as normalizePath, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ProblemsError, UserError } from '../core/errors.js';
import { sourceName, sourceNameProblem } from '../core/naming.js';
import type { SourceConfig, VaultConfig } from './config.js';
import { pathIdentity } from './identity.js';
import { CONFIG_KEYS } from './keys.js';
import { assertOnlyRootWrites } from './permissions.js';
import { problem, schemaProblems, show } from './problems.js';
import { configSchema, hostSchema, type RawConfig } from './schema.js';

import { DEFAULT_CONFIG } from './defaults.js';

export { DEFAULT_CONFIG };
const SOURCES_FILE = 'sources';
export const CONFIG_DOCS = 'README, "Configuration"';

/**
 * Staged loading: the files (present, regular, changeable by root alone) -> TOML
 * syntax -> zod schema -> normalization and cross-field rules -> one subvolume
 * named once. Every problem of a stage is reported at once, with file, key and fix.
 */
export async function loadConfig(file: string = DEFAULT_CONFIG): Promise<VaultConfig> {
  const abs = resolve(file);
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
  const snapshotDir = at(raw.snapshot_dir ?? 'snapshots');
  const t = raw.target;
  const tokenTop = normalizePath(t.token).split('/')[0]!;

  type Entry = SourceConfig & { where: string; explicitName: boolean };
  const sourceFrom = (entry: NonNullable<RawConfig['sources']>[number], where: string, origin: 'config' | 'file'): Entry | undefined => {
    const spec = typeof entry === 'string' ? { path: entry } : entry;
    const bad = badPathReason(spec.path);
    if (bad) {
      problems.push(problem(where, `source ${show(spec.path)} ${bad}`, 'rename the subvolume, or leave it out'));
      return undefined;
    }
    if (!isAbsolute(spec.path)) {
      const fix = origin === 'file' ? `write it from /, e.g. /${spec.path.replace(/^(\.\/)+/, '')}` : `write it from /, e.g. "/home" (${CONFIG_DOCS})`;
      problems.push(problem(where, `source ${show(spec.path)} is not an absolute path`, fix));
      return undefined;
    }
    // `/a//b`, `/a/./b` and `/a/x/../b` are one source with one name
    const path = resolve(spec.path);
    const explicitName = 'name' in spec && spec.name !== undefined;
    const name = explicitName ? spec.name! : sourceName(path);
    const nameBad = sourceNameProblem(name);
    if (nameBad) {
      problems.push(
        problem(
          explicitName ? `${where}.name` : where,
          `${explicitName ? 'the name' : `the folder name derived from ${path},`} ${show(name)} ${nameBad}`,
          `give the source a short plain name: sources = [{ path = "${path}", name = "..." }] (${CONFIG_DOCS})`,
        ),
      );
      return undefined;
    }
    if (name === tokenTop) {
      problems.push(problem(where, `source ${path} would be stored as "${name}", where target.token = ${show(t.token)} lives`, `give the source another name: sources = [{ path = "${path}", name = "..." }]`));
      return undefined;
    }
    const base = 'snapshot_dir' in spec && spec.snapshot_dir ? at(spec.snapshot_dir) : snapshotDir;
    return { path, name, snapshotDir: join(base, name), where, explicitName };
  };

  const fromConfig = (raw.sources ?? []).flatMap((e, i) => sourceFrom(e, `${file}: sources[${i}]`, 'config') ?? []);
  const sourcesFile = join(dir, SOURCES_FILE);
  const fromFile = parseSourcesFile(sourcesFileText ?? '').flatMap(({ line, path }) => sourceFrom(path, `${sourcesFile}:${line}`, 'file') ?? []);

  // Within one list, a path twice is a mistake to show; the sources file may repeat a
  // configured path (then the config's settings hold). Two paths with one folder name
  // would mix two sources' backups in one chain.
  const sources: Entry[] = [];
  for (const [list, entries] of [['config', fromConfig], ['file', fromFile]] as const) {
    for (const s of entries) {
      const same = sources.find((o) => o.path === s.path);
      if (same) {
        if (entries.includes(same)) {
          problems.push(problem(s.where, `source ${s.path} is listed twice (also at ${same.where})`, `remove one of them${list === 'config' ? ` from sources in ${file}` : ` from ${sourcesFile}`}`));
        }
        continue;
      }
      const clash = sources.find((o) => o.name === s.name);
      if (clash) {
        problems.push(
          problem(
            s.where,
            `sources ${clash.path} and ${s.path} would both be stored as "${s.name}" (${clash.where})`,
            `give one of them its own name in ${file}: sources = [{ path = "${s.path}", name = "..." }]`,
          ),
        );
        continue;
      }
      sources.push(s);
    }
  }

  for (const [key, value] of [['snapshot_dir', snapshotDir], ['target.mountpoint', t.mountpoint]] as const) {
    const bad = badPathReason(value);
    if (bad) problems.push(problem(`${file}: ${key}`, `${show(value)} ${bad}`, `choose another folder (${CONFIG_DOCS})`));
  }
  if (!isAbsolute(t.mountpoint)) {
    problems.push(problem(`${file}: target.mountpoint`, `${show(t.mountpoint)} is not an absolute path`, `under [target], write it from /, e.g. mountpoint = "/media/backup"`));
  } else if (resolve(t.mountpoint) === '/') {
    problems.push(problem(`${file}: target.mountpoint`, '"/" is the root filesystem, not a backup disk', 'under [target], name where the backup disk is mounted, e.g. mountpoint = "/media/backup"'));
  }
  if (isAbsolute(t.token) || tokenTop === '..') {
    problems.push(problem(`${file}: target.token`, `${show(t.token)} is not on the backup filesystem`, 'under [target], give it relative to the mount point, e.g. token = ".token"'));
  }
  for (const key of ['array', 'partition', 'device'] as const) {
    const value = t[key];
    if (value !== undefined && !isAbsolute(value)) {
      problems.push(problem(`${file}: target.${key}`, `${show(value)} is not an absolute path`, `under [target], give the device's path, e.g. ${CONFIG_KEYS[`target.${key}`]!.example}`));
    }
  }
  const order = ['raid', 'luks', 'lvm'];
  const layers = t.layers;
  if (new Set(layers).size !== layers.length || layers.some((l, i) => i > 0 && order.indexOf(l) < order.indexOf(layers[i - 1]!))) {
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
  const derived = t.layers.includes('lvm')
    ? `/dev/${t.volume_group}/${host}`
    : t.layers.includes('luks')
      ? `/dev/mapper/${t.luks_name}`
      : t.layers.includes('raid')
        ? t.array
        : undefined;
  const plain = (s: Entry): SourceConfig => ({ path: s.path, name: s.name, snapshotDir: s.snapshotDir });
  return {
    file,
    dir,
    host,
    snapshotDir,
    sources: sources.map(plain),
    sourcesFromFile: sources.filter((s) => fromFile.some((f) => f.path === s.path)).map(plain),
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
      device: t.device ?? derived,
      partition: t.partition,
    },
  };
}

// lvcreate refuses these names and name parts (lvm(8), "Valid names")
function lvmReserved(name: string): boolean {
  return (
    ['snapshot', 'pvmove'].some((p) => name.startsWith(p)) ||
    ['_cdata', '_cmeta', '_corig', '_iorig', '_mimage', '_mlog', '_pmspare', '_rimage', '_rmeta', '_tdata', '_tmeta', '_vdata', '_vorigin', '_wcorig'].some((p) => name.includes(p))
  );
}

/** Two configured paths that are one subvolume (a symlink, a bind mount) would start two chains of it. */
function assertDistinctSubvolumes(config: VaultConfig): void {
  const seen = new Map<string, SourceConfig>();
  const problems: string[] = [];
  for (const s of config.sources) {
    const id = pathIdentity(s.path);
    if (id === undefined) continue; // the check before the backup reports a missing path
    const first = seen.get(id);
    if (first) {
      problems.push(problem(`${config.file}: sources`, `${first.path} and ${s.path} are the same subvolume (through a symlink or bind mount)`, `list it once, as one path (from the config or the sources file)`));
    } else seen.set(id, s);
  }
  if (problems.length > 0) throw new ProblemsError(problems, `${config.file} has problems:`);
}

/**
 * One path a line, LF or CRLF. A line whose first non-blank character is `#` is a
 * comment; a `#` anywhere else is part of the path (`/srv/#tmp`). Blanks around a
 * path and blank lines are ignored.
 */
export function parseSourcesFile(text: string): { line: number; path: string }[] {
  return text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .flatMap((raw, i) => {
      const path = raw.trim();
      return path && !path.startsWith('#') ? [{ line: i + 1, path }] : [];
    });
}

/** Paths btrfs-progs prints unescaped; a newline would corrupt the parse of its output. */
export function badPathReason(path: string): string | undefined {
  if (/[\n\r]/.test(path)) return 'contains a line break; rename it (line breaks cannot be handled safely in btrfs-progs output)';
  if (path.includes('\0')) return 'contains a NUL byte';
  return undefined;
}

/**
 * A file of the config (the config, the sources file): undefined when absent;
 * refused when it is no regular file, or when anyone but root could change it or
 * the folder it is in (as named and after resolving symlinks).
 */
function readConfigFile(file: string, what: string): string | undefined {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw new UserError(`${what} ${file} cannot exist: a part of its path is a file, not a folder`, `check the path${what === 'config file' ? ' given to --config' : ''}`);
    throw cannotRead(what, file, err);
  }
  if (st.isDirectory()) {
    throw new UserError(`${what} ${file} is a folder`, what === 'config file' ? `point --config at the file in it, e.g. --config ${join(file, 'config.toml')}` : `remove the folder, or make it a file with one path a line`);
  }
  if (!st.isFile()) throw new UserError(`${what} ${file} is not a regular file`, `make it a regular file${what === 'config file' ? ', or point --config at one' : ''}`);
  const real = realpathSync.native(file);
  assertOnlyRootWrites(dirname(file), 'config folder');
  if (dirname(real) !== dirname(file)) assertOnlyRootWrites(dirname(real), 'config folder');
  assertOnlyRootWrites(real, what);
  try {
    return readFileSync(real, 'utf8');
  } catch (err) {
    throw cannotRead(what, file, err);
  }
}

function cannotRead(what: string, file: string, err: unknown): UserError {
  const denied = (err as NodeJS.ErrnoException).code === 'EACCES';
  return new UserError(
    `cannot read ${what} ${file}: ${(err as Error).message}`,
    denied ? 'run btrfs-vault as root (btrfs needs it too), or check the permissions of the file and its folders' : 'check the file, its folder and their permissions',
  );
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
