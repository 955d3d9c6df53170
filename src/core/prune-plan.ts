// What prune deletes of one source, on each side, with the hard rules that no
// retention setting can override. Pure.

import { chooseParent } from './parent.js';
import {
  keptByPeriods,
  planRetention,
  snapshotTime,
  type RetentionDecision,
  type RetentionRules,
} from './retention.js';

export interface SideSnapshot {
  name: string;
  /** source side: the snapshot's UUID; target side: the received UUID (complete copies only) */
  uuid: string;
}

export interface PrunePlanInput {
  source: readonly SideSnapshot[];
  target: readonly SideSnapshot[];
  sourceLatest?: string;
  targetLatest?: string;
  /** undefined: that side keeps everything (no [retention] in the config) */
  sourceRules?: RetentionRules;
  targetRules?: RetentionRules;
  timeZone?: string;
  /** names later than this are in the future (a clock set forward): no period rule keeps them */
  now?: Date;
  /**
   * the other backup disks' pins (rotation): the newest snapshot each holds, kept on the
   * source so its next run is incremental. Absent: one disk, as before.
   */
  otherPins?: readonly OtherPin[];
}

/** A snapshot another backup disk holds: by name, and by UUID when known (a name may be made again). */
export interface OtherPin {
  target: string;
  name: string;
  uuid?: string;
}

export interface PrunePlan {
  source: RetentionDecision[];
  target: RetentionDecision[];
}

/**
 * Hard rules, before any retention rule: `latest` on each side; the newest pair (the
 * next incremental's parent) on both sides; on the source, every snapshot newer than
 * that pair that has no copy on the target (never sent: the disk may be away for weeks).
 * Both sides are ordered oldest first by creation (`byCreation`), never by name alone.
 */
export function planPrune(input: PrunePlanInput): PrunePlan {
  const pins = { source: new Map<string, string[]>(), target: new Map<string, string[]>() };
  const pin = (side: 'source' | 'target', name: string | undefined, reason: string) => {
    if (name === undefined) return;
    pins[side].set(name, [...(pins[side].get(name) ?? []), reason]);
  };
  pin('source', input.source.some((s) => s.name === input.sourceLatest) ? input.sourceLatest : undefined, 'latest');
  pin('target', input.target.some((s) => s.name === input.targetLatest) ? input.targetLatest : undefined, 'latest');
  const parent = chooseParent({
    source: input.source,
    target: input.target.map((t) => ({ name: t.name, receivedUuid: t.uuid })),
  });
  if (parent.kind === 'incremental') {
    pin('source', parent.parent, 'next parent');
    pin('target', parent.targetName, 'next parent');
  }
  // each other disk's newest snapshot: its next run's parent
  const pinned = (input.otherPins ?? []).map((p) =>
    input.source.findIndex((s) => s.name === p.name && (p.uuid === undefined || s.uuid === p.uuid)),
  );
  for (const [i, at] of pinned.entries())
    if (at >= 0) pin('source', input.source[at]!.name, `pin of ${input.otherPins![i]!.target}`);
  // waiting for the disk: newer than the newest pair (all of them, when nothing was ever
  // sent). An older one without a copy had its chance; its copy may have been pruned.
  // With several disks, one another disk holds (or one older) had its chance too: only
  // what no disk has seen waits, so a disk away for weeks does not stop the pruning.
  const sent = new Set(input.target.map((t) => t.uuid));
  const after = Math.max(
    parent.kind === 'incremental' ? input.source.findIndex((s) => s.name === parent.parent) : -1,
    ...pinned,
  );
  for (const s of input.source.slice(after + 1)) if (!sent.has(s.uuid)) pin('source', s.name, 'never sent');

  const side = (
    list: readonly SideSnapshot[],
    rules: RetentionRules | undefined,
    p: Map<string, string[]>,
  ): RetentionDecision[] =>
    rules
      ? planRetention({
          names: list.map((s) => s.name),
          rules,
          pins: p,
          timeZone: input.timeZone,
          byCreation: true,
          now: input.now,
        })
      : list.map((s) => ({ name: s.name, keep: true, reasons: [...(p.get(s.name) ?? []), 'no retention configured'] }));
  return {
    source: side(input.source, input.sourceRules, pins.source),
    target: side(input.target, input.targetRules, pins.target),
  };
}

/**
 * Whether retention keeps every one of `names` (a folder's, read by name only: no UUIDs,
 * no creation order), whatever planPrune would be given of them: true only when it
 * cannot delete one. Sound because each period rule decides by name alone and keeps in
 * any subset of the names what it kept in all of them (the newest of its period stays
 * the newest, and no period is added before it); keep_last keeps all when there are no
 * more names than it counts; the hard rules only add keeps. `kept`: what a hard rule is
 * known to keep (`latest`). False says nothing: then the plan is made from a listing.
 */
export function keepsEveryName(input: {
  names: readonly string[];
  rules: RetentionRules | undefined;
  kept: ReadonlySet<string>;
  timeZone?: string;
  now: Date;
}): boolean {
  const { rules } = input;
  if (!rules) return true;
  const { ours, kept } = keptByPeriods({ names: input.names, rules, timeZone: input.timeZone, now: input.now });
  if (ours <= rules.keepLast) return true;
  return input.names.every((n) => kept.has(n) || input.kept.has(n) || snapshotTime(n) === undefined);
}
