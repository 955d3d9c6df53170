// Local calendar fields of instants in one time zone, for retention's periods. Intl's
// formatting costs microseconds a call and retention labels each snapshot for several
// rules (years of hourly snapshots: tens of thousands of calls a source), so Intl is
// asked for the zone's offset at the start of each UTC day that holds an instant, and
// at its end; where both agree the whole day has that offset (no zone changes its
// offset and back within one day) and the fields are arithmetic. A day with a
// transition in it is asked of Intl instant by instant. Pure.

const DAY_MS = 86_400_000;

export interface LocalFields {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  /** 0-23 */
  hour: number;
}

/** One formatter per zone a process asks about: making one costs more than a thousand uses. */
const formatters = new Map<string, Intl.DateTimeFormat>();
/** Each zone's offsets at the UTC day starts asked so far: every source's folders share their days. */
const offsetsAt = new Map<string, Map<number, number>>();

/** The process's own zone follows TZ (Node reads it again when it is set). */
const zoneKey = (timeZone: string | undefined) => timeZone ?? `local ${process.env.TZ ?? ''}`;

function wallFormatter(timeZone: string | undefined): Intl.DateTimeFormat {
  const key = zoneKey(timeZone);
  let fmt = formatters.get(key);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      hourCycle: 'h23',
    });
    formatters.set(key, fmt);
  }
  return fmt;
}

/**
 * A clock for one zone (undefined: the process's own): an instant's wall time there, as
 * milliseconds since 1970 on a clock that reads the local date and time as if it were
 * UTC (its UTC fields are the local fields). The offsets asked are kept for the process.
 */
export function zoneClock(timeZone?: string): (ms: number) => number {
  const fmt = wallFormatter(timeZone);
  let dayOffsets = offsetsAt.get(zoneKey(timeZone));
  if (!dayOffsets) offsetsAt.set(zoneKey(timeZone), (dayOffsets = new Map<number, number>()));
  const days = dayOffsets;
  /** Intl's word: the zone's wall clock at `ms` (whole seconds) minus `ms` */
  const exactOffset = (ms: number): number => {
    const whole = Math.floor(ms / 1000) * 1000;
    const p: Record<string, string> = {};
    for (const x of fmt.formatToParts(whole)) p[x.type] = x.value;
    const wall = new Date(0);
    // not Date.UTC: it reads the years 0-99 as 1900-1999
    wall.setUTCFullYear(Number(p.year), Number(p.month) - 1, Number(p.day));
    wall.setUTCHours(Number(p.hour), Number(p.minute), Number(p.second), 0);
    return wall.getTime() - whole;
  };
  const atDayStart = (day: number): number => {
    let o = days.get(day);
    if (o === undefined) {
      o = exactOffset(day);
      days.set(day, o);
    }
    return o;
  };
  // the day asked last, and its offset when the whole day has one: names come in order
  let lastDay = NaN;
  let lastOffset: number | undefined;
  return (ms) => {
    const day = Math.floor(ms / DAY_MS) * DAY_MS;
    if (day !== lastDay) {
      const start = atDayStart(day);
      lastDay = day;
      lastOffset = start === atDayStart(day + DAY_MS) ? start : undefined;
    }
    return ms + (lastOffset ?? exactOffset(ms));
  };
}

/** The local fields of a wall time (zoneClock's). */
export function wallFields(wall: number): LocalFields {
  const d = new Date(wall);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours() };
}
