import { join } from 'node:path';
import { isUnder, type MountEntry } from '../core/mountinfo.js';
import { compareSnapshotNames, isSnapshotName } from '../core/naming.js';
import { parseSubvolumeList, parseSubvolumeShow, type SubvolumeShow } from '../core/subvolumes.js';
import type { Runner } from '../system/runner.js';
import { btrfs } from './commands.js';

export interface Subvolume {
  /** absolute path, seen through the mount it was listed from */
  path: string;
  name: string;
  id: number;
  uuid: string;
  receivedUuid?: string;
  /** the last transaction that changed it */
  gen: number;
  /** the transaction that created it */
  cgen?: number;
  /** read-only (known for target listings only) */
  readonly?: boolean;
}

/**
 * Every subvolume of the filesystem behind `mount` that is visible through it,
 * with UUIDs: one `btrfs subvolume list` instead of one `show` per entry.
 */
export async function listSubvolumes(runner: Runner, mount: MountEntry): Promise<Subvolume[]> {
  const { stdout } = await runner.query(btrfs.list(mount.mountPoint));
  return fromListing(stdout, mount);
}

/**
 * A backup filesystem's listing, with each subvolume's read-only flag (a second,
 * read-only listing at the same time): a copy that was made writable may have been
 * changed, so only a read-only one with a received UUID counts as a complete backup.
 */
export async function listTargetSubvolumes(runner: Runner, mount: MountEntry): Promise<Subvolume[]> {
  const [all, ro] = await Promise.all([runner.query(btrfs.list(mount.mountPoint)), runner.query(btrfs.listReadonly(mount.mountPoint))]);
  const readonly = new Set(parseSubvolumeList(ro.stdout).map((r) => r.id));
  return fromListing(all.stdout, mount).map((s) => ({ ...s, readonly: readonly.has(s.id) }));
}

/** The complete backups btrfs-vault made in a backup folder, oldest first. */
export function backupsIn(listing: readonly Subvolume[], dir: string): Subvolume[] {
  return childrenOf(listing, dir)
    .filter((s) => isCompleteCopy(s) && isSnapshotName(s.name))
    .sort((a, b) => compareSnapshotNames(a.name, b.name));
}

/** A complete backup: received whole (received UUID set) and never made writable since. */
export function isCompleteCopy(s: Pick<Subvolume, 'receivedUuid' | 'readonly'>): boolean {
  return s.receivedUuid !== undefined && s.readonly === true;
}

function fromListing(text: string, mount: MountEntry): Subvolume[] {
  const root = mount.root.replace(/^\/+/, '');
  const out: Subvolume[] = [];
  for (const row of parseSubvolumeList(text)) {
    const path = toMountPath(row.path, root, mount.mountPoint);
    if (path === undefined) continue;
    out.push({ path, name: path.slice(path.lastIndexOf('/') + 1), id: row.id, uuid: row.uuid, receivedUuid: row.receivedUuid, gen: row.gen, cgen: row.cgen });
  }
  return out;
}

/**
 * The listing of a source filesystem whose generations must be current: a subvolume's
 * generation moves only when a transaction commits, so writes still in memory would
 * look like "no change". Committing first (as taking the snapshot would anyway) makes
 * every completed write count.
 */
export async function listSourceSubvolumes(runner: Runner, mount: MountEntry): Promise<Subvolume[]> {
  await runner.query(btrfs.sync(mount.mountPoint));
  return listSubvolumes(runner, mount);
}

/** The subvolumes directly inside `dir`. */
export function childrenOf(all: readonly Subvolume[], dir: string): Subvolume[] {
  return all.filter((s) => s.path.slice(0, s.path.lastIndexOf('/')) === (dir === '/' ? '' : dir));
}

/** Subvolumes strictly below `path` (they are not part of a snapshot of `path`). */
export function nestedIn(all: readonly Subvolume[], path: string): Subvolume[] {
  return all.filter((s) => s.path !== path && isUnder(s.path, path));
}

export async function showSubvolume(runner: Runner, path: string): Promise<SubvolumeShow> {
  const { stdout } = await runner.query(btrfs.show(path));
  return parseSubvolumeShow(stdout);
}

// A path relative to the filesystem's top level, seen through a mount of `root`.
function toMountPath(fsPath: string, root: string, mountPoint: string): string | undefined {
  let rest: string;
  if (root === '') rest = fsPath;
  else if (fsPath === root) rest = '';
  else if (fsPath.startsWith(`${root}/`)) rest = fsPath.slice(root.length + 1);
  else return undefined;
  return rest === '' ? mountPoint : join(mountPoint, rest);
}
