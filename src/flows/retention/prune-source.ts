import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { btrfs } from '../../btrfs/commands.js';
import { waitForFreedSpace } from '../../btrfs/freed-space.js';
import { LATEST, PREVIOUS, readLink, replaceLink, removeLink } from '../../btrfs/links.js';
import type { Subvolume } from '../../btrfs/subvolumes.js';
import type { OtherPin } from '../../core/prune-plan.js';
import type { RetentionDecision, RetentionRules } from '../../core/retention.js';
import type { Runner } from '../../system/runner.js';
import { planSource } from './retention-plan.js';

/** How many subvolumes one `btrfs subvolume delete` gets: progress between batches, argv stays small. */
const BATCH = 100;

export interface PruneSideReport {
  /** every snapshot of btrfs-vault's on this side, oldest first by creation, with why it stays (empty: deleted) */
  decisions: RetentionDecision[];
  deleted: string[];
}

export interface PruneReport {
  source: PruneSideReport;
  target: PruneSideReport;
}

export interface PruneSourceInput {
  runner: Runner;
  /** the source's snapshot folder and its backup folder, both already checked to be real folders */
  snapDir: string;
  targetDir: string;
  /** the two filesystems' listings (the target's with read-only flags: listTargetSubvolumes) */
  sourceListing: readonly Subvolume[];
  targetListing: readonly Subvolume[];
  rules: { source?: RetentionRules; target?: RetentionRules };
  /** the other backup disks' pins on this source (rotationPins) */
  otherPins?: readonly OtherPin[];
  timeZone?: string;
  now?: Date;
  progress?(text: string): void;
  /**
   * given: the deleted IDs of each side are handed over, for the run to wait for their
   * space once (PendingFrees); without it, both sides' are waited for here, at once
   */
  freed?: (side: 'source' | 'target', ids: number[]) => void;
}

/**
 * Applies retention to one source on both sides. Only btrfs-vault's own snapshots are
 * candidates (its names; on the target only complete received copies), and the hard
 * rules (latest, next parent, never sent) always keep theirs. `previous` is pointed at
 * a snapshot that still exists (or removed), so no link dangles.
 */
export async function pruneSource(input: PruneSourceInput): Promise<PruneReport> {
  const { source: src, target: dst, plan } = planSource(input);
  const target = await apply(input, input.targetDir, plan.target, 'backups');
  const source = await apply(input, input.snapDir, plan.source, 'snapshots');
  // btrfs frees a deleted subvolume's space in the background: what comes next (the
  // next source's min_free, status) must see the room, not a full disk
  const ids = (side: PruneSideReport, listed: readonly Subvolume[]) => {
    const deleted = new Set(side.deleted);
    return listed.filter((s) => deleted.has(s.name)).map((s) => s.id);
  };
  const gone = { target: ids(target, dst), source: ids(source, src) };
  if (input.freed) {
    input.freed('target', gone.target);
    input.freed('source', gone.source);
  } else if (input.runner.changesTakeEffect) {
    const n = gone.target.length + gone.source.length;
    if (n > 0) input.progress?.(`waiting until btrfs has freed the space of ${n} deleted snapshot(s) and backup(s)`);
    await Promise.all(
      (
        [
          [input.targetDir, gone.target],
          [input.snapDir, gone.source],
        ] as const
      )
        .filter(([, list]) => list.length > 0)
        .map(([dir, list]) => waitForFreedSpace(input.runner, dir, list)),
    );
  }
  return { source, target };
}

async function apply(
  input: PruneSourceInput,
  dir: string,
  decisions: RetentionDecision[],
  what: string,
): Promise<PruneSideReport> {
  const doomed = decisions.filter((d) => !d.keep).map((d) => d.name);
  const deleted: string[] = [];
  try {
    for (let i = 0; i < doomed.length; i += BATCH) {
      const batch = doomed.slice(i, i + BATCH);
      input.progress?.(`deleting ${what} ${i + 1}-${i + batch.length} of ${doomed.length} in ${dir}`);
      await input.runner.run(btrfs.deleteMany(batch.map((n) => join(dir, n))));
      deleted.push(...batch);
    }
  } finally {
    // also after a failed batch (part of it may be gone): no link may dangle
    if (doomed.length > 0)
      repairPrevious(
        input.runner,
        dir,
        decisions.filter((d) => d.keep).map((d) => d.name),
      );
  }
  return { decisions, deleted };
}

/**
 * `previous` names the newest kept snapshot made before `latest` (`kept`: oldest first
 * by creation); with none, there is no `previous`.
 */
export function repairPrevious(runner: Runner, dir: string, kept: readonly string[]): void {
  const previous = readLink(dir, PREVIOUS);
  if (previous !== undefined && kept.includes(previous) && exists(join(dir, previous))) return;
  const latest = readLink(dir, LATEST);
  const at = latest === undefined ? -1 : kept.indexOf(latest);
  const before = at > 0 ? kept[at - 1] : undefined;
  if (before) replaceLink(runner, dir, PREVIOUS, before);
  else removeLink(runner, dir, PREVIOUS);
}

function exists(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}
