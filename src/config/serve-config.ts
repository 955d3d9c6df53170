import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ProblemsError, UserError } from '../core/errors.js';
import { DEFAULT_TARGET_RULES, type RetentionRules } from '../core/retention.js';
import type { VaultConfig } from './config.js';
import { STATUS_DEFAULTS } from './defaults.js';
import { readConfigFile } from './files.js';
import { problem } from './problems.js';
import { notifySchema, serveSchema, hostSchema, type RawConfig } from './schema.js';
import { notifyConfig, parseAge, parseMinFree, retentionRules, type MinFree } from './values.js';

// A backup server's `[serve]` table. serve starts at every ssh connection of every host,
// so it reads this table alone (and [notify] and host for the server's status), never
// the whole config with its sources and disks.

export interface ServeConfig {
  /** the serve root (absolute); undefined: --serve-root is needed */
  root?: string;
  /** a host quiet for longer is a warning */
  maxAgeSeconds: number;
  /** free space serve keeps on the server's filesystem */
  minFree?: MinFree;
  /** what prune keeps of each host's folders */
  retention: RetentionRules;
}

const DOCS = 'docs/SERVER.md, "Config on the server"';

export function serveConfig(raw: NonNullable<RawConfig['serve']>, file: string): ServeConfig {
  if (raw.root !== undefined && !isAbsolute(raw.root))
    throw new ProblemsError(
      [
        problem(
          `${file}: serve.root`,
          `${JSON.stringify(raw.root)} is not an absolute path`,
          `name it from /, e.g. root = "/srv/btrfs-vault" (${DOCS})`,
        ),
      ],
      `${file} has problems:`,
    );
  return {
    ...(raw.root === undefined ? {} : { root: resolve(raw.root) }),
    maxAgeSeconds: parseAge(raw.max_age ?? STATUS_DEFAULTS.max_age),
    ...(raw.min_free === undefined ? {} : { minFree: parseMinFree(raw.min_free) }),
    retention: retentionRules(raw.retention, DEFAULT_TARGET_RULES),
  };
}

/** What the server's verbs read of the config: [serve], [notify], host; and whether it has a target. */
export interface ServerSettings {
  file: string;
  serve: ServeConfig;
  /** the config names a target too: it is also a host's that backs up */
  hasTarget: boolean;
  notifyConfig: Pick<VaultConfig, 'file' | 'host' | 'notify'>;
}

// a cheap look before TOML is parsed: most configs are a client's
const SERVE_TABLE = /^[ \t]*(\[[ \t]*serve[ \t]*[\].]|serve[ \t]*=)/m;

/**
 * The config's server settings; undefined when the file is absent or has no `[serve]`.
 * Only the tables a server's verbs use are checked here (loadConfig checks the rest).
 */
export function readServerSettings(file: string): ServerSettings | undefined {
  const abs = resolve(file);
  const text = readConfigFile(abs, 'config file');
  if (text === undefined || !SERVE_TABLE.test(text)) return undefined;
  let data: Record<string, unknown>;
  try {
    data = parseToml(text);
  } catch (err) {
    if (err instanceof TomlError)
      throw new UserError(
        `${abs}:${err.line}:${err.column}: TOML syntax error: ${err.message.split('\n')[0]}`,
        `fix the syntax at line ${err.line}`,
      );
    throw err;
  }
  if (data.serve === undefined) return undefined;
  const problems: string[] = [];
  const check = <T>(
    key: string,
    schema: {
      safeParse(v: unknown): {
        success: boolean;
        data?: T;
        error?: { issues: readonly { path: PropertyKey[]; message: string }[] };
      };
    },
    value: unknown,
  ): T | undefined => {
    if (value === undefined) return undefined;
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    for (const i of r.error!.issues)
      problems.push(
        problem(`${abs}: ${[key, ...i.path.map(String)].join('.')}`, i.message, `see ${DOCS} and docs/CONFIG.md`),
      );
    return undefined;
  };
  const serve = check<NonNullable<RawConfig['serve']>>('serve', serveSchema, data.serve);
  const notify = check<NonNullable<RawConfig['notify']>>('notify', notifySchema, data.notify);
  const host = check<string>('host', hostSchema, data.host);
  if (problems.length > 0 || !serve) throw new ProblemsError(problems, `${abs} has problems:`);
  return {
    file: abs,
    serve: serveConfig(serve, abs),
    hasTarget: data.target !== undefined || data.targets !== undefined,
    notifyConfig: {
      file: abs,
      host: host ?? hostname().split('.')[0]!,
      notify: notify && notifyConfig(notify),
    },
  };
}
