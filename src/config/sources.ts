import { isAbsolute, join, normalize as normalizePath, resolve } from 'node:path';
import { ProblemsError } from '../core/errors.js';
import { sourceName, sourceNameProblem } from '../core/naming.js';
import type { SourceConfig, VaultConfig } from './config.js';
import { pathIdentity } from './identity.js';
import { problem, show } from './problems.js';
import type { RawConfig } from './schema.js';

// The sources of a config: its `sources` key and the `sources` file beside it, each
// path normalised and given one folder name that no other source has.

const DOCS = 'README, "Configuration"';

type RawSource = NonNullable<RawConfig['sources']>[number];
type Entry = SourceConfig & { where: string };

export interface SourceInputs {
  /** the config file, for messages */
  file: string;
  sourcesFile: string;
  raw: readonly RawSource[];
  /** the sources file's text; undefined when there is none */
  fileText: string | undefined;
  /** a config path made absolute (relative ones are beside the config) */
  at: (path: string) => string;
  snapshotDir: string;
  /** each target's token: its first component is a name on the backup filesystem that no source may have */
  tokens: readonly string[];
}

/** Every source, config first; problems are added to `problems`. */
export function resolveSources(
  input: SourceInputs,
  problems: string[],
): { sources: SourceConfig[]; fromFile: SourceConfig[] } {
  const tokenTops = new Map(input.tokens.map((t) => [normalizePath(t).split('/')[0]!, t]));
  const sourceFrom = (entry: RawSource, where: string, origin: 'config' | 'file'): Entry | undefined => {
    const spec = typeof entry === 'string' ? { path: entry } : entry;
    const bad = badPathReason(spec.path);
    if (bad) {
      problems.push(problem(where, `source ${show(spec.path)} ${bad}`, 'rename the subvolume, or leave it out'));
      return undefined;
    }
    if (!isAbsolute(spec.path)) {
      const fix =
        origin === 'file'
          ? `write it from /, e.g. /${spec.path.replace(/^(\.\/)+/, '')}`
          : `write it from /, e.g. "/home" (${DOCS})`;
      problems.push(problem(where, `source ${show(spec.path)} is not an absolute path`, fix));
      return undefined;
    }
    // `/a//b`, `/a/./b` and `/a/x/../b` are one source with one name
    const path = resolve(spec.path);
    const explicit = 'name' in spec && spec.name !== undefined;
    const name = explicit ? spec.name! : sourceName(path);
    const nameBad = sourceNameProblem(name);
    if (nameBad) {
      problems.push(
        problem(
          explicit ? `${where}.name` : where,
          `${explicit ? 'the name' : `the folder name derived from ${path},`} ${show(name)} ${nameBad}`,
          `give the source a short plain name: sources = [{ path = "${path}", name = "..." }] (${DOCS})`,
        ),
      );
      return undefined;
    }
    const token = tokenTops.get(name);
    if (token !== undefined) {
      problems.push(
        problem(
          where,
          `source ${path} would be stored as "${name}", where target.token = ${show(token)} lives`,
          `give the source another name: sources = [{ path = "${path}", name = "..." }]`,
        ),
      );
      return undefined;
    }
    const base = 'snapshot_dir' in spec && spec.snapshot_dir ? input.at(spec.snapshot_dir) : input.snapshotDir;
    return { path, name, snapshotDir: join(base, name), where };
  };

  const fromConfig = input.raw.flatMap((e, i) => sourceFrom(e, `${input.file}: sources[${i}]`, 'config') ?? []);
  const fromFile = parseSourcesFile(input.fileText ?? '').flatMap(
    ({ line, path }) => sourceFrom(path, `${input.sourcesFile}:${line}`, 'file') ?? [],
  );

  // Within one list, a path twice is a mistake to show; the sources file may repeat a
  // configured path (then the config's settings hold). Two paths with one folder name
  // would mix two sources' backups in one chain.
  // (maps, not scans: every command loads the config, and a sources file may hold thousands)
  const sources: Entry[] = [];
  const byPath = new Map<string, { entry: Entry; list: 'config' | 'file' }>();
  const byName = new Map<string, Entry>();
  for (const [list, entries] of [
    ['config', fromConfig],
    ['file', fromFile],
  ] as const) {
    for (const s of entries) {
      const known = byPath.get(s.path);
      if (known) {
        const same = known.entry;
        if (known.list === list) {
          problems.push(
            problem(
              s.where,
              `source ${s.path} is listed twice (also at ${same.where})`,
              `remove one of them${list === 'config' ? ` from sources in ${input.file}` : ` from ${input.sourcesFile}`}`,
            ),
          );
        }
        continue;
      }
      const clash = byName.get(s.name);
      if (clash) {
        problems.push(
          problem(
            s.where,
            `sources ${clash.path} and ${s.path} would both be stored as "${s.name}" (${clash.where})`,
            `give one of them its own name in ${input.file}: sources = [{ path = "${s.path}", name = "..." }]`,
          ),
        );
        continue;
      }
      sources.push(s);
      byPath.set(s.path, { entry: s, list });
      byName.set(s.name, s);
    }
  }
  const plain = (s: Entry): SourceConfig => ({ path: s.path, name: s.name, snapshotDir: s.snapshotDir });
  const inFile = new Set(fromFile.map((f) => f.path));
  return {
    sources: sources.map(plain),
    fromFile: sources.filter((s) => inFile.has(s.path)).map(plain),
  };
}

/** Two configured paths that are one subvolume (a symlink, a bind mount) would start two chains of it. */
export function assertDistinctSubvolumes(config: VaultConfig): void {
  const seen = new Map<string, SourceConfig>();
  const problems: string[] = [];
  for (const s of config.sources) {
    const id = pathIdentity(s.path);
    if (id === undefined) continue; // the check before the backup reports a missing path
    const first = seen.get(id);
    if (first) {
      problems.push(
        problem(
          `${config.file}: sources`,
          `${first.path} and ${s.path} are the same subvolume (through a symlink or bind mount)`,
          'list it once, as one path (in the config or the sources file)',
        ),
      );
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
  if (/[\n\r]/.test(path))
    return 'contains a line break; rename it (line breaks cannot be handled safely in btrfs-progs output)';
  if (path.includes('\0')) return 'contains a NUL byte';
  return undefined;
}
