import { statfsSync } from 'node:fs';
import { btrfs } from '../btrfs/commands.js';
import type { Subvolume } from '../btrfs/subvolumes.js';
import type { TargetConfig } from '../config/config.js';
import { TargetError } from '../core/errors.js';
import { compareSnapshotNames, isSnapshotName } from '../core/naming.js';
import type { Runner } from '../system/runner.js';
import { formatBytes } from '../ui/format.js';

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

/**
 * Before a transfer: when the backup filesystem has less free space than `min_free`,
 * delete this source's oldest backups, one at a time (waiting until btrfs has freed
 * the space), never `latest` or the next parent, until there is enough; if there still
 * is not, fail before anything is sent (no half-written backup from a full disk).
 * Returns the backups it deleted.
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
  step(text: string): void;
  measure?: (path: string) => FreeSpace;
}): Promise<string[]> {
  const measure = input.measure ?? freeSpace;
  let space = measure(input.targetDir);
  const wanted = wantedFree(input.minFree, space.size);
  const deleted: string[] = [];
  if (space.free >= wanted) return deleted;
  const candidates = input.backups.filter((b) => isSnapshotName(b.name) && !input.keep.has(b.name)).sort((a, b) => compareSnapshotNames(a.name, b.name));
  for (const b of candidates) {
    if (space.free >= wanted) break;
    input.step(`only ${formatBytes(space.free)} free on the backup disk, min_free asks for ${formatBytes(wanted)}: deleting the oldest backup ${b.name}`);
    await input.runner.run(btrfs.deleteNow(b.path));
    deleted.push(b.name);
    if (input.runner.dryRun) continue;
    // btrfs frees a deleted subvolume's space in the background: wait for it
    await input.runner.run(btrfs.waitDeleted(input.mountPoint, [b.id]));
    space = measure(input.targetDir);
  }
  if (space.free < wanted && !input.runner.dryRun) {
    throw new TargetError(
      `only ${formatBytes(space.free)} of ${formatBytes(space.size)} is free on the backup disk, and min_free asks for ${formatBytes(wanted)}${deleted.length ? ` (after deleting ${deleted.length} old backup(s))` : ''}; nothing was sent`,
      'free space on the backup disk (other data on it, or backups of other sources: btrfs-vault prune), lower target.min_free, or use a larger disk',
    );
  }
  return deleted;
}
