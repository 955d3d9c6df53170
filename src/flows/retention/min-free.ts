import { statfsSync } from 'node:fs';
import { btrfs } from '../../btrfs/commands.js';
import { waitForFreedSpace } from '../../btrfs/freed-space.js';
import type { Subvolume } from '../../btrfs/subvolumes.js';
import type { TargetConfig } from '../../config/config.js';
import { TargetError } from '../../core/errors.js';
import { isSnapshotName } from '../../core/naming.js';
import { byCreation } from '../../core/snapshot-order.js';
import type { Runner } from '../../system/runner.js';
import { formatBytes } from '../../ui/format.js';
import { repairPrevious } from './prune-source.js';

export interface FreeSpace {
  free: number;
  size: number;
}

export function freeSpace(path: string): FreeSpace {
  const st = statfsSync(path);
  return { free: st.bavail * st.bsize, size: st.blocks * st.bsize };
}

/** The free space `min_free` asks for on a filesystem of `size` bytes. */
export function wantedFree(minFree: NonNullable<TargetConfig['minFree']>, size: number): number {
  return 'percent' in minFree ? Math.ceil((size * minFree.percent) / 100) : minFree.bytes;
}

export interface RoomMade {
  /** the backups deleted, oldest first */
  deleted: string[];
  /** why, for the run's report: the space before, what min_free asks, what was kept */
  why?: string;
}

/**
 * Before a transfer: when the backup filesystem has less free space than `min_free`,
 * delete this source's oldest backups (by creation), one at a time, waiting until
 * btrfs has freed the space, until there is enough. Never the backups in `keep`
 * (latest, the next parent, the keep_last newest). A wish no deletion can meet (more
 * than the filesystem, or more than deleting every deletable backup could free) is
 * refused before anything is deleted; if deleting still falls short, nothing is sent
 * (no half-written backup from a full disk).
 */
export async function makeRoom(input: {
  runner: Runner;
  targetDir: string;
  mountPoint: string;
  minFree: NonNullable<TargetConfig['minFree']>;
  /** this source's complete backups */
  backups: readonly Subvolume[];
  /** names that must stay: latest, the next parent */
  keep: ReadonlySet<string>;
  /** at least this many of the newest backups stay (retention's target keep_last) */
  keepLast: number;
  /** the filesystem compresses: sizes read from files are larger than what they take on the disk */
  compressed?: boolean;
  step(text: string): void;
  measure?: (path: string) => FreeSpace;
}): Promise<RoomMade> {
  const { runner } = input;
  const measure = input.measure ?? freeSpace;
  let space = measure(input.targetDir);
  const wanted = wantedFree(input.minFree, space.size);
  const deleted: string[] = [];
  if (space.free >= wanted) return { deleted };
  const asks = `min_free asks for ${formatBytes(wanted)}`;
  const fixLower = `lower target.min_free (e.g. min_free = "10%"), free space on the backup disk (other data on it, or backups of other sources: btrfs-vault prune), or use a larger disk`;
  if (wanted >= space.size) {
    throw new TargetError(
      `${asks}, but the whole backup filesystem is ${formatBytes(space.size)}: no deletion can make that much room; nothing was deleted and nothing was sent`,
      `lower target.min_free below the size of the disk (e.g. min_free = "10%")`,
    );
  }
  const ours = byCreation(input.backups.filter((b) => isSnapshotName(b.name)));
  const newest = new Set(ours.slice(Math.max(0, ours.length - Math.max(1, input.keepLast))).map((b) => b.name));
  const kept = ours.filter((b) => input.keep.has(b.name) || newest.has(b.name));
  const candidates = ours.filter((b) => !kept.includes(b));
  const last = Math.max(1, input.keepLast);
  const keptWhy = `kept: ${[input.keep.size ? 'latest and the next parent' : undefined, Number.isFinite(last) ? `the ${last} newest (keep_last)` : 'all (keep_last = "all")'].filter(Boolean).join(', ')}`;
  // what deleting every candidate could free at most: the data the kept backups do not hold
  const most = await freeable(runner, input.targetDir, candidates, kept.at(-1), input.compressed);
  if (space.free + most < wanted) {
    throw new TargetError(
      `only ${formatBytes(space.free)} of ${formatBytes(space.size)} is free on the backup disk, and ${asks}; deleting all ${candidates.length} backup(s) that may go (${keptWhy}) would free at most ${formatBytes(most)}: nothing was deleted and nothing was sent`,
      fixLower,
    );
  }
  const before = space.free;
  try {
    for (const b of candidates) {
      if (space.free >= wanted) break;
      input.step(
        `only ${formatBytes(space.free)} free on the backup disk, ${asks}: deleting the oldest backup ${b.name}`,
      );
      await runner.run(btrfs.deleteNow(b.path));
      deleted.push(b.name);
      // a dry-run frees nothing to measure: it names the first; a run measures again after each
      if (!runner.changesTakeEffect) {
        if (b !== candidates.at(-1))
          input.step(
            `then, if that is not enough room, the next oldest (a run measures the free space again after each deletion)`,
          );
        break;
      }
      await waitForFreedSpace(runner, input.mountPoint, [b.id]);
      space = measure(input.targetDir);
    }
  } finally {
    // what latest and previous point at must exist, also when this run goes no further
    if (deleted.length > 0)
      repairPrevious(
        runner,
        input.targetDir,
        ours.filter((b) => !deleted.includes(b.name)).map((b) => b.name),
      );
  }
  const why = `only ${formatBytes(before)} was free and ${asks}; ${keptWhy}`;
  if (space.free < wanted && runner.changesTakeEffect) {
    throw new TargetError(
      `only ${formatBytes(space.free)} of ${formatBytes(space.size)} is free on the backup disk, and ${asks}${deleted.length ? ` (after deleting the old backup(s) ${deleted.join(', ')})` : ''}; nothing was sent`,
      fixLower,
    );
  }
  return { deleted, why };
}

