import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import type * as z from 'zod/mini';
import { ProblemsError, UserError } from '../core/errors.js';
import { sourceName } from '../core/naming.js';
import type { SourceConfig, VaultConfig } from './config.js';
import { configSchema, type RawConfig } from './schema.js';

import { DEFAULT_CONFIG } from './defaults.js';

export { DEFAULT_CONFIG };
const SOURCES_FILE = 'sources';

/**
 * Staged loading: TOML syntax -> zod schema -> normalization -> cross-field rules.
 * Every problem is collected and reported at once, with file, key and fix.
 */
export async function loadConfig(file: string = DEFAULT_CONFIG): Promise<VaultConfig> {
  const abs = resolve(file);
  const dir = dirname(abs);
  const text = await readOptional(abs);
  if (text === undefined) {
    throw new UserError(
      `config file ${abs} does not exist`,
      `create it (see README, "Configuration") or point to one with --config FILE`,
    );
  }
  let data: unknown;
  try {
    data = parseToml(text);
  } catch (err) {
    if (err instanceof TomlError) {
      throw new UserError(`${abs}:${err.line}:${err.column}: TOML syntax error: ${firstLine(err.message)}`, 'fix the syntax at that line');
    }
    throw err;
  }
  const parsed = configSchema.safeParse(data);
  if (!parsed.success) throw new ProblemsError(zodProblems(abs, parsed.error), `${abs} has problems:`);
  const sourcesFileText = await readOptional(join(dir, SOURCES_FILE));
  return normalize(abs, parsed.data, sourcesFileText);
}

export function normalize(file: string, raw: RawConfig, sourcesFileText: string | undefined): VaultConfig {
  const dir = dirname(file);
  const problems: string[] = [];
  const at = (p: string) => (isAbsolute(p) ? resolve(p) : resolve(dir, p));
  const snapshotDir = at(raw.snapshot_dir ?? 'snapshots');

  const sourceFrom = (entry: NonNullable<RawConfig['sources']>[number], where: string): SourceConfig | undefined => {
    const spec = typeof entry === 'string' ? { path: entry } : entry;
    if (!isAbsolute(spec.path)) {
      problems.push(`${where}: source "${spec.path}" is not an absolute path; write it from / (e.g. "/home")`);
      return undefined;
    }
    const bad = badPathReason(spec.path);
    if (bad) {
      problems.push(`${where}: source ${JSON.stringify(spec.path)} ${bad}`);
      return undefined;
    }
    const name = ('name' in spec && spec.name) || sourceName(spec.path);
    const base = 'snapshot_dir' in spec && spec.snapshot_dir ? at(spec.snapshot_dir) : snapshotDir;
    return { path: resolve(spec.path), name, snapshotDir: join(base, name) };
  };

  const fromConfig = (raw.sources ?? []).flatMap((e, i) => sourceFrom(e, `${file}: sources[${i}]`) ?? []);
  const fromFile = parseSourcesFile(sourcesFileText ?? '').flatMap(({ line, path }) =>
    sourceFrom(path, `${join(dir, SOURCES_FILE)}:${line}`) ?? [],
  );

  // one list, first mention wins; the same folder name twice would mix two sources' backups
  const sources: SourceConfig[] = [];
  for (const s of [...fromConfig, ...fromFile]) {
    if (sources.some((o) => o.path === s.path)) continue;
    const clash = sources.find((o) => o.name === s.name);
    if (clash) {
      problems.push(
        `${file}: sources ${clash.path} and ${s.path} would both be stored as "${s.name}"; give one a name: sources = [{ path = "${s.path}", name = "..." }]`,
      );
      continue;
    }
    sources.push(s);
  }
  for (const [key, value] of [['snapshot_dir', snapshotDir], ['target.mountpoint', raw.target.mountpoint]] as const) {
    const bad = badPathReason(value);
    if (bad) problems.push(`${file}: ${key} ${JSON.stringify(value)} ${bad}`);
  }
  if (!isAbsolute(raw.target.mountpoint)) {
    problems.push(`${file}: target.mountpoint "${raw.target.mountpoint}" must be an absolute path, e.g. "/media/backup"`);
  }
  const order = ['raid', 'luks', 'lvm'];
  const layers = raw.target.layers;
  if (new Set(layers).size !== layers.length || layers.some((l, i) => i > 0 && order.indexOf(l) < order.indexOf(layers[i - 1]!))) {
    problems.push(`${file}: target.layers = ${JSON.stringify(layers)}: each layer at most once, bottom-up in the order raid, luks, lvm (e.g. ["raid", "luks", "lvm"])`);
  }
  if (problems.length > 0) throw new ProblemsError(problems, `${file} has problems:`);

  const mountpoint = resolve(raw.target.mountpoint);
  const host = raw.host ?? hostname().split('.')[0]!;
  const t = raw.target;
  const derived = t.layers.includes('lvm')
    ? `/dev/${t.volume_group}/${host}`
    : t.layers.includes('luks')
      ? `/dev/mapper/${t.luks_name}`
      : t.layers.includes('raid')
        ? t.array
        : undefined;
  return {
    file,
    dir,
    host,
    snapshotDir,
    sources,
    sourcesFromFile: sources.filter((s) => fromFile.some((f) => f.path === s.path)),
    target: {
      mountpoint,
      layers: raw.target.layers,
      tokenFile: resolve(mountpoint, raw.target.token),
      tokenHashFile: at(raw.target.token_sha512),
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

/** One path a line; `#` starts a comment; blank lines are ignored. */
export function parseSourcesFile(text: string): { line: number; path: string }[] {
  return text.split('\n').flatMap((raw, i) => {
    const path = raw.replace(/(^|\s)#.*$/, '').trim();
    return path ? [{ line: i + 1, path }] : [];
  });
}

/** Paths btrfs-progs prints unescaped; a newline would corrupt the parse of its output. */
export function badPathReason(path: string): string | undefined {
  if (/[\n\r]/.test(path)) return 'contains a line break; rename it (line breaks cannot be handled safely in btrfs-progs output)';
  if (path.includes('\0')) return 'contains a NUL byte';
  return undefined;
}

function zodProblems(file: string, error: { issues: z.core.$ZodIssue[] }): string[] {
  return error.issues.map((issue) => {
    const key = issue.path.join('.') || '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.join(', ');
      return `${file}: ${key === '(top level)' ? '' : `[${key}] `}unknown key ${keys}; remove it or check its spelling (README, "Configuration")`;
    }
    return `${file}: ${key}: ${issue.message}`;
  });
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UserError(`cannot read ${file}: ${(err as Error).message}`, 'check the file and its permissions');
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
