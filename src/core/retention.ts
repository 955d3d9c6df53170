// Which snapshots to keep, and why. Pure.
//
// Each rule looks at the snapshots on its own, newest first: `keep_last` keeps the N
// newest; `hourly`/`daily`/`weekly`/`monthly`/`yearly` keep the newest snapshot of
// each of the N most recent hours/days/ISO weeks/months/years that have one (periods
// without a snapshot, say while the disk was away, do not use up the count). A
// snapshot is kept when any rule or any hard rule (`pins`: latest, next parent, never
// sent) keeps it, and every reason is named. Periods are counted in local time.

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
  const m = STAMP.exec(name);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // 2026-13-45 would roll over into another date: such a name is not one btrfs-vault made
  return t.toISOString().slice(0, 19) === `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}` ? t : undefined;
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
  const period = periodFormat(input.timeZone);
  const dated = input.names.flatMap((name) => {
    const time = snapshotTime(name);
    return time ? [{ name, time, seq: Number(STAMP.exec(name)![7] ?? 1) }] : [];
  });
  // newest first; within one second the _N suffix orders
  const newest = [...dated].sort((a, b) => b.time.getTime() - a.time.getTime() || b.seq - a.seq);
  const created = input.byCreation ? [...dated].reverse() : newest;
  const reasons = new Map<string, string[]>(input.names.map((n) => [n, [...(input.pins?.get(n) ?? [])]]));

  const last = input.rules.keepLast;
  created
    .slice(0, last === Infinity ? undefined : Math.max(0, last))
    .forEach((s) => reasons.get(s.name)!.push(`last ${Number.isFinite(last) ? last : 'all'}`));
  const timely = input.now ? newest.filter((s) => !isFutureName(s.name, input.now!)) : newest;
  for (const rule of RULES) {
    const count = input.rules[rule];
    if (!(count > 0)) continue;
    const seen = new Set<string>();
    for (const s of timely) {
      const key = period(rule, s.time);
      if (seen.has(key)) continue;
      if (seen.size >= count) break;
      seen.add(key);
      reasons.get(s.name)!.push(`${rule} ${key}`);
    }
  }
  return input.names.map((name) => {
    const r = reasons.get(name)!;
    // a name that is not a snapshot name is not ours to delete
    const ours = snapshotTime(name) !== undefined;
    return { name, keep: r.length > 0 || !ours, reasons: ours ? r : ['not a btrfs-vault snapshot name'] };
  });
}

/** "hourly" -> "2026-11-27 14h", "daily" -> "2026-11-27", "weekly" -> "2026-W48", ... in the given zone. */
function periodFormat(timeZone?: string): (rule: Rule, t: Date) => string {
  const fmt = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    hourCycle: 'h23',
  });
  const offset = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'shortOffset' });
  const parts = (t: Date) => Object.fromEntries(fmt.formatToParts(t).map((x) => [x.type, x.value]));
  const hour = (t: Date) => {
    const p = parts(t);
    return `${p.year}-${p.month}-${p.day} ${p.hour}h`;
  };
  return (rule, t) => {
    const p = parts(t);
    const [y, m, d] = [p.year!, p.month!, p.day!];
    switch (rule) {
      case 'hourly': {
        // the hour that repeats when clocks go back is two hours: the offset tells them apart
        const label = hour(t);
        const repeated = [-3_600_000, 3_600_000].some((dt) => hour(new Date(t.getTime() + dt)) === label);
        return repeated ? `${label} ${offset.formatToParts(t).find((x) => x.type === 'timeZoneName')?.value}` : label;
      }
      case 'daily':
        return `${y}-${m}-${d}`;
      case 'weekly':
        return isoWeek(Number(y), Number(m), Number(d));
      case 'monthly':
        return `${y}-${m}`;
      case 'yearly':
        return y;
    }
  };
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
