import { join } from 'node:path';
import { LATEST, readLink } from '../../btrfs/links.js';
import { subvolumeInfosOrWhy } from '../../btrfs/subvolume-info.js';
import { isCompleteCopy, nestedIn, type Subvolume } from '../../btrfs/subvolumes.js';
import { escapeName } from '../../core/byte-names.js';
import { isUnder } from '../../core/mountinfo.js';
import { chooseParent, type ParentChoice } from '../../core/parent.js';
import { byCreation } from '../../core/snapshot-order.js';
import type { Runner } from '../../system/runner.js';
import type { BackupSourceDeps, SourceFolders } from './backup-source.js';
import type { Recovered } from './recover.js';
import type { CheckedSource } from './source-check.js';

/** What a source's backup sends from, read from its two folders after the recovery. */
export interface SendPlan {
  choice: ParentChoice;
  /** the complete copies in the backup folder */
  complete: Subvolume[];
  srcLatest: string | undefined;
  dstLatest: string | undefined;
  /** the newest snapshot's name, when the source has not changed since and the target has it: nothing to make */
  unchanged: string | undefined;
  /**
   * several disks: a snapshot there is already to send, not a new one to make (the run's
   * own, made for another disk; or the newest, when the source has not changed since)
   */
  existing?: Subvolume;
}

/** Pick the parent (the newest pair by UUID), and say what the links and the nested subvolumes leave out. */
export function planSend(
  source: CheckedSource,
  { snapDir, targetDir }: SourceFolders,
  { srcAll, snaps, dst }: Recovered,
  deps: Pick<BackupSourceDeps, 'knownSources' | 'force' | 'rotating' | 'madeThisRun'>,
  warnings: string[],
): SendPlan {
  const complete = dst.filter(isCompleteCopy);
  const choice = chooseParent({ source: snaps, target: complete });
  const srcLatest = readLink(snapDir, LATEST);
  const dstLatest = readLink(targetDir, LATEST);
  // with several disks the source's `latest` is the newest snapshot of any disk: newer than this disk's pair is normal
  const srcNewer =
    deps.rotating === true &&
    choice.kind === 'incremental' &&
    snaps.findIndex((s) => s.name === srcLatest) > snaps.findIndex((s) => s.name === choice.parent);
  if (
    choice.kind === 'incremental' &&
    ((srcLatest !== choice.parent && !srcNewer) || dstLatest !== choice.targetName)
  ) {
    warnings.push(
      `latest did not point at the newest pair (source ${choice.parent}, target ${choice.targetName}; latest was ${srcLatest ?? 'none'} on the source, ${dstLatest ?? 'none'} on the target), as after an interrupted run; sent from that pair, and both links now point at the new backup`,
    );
  }

  const backedUpAnyway = (path: string) =>
    isUnder(path, snapDir) ||
    [source, ...(deps.knownSources ?? [])].some((o) => path === o.path || isUnder(path, o.snapshotDir));
  const nested = nestedIn(srcAll, source.real).filter((s) => !backedUpAnyway(s.path));
  if (nested.length > 0) {
    warnings.push(
      `nested subvolumes are not part of a snapshot of ${source.path} and are not backed up with it: ${nested.map((s) => escapeName(s.path)).join(', ')} (list them as sources of their own)`,
    );
  }

  const plan = { choice, complete, srcLatest, dstLatest };
  const unchanged = deps.force ? undefined : unchangedSnapshot(source, srcAll, snaps, plan);
  return { ...plan, unchanged, existing: unchanged ? undefined : existingToSend(source, srcAll, snaps, plan, deps) };
}

/**
 * Several disks: the snapshot this run made for another disk is sent to this one too
 * (taken once, sent to each); and when the source has not changed since its newest
 * snapshot, which this disk lacks, that one is sent instead of a new one.
 */
