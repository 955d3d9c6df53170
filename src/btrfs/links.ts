import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from '../system/runner.js';

export const LATEST = 'latest';
export const PREVIOUS = 'previous';
const LINKS = [LATEST, PREVIOUS] as const;
const TMP_PREFIX = '.btrfs-vault-link-';

export function readLink(dir: string, name: string): string | undefined {
  try {
    return readlinkSync(join(dir, name));
  } catch {
    return undefined;
  }
}

/**
 * Points `latest` at `snapshot` (and `previous` at the old latest, if that was one of
 * `valid`: a garbage or dangling `latest` is not copied on), each atomically: a new
 * symlink under a temporary name, renamed over the old one. Then the folder is synced.
 */
export function moveLinks(runner: Runner, dir: string, snapshot: string, valid: ReadonlySet<string>): void {
  const old = readLink(dir, LATEST);
  if (old !== undefined && old !== snapshot && valid.has(old)) replaceLink(runner, dir, PREVIOUS, old);
  replaceLink(runner, dir, LATEST, snapshot, { durable: true });
}

/** `durable`: the folder is synced after the rename. */
export function replaceLink(
  runner: Runner,
  dir: string,
  name: (typeof LINKS)[number],
  target: string,
  o: { durable?: boolean } = {},
): void {
  runner.change({
    op: 'symlink',
    target,
    tmp: join(dir, `${TMP_PREFIX}${name}`),
    path: join(dir, name),
    durable: o.durable,
  });
}

/** Removes the link `name` (only a link: never a file or folder that carries the name). */
export function removeLink(runner: Runner, dir: string, name: string): void {
  if (!isLink(join(dir, name))) return;
  runner.change({ op: 'remove', path: join(dir, name), onlyLink: true });
}

/**
 * Temporary links left by a run that died between creating and renaming them (only
 * links). Their names are known, one per link: looked up, not found by reading a
 * folder that holds every backup (which grew with the history).
 */
export function removeStaleLinks(runner: Runner, dir: string): string[] {
  const stale = staleLinks(dir);
  for (const n of stale) removeLink(runner, dir, n);
  return stale;
}

/** Is a temporary link left in `dir` (an interrupted run to recover from)? */
export function hasStaleLinks(dir: string): boolean {
  return staleLinks(dir).length > 0;
}

function staleLinks(dir: string): string[] {
  return LINKS.map((n) => `${TMP_PREFIX}${n}`).filter((n) => isLink(join(dir, n)));
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
