import { isUnder, type MountEntry } from '../core/mountinfo.js';
import { isSnapshotName } from '../core/naming.js';
import { byCreation } from '../core/snapshot-order.js';
import { forgedListingCandidates, listedIds, parseSubvolumeList, type SubvolumeRow } from '../core/subvolumes.js';
import { subvolumeInfosOrWhy } from './subvolume-info.js';
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
export async function listSubvolumes(runner: Runner, mount: MountEntry): Promise<readonly Subvolume[]> {
  const { stdout } = await runner.query(btrfs.list(mount.mountPoint), { bytes: true }); // names are bytes
  const forged = forgedListingCandidates(stdout);
  return Object.freeze(
    forged ? await confirmed(runner, fromRows(forged, mount), false) : fromRows(parseSubvolumeList(stdout), mount),
  );
}

/**
 * A backup filesystem's listing, with each subvolume's read-only flag (a second,
 * read-only listing at the same time): a copy that was made writable may have been
 * changed, so only a read-only one with a received UUID counts as a complete backup.
 */
export async function listTargetSubvolumes(runner: Runner, mount: MountEntry): Promise<readonly Subvolume[]> {
  const [all, ro] = await Promise.all([
    runner.query(btrfs.list(mount.mountPoint), { bytes: true }),
    runner.query(btrfs.listReadonly(mount.mountPoint)),
  ]);
  const forged =
    forgedListingCandidates(all.stdout) ??
    (forgedListingCandidates(ro.stdout) ? parseSubvolumeList(all.stdout) : undefined);
  return Object.freeze(
    forged
      ? await confirmed(runner, fromRows(forged, mount), true)
      : fromRows(parseSubvolumeList(all.stdout), mount, listedIds(ro.stdout)),
  );
}

/**
 * Of a forged listing's candidates, those the filesystem confirms: the subvolume at the
 * row's path has the row's ID. Its UUIDs, generations and read-only flag are then the
 * kernel's, not the text's (a forged row may copy a real one with another generation).
 */
