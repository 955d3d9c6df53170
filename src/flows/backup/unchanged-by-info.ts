import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { hasStaleLinks, LATEST, readLink } from '../../btrfs/links.js';
import { RECEIVE_RECORD } from '../../btrfs/receive-record.js';
import { subvolumeInfosOrWhy, type SubvolumeInfo } from '../../btrfs/subvolume-info.js';
import type { Subvolume } from '../../btrfs/subvolumes.js';
import { fsPath } from '../../core/byte-names.js';
import { isSnapshotName } from '../../core/naming.js';
import { lexists } from '../../system/no-follow.js';
import type { Runner } from '../../system/runner.js';
import type { SourceFolders } from './backup-source.js';
import type { CheckedSource } from './source-check.js';

// A source with nothing to do, answered without listing a filesystem (a listing holds
// every source's history, and grows with it): the kernel's word on three subvolumes.
// Anything unusual, and the run lists as it always did, where every check is made.

/** The snapshot `latest` names on both sides, and its copy: nothing changed since. */
export interface UnchangedPair {
  snapshot: Subvolume;
  copy: Subvolume;
  /** the snapshot names in the backup folder, read for the check (retention's proof reads them again otherwise) */
  targetNames: string[];
}

/**
 * Unchanged when: `latest` names the same snapshot on both sides; no receive is
 * recorded and no link temporary is left (an interrupted run to recover from); every
 * folder in the backup folder has a snapshot's name (anything else gets its warning
 * from a listing); and, by one GET_SUBVOL_INFO each, the snapshot is read-only and was
 * taken of this live source, the copy is read-only with the snapshot's UUID as its
 * received UUID, and the live source's generation is not above the snapshot's creation:
 * a write, or a snapshot taken of it since (by hand, anywhere), would have moved it past
 * (test/host/subvolume-info.test.ts). The source filesystem is committed first.
 */
export async function unchangedByInfo(
  runner: Runner,
  source: CheckedSource,
  { snapDir, targetDir }: SourceFolders,
  known?: ReadonlyMap<string, SubvolumeInfo>,
): Promise<UnchangedPair | undefined> {
  const name = readLink(snapDir, LATEST);
  if (name === undefined || !isSnapshotName(name) || readLink(targetDir, LATEST) !== name) return undefined;
  if (lexists(join(targetDir, RECEIVE_RECORD)) || hasStaleLinks(snapDir) || hasStaleLinks(targetDir)) return undefined;
  const target = snapshotNamesIn(targetDir);
  if (target.others.some((n) => !isNotAFolder(join(targetDir, n)))) return undefined;
  const paths = [source.real, join(snapDir, name), join(targetDir, name)];
  const infos = paths.every((p) => known?.has(p))
    ? paths.map((p) => known!.get(p)!)
    : await subvolumeInfosOrWhy(runner, paths);
  const [live, snap, copy] = infos.map((i) => (typeof i === 'string' ? undefined : i));
  if (live === undefined || snap === undefined || copy === undefined) return undefined;
  if (live.gen === undefined || snap.cgen === undefined) return undefined;
  const unchanged =
    snap.readonly &&
    snap.parentUuid === live.uuid &&
    live.gen <= snap.cgen &&
    copy.readonly &&
    copy.receivedUuid === snap.uuid;
  if (!unchanged) return undefined;
  const fields = (i: SubvolumeInfo) => ({ name, id: i.id, uuid: i.uuid, gen: i.gen ?? 0, cgen: i.cgen });
  return {
    snapshot: { ...fields(snap), path: snap.path },
    copy: { ...fields(copy), path: copy.path, receivedUuid: copy.receivedUuid, readonly: true },
    targetNames: target.names,
  };
}

/**
 * The three subvolumes of every source whose `latest` names the same snapshot on both
 * sides, read in one call before the sources' tasks (after their filesystems' commits):
 * a process per source cost more than the listing it saves. Keyed by path; a source
 * whose folders resolve elsewhere reads its own.
 */
export async function infoOfUnchanged(
  runner: Runner,
  sources: readonly CheckedSource[],
  targetMountPoint: string,
): Promise<ReadonlyMap<string, SubvolumeInfo>> {
  const paths: string[] = [];
  for (const s of sources) {
    const name = readLink(s.snapshotDir, LATEST);
    const targetDir = join(targetMountPoint, s.name);
    if (name === undefined || !isSnapshotName(name) || readLink(targetDir, LATEST) !== name) continue;
    paths.push(s.real, join(s.snapshotDir, name), join(targetDir, name));
  }
  const infos = await subvolumeInfosOrWhy(runner, paths);
  return new Map(infos.flatMap((info, i) => (typeof info === 'string' ? [] : [[paths[i]!, info] as const])));
}

/**
 * The snapshot names in `dir`, and its other entries: one readdir of names only (years of
 * history are thousands of entries; a file-type entry each cost ~5× as much). A name
 * that is not UTF-8 is among the others, as Node decodes it: its lstat then fails.
 */
export function snapshotNamesIn(dir: string): { names: string[]; others: string[] } {
  const names: string[] = [];
  const others: string[] = [];
  for (const n of readdirSync(fsPath(dir))) (isSnapshotName(n) ? names : others).push(n);
  return { names, others };
}

/** Known not to be a folder (a link, a file); anything unreadable is not known. */
function isNotAFolder(path: string): boolean {
  try {
    return !lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}