function existingToSend(
  source: CheckedSource,
  srcAll: readonly Subvolume[],
  snaps: readonly Subvolume[],
  { choice, complete, srcLatest }: Omit<SendPlan, 'unchanged'>,
  deps: Pick<BackupSourceDeps, 'rotating' | 'madeThisRun' | 'force'>,
): Subvolume | undefined {
  if (!deps.rotating) return undefined;
  const newest = snaps.at(-1);
  if (newest === undefined || srcLatest !== newest.name) return undefined;
  // this disk holds it already (its name may be free by chance: the UUID says)
  if (complete.some((c) => c.receivedUuid === newest.uuid)) return undefined;
  if (choice.kind === 'incremental' && choice.parent === newest.name) return undefined;
  if (deps.madeThisRun !== undefined) return deps.madeThisRun === newest.name ? newest : undefined;
  if (deps.force) return undefined;
  const live = srcAll.find((s) => s.path === source.real);
  return newest.cgen !== undefined && live !== undefined && live.gen <= newest.cgen ? newest : undefined;
}

/** Nothing changed since the newest snapshot, and the target has it: that snapshot's name. */
function unchangedSnapshot(
  source: CheckedSource,
  srcAll: readonly Subvolume[],
  snaps: readonly Subvolume[],
  { choice, srcLatest, dstLatest }: Omit<SendPlan, 'unchanged'>,
): string | undefined {
  const newest = snaps.at(-1);
  const live = srcAll.find((s) => s.path === source.real);
  const unchanged =
    newest?.cgen !== undefined &&
    live !== undefined &&
    live.gen <= newest.cgen &&
    choice.kind === 'incremental' &&
    choice.parent === newest.name &&
    srcLatest === newest.name &&
    dstLatest === choice.targetName;
  return unchanged ? newest.name : undefined;
}

/**
 * The parent of the send, with the snapshot just made: the plan's pair, else (a full
 * send with backups on the target) a restored subvolume that holds a backup's data.
 */
export async function sendParent(
  runner: Runner,
  source: CheckedSource,
  snapDir: string,
  targetDir: string,
  srcAll: readonly Subvolume[],
  { choice, complete }: SendPlan,
  warnings: string[],
): Promise<{ path: string; name: string } | undefined> {
  if (choice.kind === 'incremental') return { path: join(snapDir, choice.parent), name: choice.parent };
  if (complete.length === 0) return undefined;
  // after a restore, the restored subvolume holds a backup's data (its received UUID):
  // it can be the parent, so the chain goes on instead of starting again
  const restored = await restoredParent(runner, srcAll, complete, snapDir);
  if (restored) {
    warnings.push(
      `no snapshot of ${source.path} pairs with a backup; sent incrementally from the restored ${restored.path} (the data of backup ${restored.backup})`,
    );
    return { path: restored.path, name: restored.path };
  }
  warnings.push(
    `full send: none of the ${complete.length} backup(s) in ${targetDir} is on the source filesystem as the same data (snapshots deleted, or a source replaced by other data); the chain starts again`,
  );
  return undefined;
}

/**
 * A read-only subvolume on the source filesystem that was received from one of the
 * backups (a restore): the newest such, checked to be read-only still.
 */
async function restoredParent(
  runner: Runner,
  srcAll: readonly Subvolume[],
  complete: readonly Subvolume[],
  snapDir: string,
): Promise<{ path: string; backup: string } | undefined> {
  const byReceived = new Map(complete.map((c) => [c.receivedUuid!, c.name]));
  // newest by when the backup was made (a clock set forward names one in the future)
  const rank = new Map(byCreation(complete).map((c, i) => [c.receivedUuid!, i]));
  const candidates = srcAll
    .filter((s) => s.receivedUuid !== undefined && byReceived.has(s.receivedUuid) && !s.path.startsWith(`${snapDir}/`))
    .sort((a, b) => rank.get(b.receivedUuid!)! - rank.get(a.receivedUuid!)!);
  // one that is gone since the listing, or was changed, is passed over: a full send does instead
  const infos = await subvolumeInfosOrWhy(
    runner,
    candidates.map((c) => c.path),
  );
  const i = infos.findIndex(
    (info, k) => typeof info !== 'string' && info.readonly && info.receivedUuid === candidates[k]!.receivedUuid,
  );
  return i < 0 ? undefined : { path: candidates[i]!.path, backup: byReceived.get(candidates[i]!.receivedUuid!)! };
}
