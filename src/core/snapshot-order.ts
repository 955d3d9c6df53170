// The one order of a folder's snapshots, used by backup, prune, list and status.
// Pure.
//
// Names are made from the clock, and a clock can be wrong (set forward, then back): a
// snapshot named 2099-… would be "newest" by name for ever. The filesystem says when
// each subvolume was made (its creation generation, `cgen` in the listing), so that
// is the order; the name only breaks ties and stands in where a listing has no cgen.

import { compareSnapshotNames } from './naming.js';

/** Oldest first by creation generation; by name when any of them has none. */
export function byCreation<T extends { name: string; cgen?: number }>(list: readonly T[]): T[] {
  const generations = list.every((s) => s.cgen !== undefined);
  return [...list].sort((a, b) =>
    generations && a.cgen !== b.cgen ? a.cgen! - b.cgen! : compareSnapshotNames(a.name, b.name),
  );
}
