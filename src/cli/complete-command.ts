import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { loadConfig } from '../config/load.js';
import { compareSnapshotNames, isSnapshotName } from '../core/naming.js';

// `btrfs-vault __complete sources|backups SOURCE|targets` (hidden): the words the bash
// and zsh completions offer, one a line. A key press waits for it, so it reads only the
// config files and, for backups, the source's snapshot folder: no disk is opened, no
// program run. A completion has nowhere to show an error: on any problem it prints
// nothing on stdout and exits 0.

export async function completeCommand(
  what: string,
  source: string | undefined,
  opts: { config: string },
): Promise<number> {
  try {
    const words = await wordsFor(what, source, opts.config);
    if (words.length > 0) process.stdout.write(`${words.join('\n')}\n`);
  } catch (err) {
    // nothing to offer; why, for a person who runs it by hand (the completions drop stderr)
    process.stderr.write(`btrfs-vault __complete: ${(err as Error).message}\n`);
  }
  return 0;
}

async function wordsFor(what: string, source: string | undefined, file: string): Promise<string[]> {
  switch (what) {
    case 'sources': {
      const config = await loadConfig(file);
      return [...new Set(config.sources.flatMap((s) => [s.name, s.path]))];
    }
    case 'backups': {
      if (source === undefined) return [];
      const config = await loadConfig(file);
      const abs = resolve(source);
      const picked = config.sources.find((s) => s.name === source || s.path === abs);
      if (!picked) return [];
      // the snapshots on the source side: each names a backup (the disk is not opened)
      return readdirSync(picked.snapshotDir).filter(isSnapshotName).sort(compareSnapshotNames).reverse();
    }
    case 'targets':
      return targetNames(parseToml(readFileSync(file, 'utf8')));
    default:
      return [];
  }
}

/** The names of the configured targets: a table of named targets, or named entries. */
function targetNames(raw: Record<string, unknown>): string[] {
  const names: string[] = [];
  for (const key of ['target', 'targets']) {
    const t = raw[key];
    if (Array.isArray(t)) {
      for (const e of t) if (isRecord(e) && typeof e.name === 'string') names.push(e.name);
    } else if (isRecord(t)) {
      if (typeof t.name === 'string') names.push(t.name);
      else if (key === 'targets') names.push(...Object.keys(t).filter((k) => isRecord(t[k])));
    }
  }
  return names;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
