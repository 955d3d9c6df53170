import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wallFields, zoneClock } from '../../src/core/zone-clock.js';

// The clock's fields must be Intl's for every instant, in zones with summer time, with
// half- and quarter-hour offsets, with a summer time suspended for a month (Casablanca),
// and around each transition of 2026 (instants 37 minutes apart fall on every minute
// of the hour in turn).

const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'America/St_Johns',
  'Asia/Kolkata',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
  'Africa/Casablanca',
  'America/Santiago',
];

const formats = new Map<string, Intl.DateTimeFormat>();
function intl(timeZone: string, t: Date) {
  if (!formats.has(timeZone))
    formats.set(
      timeZone,
      new Intl.DateTimeFormat('en-CA', {
        timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        hourCycle: 'h23',
      }),
    );
  const p = Object.fromEntries(
    formats
      .get(timeZone)!
      .formatToParts(t)
      .map((x) => [x.type, x.value]),
  );
  return { year: Number(p.year), month: Number(p.month), day: Number(p.day), hour: Number(p.hour) };
}

test("a zone's local fields are Intl's at every instant of a year, transitions included", () => {
  for (const zone of ZONES) {
    const local = zoneClock(zone);
    const from = Date.UTC(2026, 0, 1);
    for (let ms = from; ms < Date.UTC(2027, 0, 1); ms += 37 * 60_000) {
      const t = new Date(ms);
      assert.deepEqual(wallFields(local(ms)), intl(zone, t), `${zone} at ${t.toISOString()}`);
    }
  }
});

test('the years before 100 and instants asked out of order are answered alike', () => {
  const local = zoneClock('Europe/Berlin');
  for (const iso of ['2026-10-25T01:30:00Z', '0099-06-01T12:00:00Z', '2026-10-25T00:30:00Z', '2026-03-29T00:59:59Z']) {
    const t = new Date(iso);
    assert.deepEqual(wallFields(local(t.getTime())), intl('Europe/Berlin', t), iso);
  }
});

test("the process's own zone follows TZ when it is set again", () => {
  const was = process.env.TZ;
  const t = Date.UTC(2026, 6, 1, 12);
  try {
    process.env.TZ = 'Europe/Berlin';
    assert.equal(wallFields(zoneClock()(t)).hour, 14);
    process.env.TZ = 'America/New_York';
    assert.equal(wallFields(zoneClock()(t)).hour, 8);
  } finally {
    if (was === undefined) delete process.env.TZ;
    else process.env.TZ = was;
  }
});