async function confirmed(runner: Runner, candidates: readonly Subvolume[], withFlag: boolean): Promise<Subvolume[]> {
  const infos = await subvolumeInfosOrWhy(
    runner,
    candidates.map((c) => c.path),
  );
  const byId = new Map<number, Subvolume>();
  candidates.forEach((c, i) => {
    const info = infos[i]!;
    if (typeof info === 'string' || info.id !== c.id || byId.has(c.id)) return;
    byId.set(c.id, {
      ...c,
      uuid: info.uuid,
      receivedUuid: info.receivedUuid,
      gen: info.gen ?? c.gen,
      cgen: info.cgen ?? c.cgen,
      ...(withFlag ? { readonly: info.readonly } : {}),
    });
  });
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

/** The snapshots btrfs-vault made in a snapshot folder, oldest first (by creation: a clock set forward names one in the future). */
export function snapshotsIn(listing: readonly Subvolume[], dir: string): Subvolume[] {
  return byCreation(childrenOf(listing, dir).filter((s) => isSnapshotName(s.name)));
}

/** The complete backups btrfs-vault made in a backup folder, oldest first (by creation: a clock set forward names one in the future). */
export function backupsIn(listing: readonly Subvolume[], dir: string): Subvolume[] {
  return firstOfEachCopy(childrenOf(listing, dir).filter((s) => isCompleteCopy(s) && isSnapshotName(s.name)));
}

/**
 * Complete copies oldest first by creation, each received UUID once: btrfs copies the
 * received UUID into a read-only snapshot, so a snapshot someone made of a backup
 * looks like one. The backup is the first made; a later one of the same UUID is not
 * ours (not counted, not deleted, never restored from).
 */
export function firstOfEachCopy<T extends { name: string; cgen?: number; receivedUuid?: string }>(
  copies: readonly T[],
): T[] {
  const seen = new Set<string>();
  return byCreation(copies).filter(
    (s) => s.receivedUuid === undefined || (!seen.has(s.receivedUuid) && Boolean(seen.add(s.receivedUuid))),
  );
}

/** A complete backup: received whole (received UUID set) and never made writable since. */
export function isCompleteCopy(s: Pick<Subvolume, 'receivedUuid' | 'readonly'>): boolean {
  return s.receivedUuid !== undefined && s.readonly === true;
}

/** With `readonly` (the IDs of the read-only listing), each subvolume's flag is set. */
function fromRows(rows: readonly SubvolumeRow[], mount: MountEntry, readonly?: ReadonlySet<number>): Subvolume[] {
  const root = mount.root.replace(/^\/+/, '');
  const out: Subvolume[] = [];
  for (const row of rows) {
    const path = toMountPath(row.path, root, mount.mountPoint);
    if (path === undefined) continue;
    const s: Subvolume = {
      path,
      name: path.slice(path.lastIndexOf('/') + 1),
      id: row.id,
      uuid: row.uuid,
      receivedUuid: row.receivedUuid,
      gen: row.gen,
      cgen: row.cgen,
    };
    if (readonly) s.readonly = readonly.has(row.id);
    out.push(s);
  }
  return out;
}

// A listing holds the whole filesystem (years of snapshots of every source), and a run
// asks it for each source's folders: indexed by folder once, each question costs the
// size of the folder instead of the listing's (50 sources × 100,000 subvolumes took
// seconds). Only frozen listings are indexed, so the index can never go stale.
const byFolder = new WeakMap<readonly Subvolume[], Map<string, Subvolume[]>>();

function folderIndex(all: readonly Subvolume[]): Map<string, Subvolume[]> | undefined {
  if (!Object.isFrozen(all)) return undefined;
  let index = byFolder.get(all);
  if (!index) {
    index = new Map();
    for (const s of all) {
      const folder = parentOf(s.path);
      const list = index.get(folder);
      if (list) list.push(s);
      else index.set(folder, [s]);
    }
    byFolder.set(all, index);
  }
  return index;
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}

/**
 * The listing of a source filesystem whose generations must be current: a subvolume's
 * generation moves only when a transaction commits, so writes still in memory would
 * look like "no change". Committing first (as taking the snapshot would anyway) makes
 * every completed write count.
 */
export async function listSourceSubvolumes(runner: Runner, mount: MountEntry): Promise<readonly Subvolume[]> {
  await commitSource(runner, mount);
  return listSubvolumes(runner, mount);
}

/** Commits a source filesystem's transaction: every completed write counts in the generations read after it. */
export async function commitSource(runner: Runner, mount: MountEntry): Promise<void> {
  await runner.query(btrfs.sync(mount.mountPoint));
}

/** The subvolumes directly inside `dir`, in listing order. */
export function childrenOf(all: readonly Subvolume[], dir: string): Subvolume[] {
  const folder = dir === '/' ? '' : dir;
  const index = folderIndex(all);
  if (index) return [...(index.get(folder) ?? [])];
  return all.filter((s) => parentOf(s.path) === folder);
}

/** Subvolumes strictly below `path` (they are not part of a snapshot of `path`), by ID. */
export function nestedIn(all: readonly Subvolume[], path: string): Subvolume[] {
  const index = folderIndex(all);
  // below `path` = in a folder that is `path` or below it; the folders are few
  const below = (s: Subvolume) => s.path !== path && isUnder(s.path, path);
  if (!index) return all.filter(below);
  return [...index]
    .filter(([folder]) => folder === '' || isUnder(folder, path))
    .flatMap(([, list]) => list.filter(below))
    .sort((a, b) => a.id - b.id);
}

// A path relative to the filesystem's top level, seen through a mount of `root`. Both
// parts are normal already (btrfs's path, the kernel's mount point), so they are joined
// as strings: path.join's normalising was a third of a listing's parse.
function toMountPath(fsPath: string, root: string, mountPoint: string): string | undefined {
  let rest: string;
  if (root === '') rest = fsPath;
  else if (fsPath === root) rest = '';
  else if (fsPath.startsWith(`${root}/`)) rest = fsPath.slice(root.length + 1);
  else return undefined;
  return rest === '' ? mountPoint : mountPoint === '/' ? `/${rest}` : `${mountPoint}/${rest}`;
}