/**
 * At most how much deleting `candidates` frees: the data of this source's backup folder
 * (counted once, however many backups share it) less the data the newest kept backup
 * holds (it stays), but never more than the candidates hold. Not the whole disk's data:
 * other sources' backups stay whatever this source deletes. `btrfs filesystem du`
 * counts data as files see it: on a compressed disk that is more than it takes, so
 * there only the candidates' own count bounds it.
 */
async function freeable(
  runner: Runner,
  dir: string,
  candidates: readonly Subvolume[],
  newestKept: Subvolume | undefined,
  compressed = false,
): Promise<number> {
  if (candidates.length === 0) return 0;
  const [df, du] = await Promise.all([
    runner.query(btrfs.df(dir), { allowFailure: true }),
    runner.query(btrfs.du([dir, ...candidates.map((c) => c.path), ...(newestKept ? [newestKept.path] : [])]), {
      allowFailure: true,
    }),
  ]);
  // no measure, no bound: deleting oldest first still stops at what must stay
  if (df.exitCode !== 0 || du.exitCode !== 0) return Infinity;
  const usage = parseDf(df.stdout);
  const held = parseDu(du.stdout);
  const candidatesHold = candidates.reduce((sum, c) => sum + (held.get(c.path) ?? 0), 0) + usage.metadata;
  if (compressed || !newestKept) return candidatesHold;
  const folder = held.get(dir) ?? usage.data;
  return Math.min(candidatesHold, Math.max(0, folder - (held.get(newestKept.path) ?? 0)) + usage.metadata);
}

/** `btrfs filesystem df -b`: bytes used by data, and by metadata (counting its copies). */
export function parseDf(text: string): { data: number; metadata: number } {
  let data = 0;
  let metadata = 0;
  for (const m of text.matchAll(/^(Data|Metadata|Data\+Metadata), (\w+): total=\d+, used=(\d+)$/gm)) {
    const copies = /^(DUP|RAID1)$/i.test(m[2]!) ? 2 : 1;
    if (m[1] === 'Metadata') metadata += Number(m[3]) * copies;
    else data += Number(m[3]);
  }
  return { data, metadata };
}

/** `btrfs filesystem du -s --raw`: each path's distinct data (exclusive + shared within it). */
export function parseDu(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^\s*(\d+)\s+(\d+)\s+(\d+)\s+(.+)$/gm)) out.set(m[4]!, Number(m[2]) + Number(m[3]));
  return out;
}
