import { LATEST, readLink } from '../btrfs/links.js';
import { childrenOf, isCompleteCopy, type Subvolume } from '../btrfs/subvolumes.js';
import { isSnapshotName } from '../core/naming.js';
import { planPrune, type PrunePlan } from '../core/prune-plan.js';
import type { RetentionRules } from '../core/retention.js';
import { byCreation } from '../core/snapshot-order.js';

// One source's snapshots and backups, in the one order, and the one retention plan:
// backup, prune, list and status all ask here, so they cannot disagree.

/** btrfs-vault's snapshots in `dir` (on the target: complete copies only), oldest first by creation. */
export function ourSnapshots(listing: readonly Subvolume[], dir: string, completeOnly: boolean): Subvolume[] {
  return byCreation(childrenOf(listing, dir).filter((s) => isSnapshotName(s.name) && (!completeOnly || isCompleteCopy(s))));
}

export interface SourcePlan {
  source: Subvolume[];
  target: Subvolume[];
  plan: PrunePlan;
}

/** The plan for one source's two folders, read from the two listings and the `latest` links. */
export function planSource(input: {
  sourceListing: readonly Subvolume[];
  targetListing: readonly Subvolume[];
  snapDir: string;
  targetDir: string;
  rules: { source?: RetentionRules; target?: RetentionRules };
  timeZone?: string;
  now?: Date;
}): SourcePlan {
  const source = ourSnapshots(input.sourceListing, input.snapDir, false);
  const target = ourSnapshots(input.targetListing, input.targetDir, true);
  const plan = planPrune({
    source: source.map((s) => ({ name: s.name, uuid: s.uuid })),
    target: target.map((s) => ({ name: s.name, uuid: s.receivedUuid! })),
    sourceLatest: readLink(input.snapDir, LATEST),
    targetLatest: readLink(input.targetDir, LATEST),
    sourceRules: input.rules.source,
    targetRules: input.rules.target,
    timeZone: input.timeZone,
    now: input.now ?? new Date(),
  });
  return { source, target, plan };
}
