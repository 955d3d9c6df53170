import { readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from '../system/runner.js';
import { quote } from '../system/runner.js';

export const LATEST = 'latest';
export const PREVIOUS = 'previous';
const TMP_PREFIX = '.btrfs-vault-link-';

export function readLink(dir: string, name: string): string | undefined {
  try {
    return readlinkSync(join(dir, name));
  } catch {
    return undefined;
  }
}

/**
 * Points `latest` at `snapshot` (and `previous` at the old latest), each atomically:
 * a new symlink under a temporary name, renamed over the old one.
 */
export function moveLinks(runner: Runner, dir: string, snapshot: string): void {
  const old = readLink(dir, LATEST);
  if (old !== undefined && old !== snapshot) replaceLink(runner, dir, PREVIOUS, old);
  replaceLink(runner, dir, LATEST, snapshot);
}

function replaceLink(runner: Runner, dir: string, name: string, target: string): void {
  const tmp = join(dir, `${TMP_PREFIX}${name}`);
  const final = join(dir, name);
  runner.note(`ln -sfT ${quote(target)} ${quote(tmp)} && mv -T ${quote(tmp)} ${quote(final)}`);
  if (runner.dryRun) return;
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, final);
}

/** Temporary links left by a run that died between creating and renaming them. */
export function removeStaleLinks(runner: Runner, dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => n.startsWith(TMP_PREFIX));
  for (const n of stale) {
    runner.note(`rm ${quote(join(dir, n))}`);
    if (!runner.dryRun) rmSync(join(dir, n), { force: true });
  }
  return stale;
}
