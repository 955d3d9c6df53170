import { btrfs } from '../../btrfs/commands.js';
import { waitForFreedSpace } from '../../btrfs/freed-space.js';
import { removeStaleLinks } from '../../btrfs/links.js';
import { bootId, clearReceiveRecord, readReceiveRecord } from '../../btrfs/receive-record.js';
import {
  childrenOf,
  isCompleteCopy,
  listSourceSubvolumes,
  listTargetSubvolumes,
  snapshotsIn,
  type Subvolume,
} from '../../btrfs/subvolumes.js';
import { escapeName } from '../../core/byte-names.js';
import type { BackupSourceDeps, SourceFolders } from './backup-source.js';
import type { CheckedSource } from './source-check.js';

/** What a source's two folders hold once an interrupted run's leftovers are dealt with. */
export interface Recovered {
  /** the source filesystem's subvolumes */
  srcAll: readonly Subvolume[];
  /** the source's snapshots, oldest first */
  snaps: Subvolume[];
  /** what is in the backup folder */
  dst: Subvolume[];
  /** incomplete receives recorded by an earlier, interrupted run, deleted by this one */
  cleaned: string[];
}

/**
 * Lists both folders and recovers from an interrupted run: its recorded receive, its
 * stale links. A subvolume in the backup folder that is not a complete copy is left
 * alone, with a warning.
 */
export async function recover(
  source: CheckedSource,
  { snapDir, targetDir }: SourceFolders,
  deps: BackupSourceDeps,
  warnings: string[],
): Promise<Recovered> {
  const { runner, targetMount } = deps;
  // both listings at once: they are independent, and each is a process start
  const [dstAll, srcAll] = await Promise.all([
    deps.targetListing?.() ?? listTargetSubvolumes(runner, targetMount),
    deps.sourceListing?.() ?? listSourceSubvolumes(runner, source.mount),
  ]);
  let dst = childrenOf(dstAll, targetDir);
  // oldest first by when btrfs made them: a name from a clock set forward is not "newest"
  const snaps = snapshotsIn(srcAll, snapDir);

  const cleaned: string[] = [];
  const left = await deleteInterruptedReceive(targetDir, dst, deps);
  if (left) {
    cleaned.push(left.path);
    dst = dst.filter((s) => s !== left);
  }
  for (const other of dst.filter((s) => !isCompleteCopy(s))) {
    warnings.push(
      `${escapeName(other.path)} is not a complete backup made by btrfs-vault (a writable snapshot, or a backup made writable since); left alone`,
    );
  }
  removeStaleLinks(runner, targetDir);
  removeStaleLinks(runner, snapDir);
  return { srcAll, snaps, dst, cleaned };
}

/**
 * A receive an earlier run recorded is ours: deleted when incomplete, or when it was
 * never synced and the machine rebooted since (its data may not have reached the disk);
 * a complete, synced one (the run died before its links moved) is kept and pairs up in
 * the plan. The record is cleared either way. Returns the deleted subvolume.
 */
async function deleteInterruptedReceive(
  targetDir: string,
  dst: readonly Subvolume[],
  deps: BackupSourceDeps,
): Promise<Subvolume | undefined> {
  const { runner, targetMount } = deps;
  const record = readReceiveRecord(targetDir);
  if (!record) return undefined;
  const left = dst.find((s) => s.name === record.name);
  const unsyncedBeforeReboot = !record.synced && record.boot !== bootId();
  let deleted: Subvolume | undefined;
  if (left && (!isCompleteCopy(left) || unsyncedBeforeReboot)) {
    deps.step(
      `deleting ${left.path}, left ${isCompleteCopy(left) ? 'unsynced before a reboot' : 'incomplete'} by an interrupted run (${record.run})`,
    );
    await runner.run(btrfs.delete(left.path));
    deleted = left;
    // its space comes back in the background: this run's transfer needs it now
    deps.step(`waiting until btrfs has freed the space of ${left.path}`);
    await waitForFreedSpace(runner, targetMount.mountPoint, [left.id]);
  }
  clearReceiveRecord(runner, targetDir);
  return deleted;
}
