import { LATEST, readLink } from '../../btrfs/links.js';
import { backupsIn, snapshotsIn, type Subvolume } from '../../btrfs/subvolumes.js';
import { planPrune, type OtherPin, type PrunePlan } from '../../core/prune-plan.js';
import type { RetentionRules } from '../../core/retention.js';

// One source's snapshots and backups, in the one order, and the one retention plan:
// backup, prune, list and status all ask here, so they cannot disagree.

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
  /** the other backup disks' pins on this source (rotationPins) */
  otherPins?: readonly OtherPin[];
}): SourcePlan {
  const source = snapshotsIn(input.sourceListing, input.snapDir);
  const target = backupsIn(input.targetListing, input.targetDir);
  const plan = planPrune({
    source: source.map((s) => ({ name: s.name, uuid: s.uuid })),
    target: target.map((s) => ({ name: s.name, uuid: s.receivedUuid! })),
    sourceLatest: readLink(input.snapDir, LATEST),
    targetLatest: readLink(input.targetDir, LATEST),
    sourceRules: input.rules.source,
    targetRules: input.rules.target,
    timeZone: input.timeZone,
    now: input.now ?? new Date(),
    otherPins: input.otherPins,
  });
  return { source, target, plan };
}
