// Which snapshots to keep, and why. Pure.
//
// Each rule looks at the snapshots on its own, newest first: `keep_last` keeps the N
// newest; `hourly`/`daily`/`weekly`/`monthly`/`yearly` keep the newest snapshot of
// each of the N most recent hours/days/ISO weeks/months/years that have one (periods
// without a snapshot, say while the disk was away, do not use up the count). A
// snapshot is kept when any rule or any hard rule (`pins`: latest, next parent, never
// sent) keeps it, and every reason is named. Periods are counted in local time.

import { wallFields, zoneClock } from './zone-clock.js';

const STAMP = /^(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})(?:_(\d+))?$/;

export type Count = number; // Infinity: all

export interface RetentionRules {
  keepLast: Count;
  hourly: Count;
  daily: Count;
  weekly: Count;
  monthly: Count;
  yearly: Count;
}

export interface RetentionDecision {
  name: string;
  keep: boolean;
  /** why it is kept: "last 3", "daily 2026-11-20", "next parent", ... (empty: deleted) */
  reasons: string[];
}

/** A snapshot name's time (names are UTC), or undefined for a name that is not one of ours. */
export function snapshotTime(name: string): Date | undefined {
  const ms = stampTime(STAMP.exec(name));
  return ms === undefined ? undefined : new Date(ms);
}

function stampTime(m: RegExpExecArray | null): number | undefined {
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = [+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!];
  // 2026-13-45 would roll over into another date (and Date.UTC reads 0000-0099 as 19xx):
  // such a name is not one btrfs-vault made. Checked by numbers: a Date each is most of
  // the cost of reading a folder of thousands of names.
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const days = mo === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(mo) ? 30 : 31;
  const valid = y >= 100 && mo >= 1 && mo <= 12 && d >= 1 && d <= days && h <= 23 && mi <= 59 && s <= 59;
  return valid ? Date.UTC(y, mo - 1, d, h, mi, s) : undefined;
}

/** How far past the clock a name may be before it is "in the future" (a clock stepped back by seconds is not news). */
const FUTURE_SLACK_MS = 10 * 60_000;

/** A name later than `now`: made while the clock was set forward; its name says nothing of when it was made. */
export function isFutureName(name: string, now: Date): boolean {
  const t = snapshotTime(name);
  return t !== undefined && t.getTime() > now.getTime() + FUTURE_SLACK_MS;
}

/** The source keeps what the next incremental needs (a hard rule) plus a few. */
export const DEFAULT_SOURCE_RULES: RetentionRules = {
  keepLast: 3,
  hourly: 0,
  daily: 3,
  weekly: 0,
  monthly: 0,
  yearly: 0,
};
/** In the spirit of Time Machine: the last 24 hours, a day for a month, a week for six months, a month beyond. */
export const DEFAULT_TARGET_RULES: RetentionRules = {
  keepLast: 1,
  hourly: 24,
  daily: 31,
  weekly: 26,
  monthly: Infinity,
  yearly: 0,
};

type Rule = Exclude<keyof RetentionRules, 'keepLast'>;
const RULES: Rule[] = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'];

/** A snapshot name read once: planning reads each of thousands of names several times. */
interface Dated {
  name: string;
  ms: number;
  seq: number;
}

function datedNames(names: readonly string[]): Dated[] {
  const dated: Dated[] = [];
  for (const name of names) {
    const m = STAMP.exec(name);
    const ms = stampTime(m);
    if (ms !== undefined) dated.push({ name, ms, seq: Number(m![7] ?? 1) });
  }
  return dated;
}

/** Newest first; within one second the _N suffix orders. */
const newestFirst = (dated: readonly Dated[]) => [...dated].sort((a, b) => b.ms - a.ms || b.seq - a.seq);

/** What the period rules look at: names not in the future (a name from a clock set forward says nothing of its time). */
function timelyOf(newest: readonly Dated[], now: Date | undefined): readonly Dated[] {
  const horizon = now ? now.getTime() + FUTURE_SLACK_MS : Infinity;
  return newest.filter((s) => s.ms <= horizon);
}

/**
 * Each period rule's keeps over `timely` (newest first): the newest name of each of its
 * `count` most recent periods that have one. Periods are compared by key (a number, or
 * for the hour that repeats a string with the offset); `kept` is told each keep.
 */
function applyPeriodRules(
  timely: readonly Dated[],
  rules: RetentionRules,
  timeZone: string | undefined,
  kept: (s: Dated, rule: Rule) => void,
): void {
  const key = periodKey(timeZone);
  for (const rule of RULES) {
    const count = rules[rule];
    if (!(count > 0)) continue;
    const seen = new Set<number | string>();
    for (const s of timely) {
      const k = key(rule, s.ms);
      if (seen.has(k)) continue;
      if (seen.size >= count) break;
      seen.add(k);
      kept(s, rule);
    }
  }
}

/**
 * The decision for each snapshot (in the order given). `names` are btrfs-vault's
 * snapshot names; anything else is never passed in, so never deleted.
 */
