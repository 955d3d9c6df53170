import { readdirSync } from 'node:fs';
import { loadConfig } from '../config/load.js';
import { targetsOf } from '../config/target-view.js';
import { compareSnapshotNames, isSnapshotName } from '../core/naming.js';
import { restoreSource } from '../flows/session/source-pick.js';

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
      // the source as restore and files take it: by name, or by path also through a symlink
      const picked = restoreSource(config, source);
      if (picked.fromDisk) return [];
      // the snapshots on the source side: each names a backup (the disk is not opened)
      return readdirSync(picked.snapshotDir).filter(isSnapshotName).sort(compareSnapshotNames).reverse();
    }
    case 'targets':
      return targetsOf(await loadConfig(file)).map((t) => t.name);
    default:
      return [];
  }
}
