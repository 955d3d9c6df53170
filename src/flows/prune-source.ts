import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { btrfs } from '../btrfs/commands.js';
import { LATEST, PREVIOUS, readLink, replaceLink, removeLink } from '../btrfs/links.js';
import { childrenOf, isCompleteCopy, type Subvolume } from '../btrfs/subvolumes.js';
import { compareSnapshotNames, isSnapshotName } from '../core/naming.js';
import { planPrune } from '../core/prune-plan.js';
import type { RetentionDecision, RetentionRules } from '../core/retention.js';
import type { Runner } from '../system/runner.js';

/** How many subvolumes one `btrfs subvolume delete` gets: progress between batches, argv stays small. */
const BATCH = 100;

export interface PruneSideReport {
  /** every snapshot of btrfs-vault's on this side, oldest first, with why it stays (empty: deleted) */
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
  timeZone?: string;
  progress?(text: string): void;
}

/**
 * Applies retention to one source on both sides. Only btrfs-vault's own snapshots are
 * candidates (its names; on the target only complete received copies), and the hard
 * rules (latest, next parent, never sent) always keep theirs. `previous` is pointed at
 * a snapshot that still exists (or removed), so no link dangles.
 */
export async function pruneSource(input: PruneSourceInput): Promise<PruneReport> {
  const ours = (list: readonly Subvolume[], dir: string, complete: boolean) =>
    childrenOf(list, dir)
      .filter((s) => isSnapshotName(s.name) && (!complete || isCompleteCopy(s)))
      .sort((a, b) => compareSnapshotNames(a.name, b.name));
  const src = ours(input.sourceListing, input.snapDir, false);
  const dst = ours(input.targetListing, input.targetDir, true);
  const plan = planPrune({
    source: src.map((s) => ({ name: s.name, uuid: s.uuid })),
    target: dst.map((s) => ({ name: s.name, uuid: s.receivedUuid! })),
    sourceLatest: readLink(input.snapDir, LATEST),
    targetLatest: readLink(input.targetDir, LATEST),
    sourceRules: input.rules.source,
    targetRules: input.rules.target,
    timeZone: input.timeZone,
  });
  const target = await apply(input, input.targetDir, plan.target, 'backups');
  const source = await apply(input, input.snapDir, plan.source, 'snapshots');
  return { source, target };
}

async function apply(input: PruneSourceInput, dir: string, decisions: RetentionDecision[], what: string): Promise<PruneSideReport> {
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
    if (doomed.length > 0) repairPrevious(input.runner, dir, decisions.filter((d) => d.keep).map((d) => d.name));
  }
  return { decisions, deleted };
}

/** `previous` names the newest kept snapshot before `latest`; with none, there is no `previous`. */
function repairPrevious(runner: Runner, dir: string, kept: string[]): void {
  const previous = readLink(dir, PREVIOUS);
  if (previous !== undefined && kept.includes(previous) && exists(join(dir, previous))) return;
  const latest = readLink(dir, LATEST);
  const before = kept.filter((n) => latest !== undefined && compareSnapshotNames(n, latest) < 0).sort(compareSnapshotNames).at(-1);
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