export function planRetention(input: {
  names: readonly string[];
  rules: RetentionRules;
  pins?: ReadonlyMap<string, readonly string[]>;
  timeZone?: string;
  /**
   * `names` are oldest first by creation (what the filesystem says): keep_last counts
   * in that order, not by name, so a name from a clock set forward is not "newest".
   */
  byCreation?: boolean;
  /** names later than this are in the future: no period rule keeps them (their name is not their time) */
  now?: Date;
}): RetentionDecision[] {
  const label = periodLabel(input.timeZone);
  const dated = datedNames(input.names);
  const ours = new Set(dated.map((s) => s.name));
  const newest = newestFirst(dated);
  const created = input.byCreation ? [...dated].reverse() : newest;
  const reasons = new Map<string, string[]>(input.names.map((n) => [n, [...(input.pins?.get(n) ?? [])]]));

  const last = input.rules.keepLast;
  created
    .slice(0, last === Infinity ? undefined : Math.max(0, last))
    .forEach((s) => reasons.get(s.name)!.push(`last ${Number.isFinite(last) ? last : 'all'}`));
  applyPeriodRules(timelyOf(newest, input.now), input.rules, input.timeZone, (s, rule) =>
    reasons.get(s.name)!.push(`${rule} ${label(rule, s.ms)}`),
  );
  return input.names.map((name) => {
    const r = reasons.get(name)!;
    // a name that is not a snapshot name is not ours to delete
    return ours.has(name)
      ? { name, keep: r.length > 0, reasons: r }
      : { name, keep: true, reasons: ['not a btrfs-vault snapshot name'] };
  });
}

/**
 * The names the period rules keep (hourly … yearly; not keep_last, no pins): what
 * planRetention's period rules keep, without naming why (no labels, no per-name lists);
 * and how many of `names` are snapshot names.
 */
export function keptByPeriods(input: {
  names: readonly string[];
  rules: RetentionRules;
  timeZone?: string;
  now?: Date;
}): { kept: Set<string>; ours: number } {
  const kept = new Set<string>();
  const dated = datedNames(input.names);
  applyPeriodRules(timelyOf(newestFirst(dated), input.now), input.rules, input.timeZone, (s) => kept.add(s.name));
  return { kept, ours: dated.length };
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * A rule's period of an instant as a key: equal keys exactly when periodLabel's labels
 * are equal (an hour, day, ISO week, month or year of the local calendar), without
 * making the label.
 */
function periodKey(timeZone?: string): (rule: Rule, ms: number) => number | string {
  const wall = zoneClock(timeZone);
  return (rule, ms) => {
    const w = wall(ms);
    switch (rule) {
      case 'hourly': {
        const hour = Math.floor(w / HOUR_MS);
        // the hour that repeats when clocks go back is two hours: the offset tells them apart
        const repeated =
          Math.floor(wall(ms - HOUR_MS) / HOUR_MS) === hour || Math.floor(wall(ms + HOUR_MS) / HOUR_MS) === hour;
        return repeated ? `${hour} ${w - ms}` : hour;
      }
      case 'daily':
        return Math.floor(w / DAY_MS);
      case 'weekly':
        // ISO weeks start on Monday; day 0 (1970-01-01) was a Thursday
        return Math.floor((Math.floor(w / DAY_MS) + 3) / 7);
      case 'monthly': {
        const d = new Date(w);
        return d.getUTCFullYear() * 12 + d.getUTCMonth();
      }
      case 'yearly':
        return new Date(w).getUTCFullYear();
    }
  };
}

/** "hourly" -> "2026-11-27 14h", "daily" -> "2026-11-27", "weekly" -> "2026-W48", ... in the given zone. */
function periodLabel(timeZone?: string): (rule: Rule, ms: number) => string {
  const wall = zoneClock(timeZone);
  const offset = offsetFormatter(timeZone);
  const two = (n: number) => String(n).padStart(2, '0');
  const hour = (ms: number) => {
    const p = wallFields(wall(ms));
    return `${p.year}-${two(p.month)}-${two(p.day)} ${two(p.hour)}h`;
  };
  return (rule, ms) => {
    const p = wallFields(wall(ms));
    const [y, m, d] = [String(p.year), two(p.month), two(p.day)];
    switch (rule) {
      case 'hourly': {
        // the hour that repeats when clocks go back is two hours: the offset tells them apart
        const label = hour(ms);
        const repeated = [-HOUR_MS, HOUR_MS].some((dt) => hour(ms + dt) === label);
        return repeated ? `${label} ${offset.formatToParts(ms).find((x) => x.type === 'timeZoneName')?.value}` : label;
      }
      case 'daily':
        return `${y}-${m}-${d}`;
      case 'weekly':
        return isoWeek(p.year, p.month, p.day);
      case 'monthly':
        return `${y}-${m}`;
      case 'yearly':
        return y;
    }
  };
}

/** The zone's offset as a name ("GMT+1"), for the hour that repeats: one formatter per zone. */
const offsetFormatters = new Map<string, Intl.DateTimeFormat>();
function offsetFormatter(timeZone?: string): Intl.DateTimeFormat {
  const key = timeZone ?? `local ${process.env.TZ ?? ''}`;
  let f = offsetFormatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'shortOffset' });
    offsetFormatters.set(key, f);
  }
  return f;
}

/** ISO 8601 week of a calendar date: weeks start on Monday; a week belongs to the year of its Thursday. */
function isoWeek(y: number, m: number, d: number): string {
  const thursday = (date: Date) => {
    date.setUTCDate(date.getUTCDate() - ((date.getUTCDay() + 6) % 7) + 3);
    return date;
  };
  const t = thursday(new Date(Date.UTC(y, m - 1, d)));
  const first = thursday(new Date(Date.UTC(t.getUTCFullYear(), 0, 4))); // 4 January is always in week 1
  const week = 1 + Math.round((t.getTime() - first.getTime()) / (7 * 86_400_000));
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}
