import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keptByPeriods, planRetention, snapshotTime, type RetentionRules } from '../../src/core/retention.js';
import { snapshotName } from '../../src/core/naming.js';

const none: RetentionRules = { keepLast: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 };
const rules = (r: Partial<RetentionRules>): RetentionRules => ({ ...none, ...r });

/** a snapshot name for a UTC time */
const at = (iso: string, n?: number) =>
  `${iso.slice(0, 10)}_${iso.slice(11, 13)}-${iso.slice(14, 16)}-${iso.slice(17, 19)}${n ? `_${n}` : ''}`;
const kept = (d: ReturnType<typeof planRetention>) => d.filter((x) => x.keep).map((x) => x.name);
const why = (d: ReturnType<typeof planRetention>, name: string) => d.find((x) => x.name === name)!.reasons;

test('names: UTC stamps with an optional _N; anything else is not ours and always kept', () => {
  assert.equal(snapshotTime('2026-11-27_14-05-09')?.toISOString(), '2026-11-27T14:05:09.000Z');
  assert.equal(snapshotTime('restore-test'), undefined);
  assert.equal(snapshotTime('2026-13-45_99-99-99'), undefined, 'a date that would roll over is not ours');
  assert.equal(snapshotTime('2028-02-29_00-00-00')?.toISOString(), '2028-02-29T00:00:00.000Z');
  const d = planRetention({ names: ['restore-test', at('2026-01-01T00:00:00')], rules: none, timeZone: 'UTC' });
  assert.deepEqual(
    d.map((x) => [x.name, x.keep]),
    [
      ['restore-test', true],
      ['2026-01-01_00-00-00', false],
    ],
  );
});

test('keep_last: the N newest, the _N suffix ordering snapshots of one second', () => {
  const names = [
    at('2026-11-27T10:00:00'),
    at('2026-11-27T10:00:00', 2),
    at('2026-11-27T10:00:00', 10),
    at('2026-11-26T10:00:00'),
  ];
  const d = planRetention({ names, rules: rules({ keepLast: 2 }), timeZone: 'UTC' });
  assert.deepEqual(kept(d), ['2026-11-27_10-00-00_2', '2026-11-27_10-00-00_10']);
  assert.deepEqual(why(d, '2026-11-27_10-00-00_10'), ['last 2']);
});

test('daily: the newest of each of the N most recent days that have a snapshot, named by the day', () => {
  const names = [
    at('2026-11-18T08:00:00'),
    at('2026-11-20T08:00:00'),
    at('2026-11-20T20:00:00'),
    at('2026-11-21T09:00:00'),
    at('2026-11-22T23:59:59'),
  ];
  const d = planRetention({ names, rules: rules({ daily: 3 }), timeZone: 'UTC' });
  assert.deepEqual(kept(d), [at('2026-11-20T20:00:00'), at('2026-11-21T09:00:00'), at('2026-11-22T23:59:59')]);
  assert.deepEqual(why(d, at('2026-11-20T20:00:00')), ['daily 2026-11-20']);
  assert.deepEqual(why(d, at('2026-11-20T08:00:00')), []);
});

test('days are local days: 23:30 UTC is the next day in Berlin', () => {
  const names = [at('2026-11-20T22:30:00'), at('2026-11-20T23:30:00')];
  assert.deepEqual(kept(planRetention({ names, rules: rules({ daily: 2 }), timeZone: 'UTC' })), [
    at('2026-11-20T23:30:00'),
  ]);
  const berlin = planRetention({ names, rules: rules({ daily: 2 }), timeZone: 'Europe/Berlin' });
  assert.deepEqual(kept(berlin), names, 'two local days: 23:30 and 00:30');
  assert.deepEqual(why(berlin, at('2026-11-20T23:30:00')), ['daily 2026-11-21']);
});

test('DST: the hour that repeats in October is two hours, told apart by the offset; the hour skipped in March costs nothing', () => {
  // Berlin, 2026-10-25: 02:00-03:00 local happens twice (00:xx and 01:xx UTC)
  const autumn = [
    at('2026-10-25T00:10:00'),
    at('2026-10-25T00:50:00'),
    at('2026-10-25T01:10:00'),
    at('2026-10-25T01:50:00'),
  ];
  const a = planRetention({ names: autumn, rules: rules({ hourly: 10 }), timeZone: 'Europe/Berlin' });
  // both UTC hours show as local "02h", but they are two real hours: one kept for each
  assert.deepEqual(kept(a), [at('2026-10-25T00:50:00'), at('2026-10-25T01:50:00')]);
  assert.deepEqual(why(a, at('2026-10-25T00:50:00')), ['hourly 2026-10-25 02h GMT+2']);
  assert.deepEqual(why(a, at('2026-10-25T01:50:00')), ['hourly 2026-10-25 02h GMT+1']);
  // and a whole day is still one day
  assert.equal(kept(planRetention({ names: autumn, rules: rules({ daily: 5 }), timeZone: 'Europe/Berlin' })).length, 1);
  // 2026-03-29: 02:00 local does not exist; 00:30 and 01:30 UTC are 01:30 and 03:30 local
  const spring = [at('2026-03-29T00:30:00'), at('2026-03-29T01:30:00')];
  const s = planRetention({ names: spring, rules: rules({ hourly: 5 }), timeZone: 'Europe/Berlin' });
  assert.deepEqual(
    s.map((x) => x.reasons),
    [['hourly 2026-03-29 01h'], ['hourly 2026-03-29 03h']],
  );
});

test('weeks are ISO weeks: New Year 2026/27 falls in 2026-W53; a leap day is a day like any other', () => {
  const names = [
    at('2026-12-28T12:00:00'),
    at('2026-12-31T12:00:00'),
    at('2027-01-01T12:00:00'),
    at('2027-01-04T12:00:00'),
  ];
  const d = planRetention({ names, rules: rules({ weekly: 5 }), timeZone: 'UTC' });
  assert.deepEqual(kept(d), [at('2027-01-01T12:00:00'), at('2027-01-04T12:00:00')]);
  assert.deepEqual(why(d, at('2027-01-01T12:00:00')), ['weekly 2026-W53']);
  assert.deepEqual(why(d, at('2027-01-04T12:00:00')), ['weekly 2027-W01']);
  const leap = planRetention({
    names: [at('2028-02-28T12:00:00'), at('2028-02-29T12:00:00'), at('2028-03-01T12:00:00')],
    rules: rules({ daily: 2, monthly: 2 }),
    timeZone: 'UTC',
  });
  assert.deepEqual(
    leap.map((x) => x.reasons),
    [[], ['daily 2028-02-29', 'monthly 2028-02'], ['daily 2028-03-01', 'monthly 2028-03']],
  );
});

test('a gap of months while the disk was away does not use up the counts', () => {
  const names = [
    at('2026-01-10T12:00:00'),
    at('2026-01-11T12:00:00'),
    at('2026-01-12T12:00:00'),
    at('2026-06-01T12:00:00'),
  ];
  const d = planRetention({ names, rules: rules({ daily: 3 }), timeZone: 'UTC' });
  assert.deepEqual(kept(d), [at('2026-01-11T12:00:00'), at('2026-01-12T12:00:00'), at('2026-06-01T12:00:00')]);
});

test('the defaults in the spirit of Time Machine over two years of hourly backups; hard rules always win', () => {
  const names: string[] = [];
  const end = Date.UTC(2026, 10, 27, 12);
  for (let h = 0; h < 2 * 365 * 24; h += 1) names.push(at(new Date(end - h * 3_600_000).toISOString()));
  names.reverse();
  const target: RetentionRules = { keepLast: 1, hourly: 24, daily: 31, weekly: 26, monthly: Infinity, yearly: 0 };
  const oldest = names[0]!;
  const pins = new Map([[oldest, ['never sent']]]);
  const d = planRetention({ names, rules: target, pins, timeZone: 'Europe/Berlin' });
  const k = kept(d);
  // 24 hourly + 30 more days + ~22 more weeks + ~19 more months (+1 pinned), overlaps removed
  assert.ok(k.length > 90 && k.length < 105, `${k.length} kept`);
  assert.ok(
    k.slice(-24).every((n) => why(d, n).some((r) => r.startsWith('hourly'))),
    'everything of the last 24 hours',
  );
  assert.deepEqual(why(d, oldest), ['never sent'], 'only the hard rule keeps the oldest hour of its month');
  assert.ok(d.filter((x) => !x.keep).every((x) => x.reasons.length === 0));
});

test('prune plan: latest, the next parent and never-sent snapshots survive any rule; no retention keeps all', async () => {
  const { planPrune } = await import('../../src/core/prune-plan.js');
  const n = (d: number) => at(`2026-11-${String(d).padStart(2, '0')}T12:00:00`);
  const source = [1, 2, 3, 4, 5].map((d) => ({ name: n(d), uuid: `u${d}` }));
  // 4 and 5 never reached the disk; 3 is the newest pair; the target's latest is 2 (a crash)
  const target = [1, 2, 3].map((d) => ({ name: n(d), uuid: `u${d}` }));
  const zero = rules({});
  const plan = planPrune({
    source,
    target,
    sourceLatest: n(5),
    targetLatest: n(2),
    sourceRules: zero,
    targetRules: zero,
    timeZone: 'UTC',
  });
  assert.deepEqual(
    plan.source.map((d) => [d.name, d.reasons]),
    [
      [n(1), []],
      [n(2), []],
      [n(3), ['next parent']],
      [n(4), ['never sent']],
      [n(5), ['latest', 'never sent']],
    ],
  );
  assert.deepEqual(
    plan.target.map((d) => [d.name, d.keep]),
    [
      [n(1), false],
      [n(2), true],
      [n(3), true],
    ],
  );
  assert.deepEqual(why(plan.target, n(2)), ['latest']);
  // an old snapshot whose copy is gone (pruned on the disk, or deleted by hand) is not "never sent" forever
  const gone = planPrune({ source, target: target.slice(1), sourceRules: zero, targetRules: zero, timeZone: 'UTC' });
  assert.deepEqual(
    gone.source.map((d) => d.keep),
    [false, false, true, true, true],
  );
  const all = planPrune({ source, target, timeZone: 'UTC' });
  assert.ok([...all.source, ...all.target].every((d) => d.keep && d.reasons.includes('no retention configured')));
});

test('creation order: keep_last counts by when btrfs made them, a name from a clock set forward is not newest and no period keeps it', async () => {
  const { byCreation } = await import('../../src/core/snapshot-order.js');
  const { isFutureName } = await import('../../src/core/retention.js');
  const now = new Date('2026-12-06T12:00:00Z');
  // made in this order: a, then one named 2099 (clock forward), then b and c (clock back)
  const made = [
    { name: at('2026-12-01T10:00:00'), cgen: 10 },
    { name: at('2099-01-01T00:00:00'), cgen: 11 },
    { name: at('2026-12-05T10:00:00'), cgen: 12 },
    { name: at('2026-12-06T10:00:00'), cgen: 13 },
  ];
  const shuffled = [made[2]!, made[0]!, made[3]!, made[1]!];
  assert.deepEqual(byCreation(shuffled), made);
  // without a generation for each, names order them
  assert.deepEqual(
    byCreation(shuffled.map(({ name }) => ({ name }))).map((s) => s.name),
    [made[0], made[2], made[3], made[1]].map((s) => s!.name),
  );
  assert.equal(isFutureName(made[1]!.name, now), true);
  assert.equal(isFutureName(made[3]!.name, now), false);
  assert.equal(isFutureName(at('2026-12-06T12:05:00'), now), false, 'a clock stepped back by minutes is not news');

  const names = made.map((s) => s.name);
  const d = planRetention({ names, rules: rules({ keepLast: 2, daily: 2 }), timeZone: 'UTC', byCreation: true, now });
  assert.deepEqual(kept(d), [made[2]!.name, made[3]!.name]);
  assert.deepEqual(why(d, made[1]!.name), [], 'the 2099 one takes neither a keep_last slot nor a day');
  // by name alone (the old way) it took both
  const byName = planRetention({ names, rules: rules({ keepLast: 2, daily: 2 }), timeZone: 'UTC' });
  assert.deepEqual(why(byName, made[1]!.name), ['last 2', 'daily 2099-01-01']);
});

/** The period labels as Intl gives them, instant by instant: the reference the fast keys must match. */
function intlLabel(timeZone: string, rule: string, t: Date): string {
  const f = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    hourCycle: 'h23',
  });
  const p = (x: Date) => Object.fromEntries(f.formatToParts(x).map((y) => [y.type, y.value]));
  const hour = (x: Date) => `${p(x).year}-${p(x).month}-${p(x).day} ${p(x).hour}h`;
  const q = p(t);
  if (rule === 'hourly') {
    const label = hour(t);
    const repeated = [-3_600_000, 3_600_000].some((dt) => hour(new Date(t.getTime() + dt)) === label);
    const off = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'shortOffset' })
      .formatToParts(t)
      .find((x) => x.type === 'timeZoneName')?.value;
    return repeated ? `${label} ${off}` : label;
  }
  if (rule === 'daily') return `${q.year}-${q.month}-${q.day}`;
  if (rule === 'monthly') return `${q.year}-${q.month}`;
  if (rule === 'yearly') return q.year!;
  // ISO week of the local date
  const d = new Date(Date.UTC(Number(q.year), Number(q.month) - 1, Number(q.day)));
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7) + 3);
  const first = new Date(Date.UTC(d.getUTCFullYear(), 0, 4));
  first.setUTCDate(first.getUTCDate() - ((first.getUTCDay() + 6) % 7) + 3);
  return `${d.getUTCFullYear()}-W${String(1 + Math.round((d.getTime() - first.getTime()) / (7 * 86_400_000))).padStart(2, '0')}`;
}

test("the no-change proof's period keeps are planRetention's, in zones with summer time and odd offsets", () => {
  let seed = 11;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Pacific/Chatham', 'Asia/Kolkata'];
  // around the autumn and spring changes of both hemispheres
  const around = ['2026-10-25T01:00:00Z', '2026-03-29T01:00:00Z', '2026-04-05T15:00:00Z', '2026-11-01T06:00:00Z'];
  for (let round = 0; round < 150; round++) {
    const zone = zones[rnd(zones.length)]!;
    const centre = Date.parse(around[rnd(around.length)]!);
    const taken: string[] = [];
    for (let i = 0, n = 1 + rnd(40); i < n; i++)
      taken.push(snapshotName(new Date(centre + (rnd(6 * 24 * 60) - 3 * 24 * 60) * 60_000), taken));
    const r: RetentionRules = {
      keepLast: 0,
      hourly: rnd(3) === 0 ? Infinity : rnd(30),
      daily: rnd(5),
      weekly: rnd(3),
      monthly: rnd(2),
      yearly: rnd(2),
    };
    const plan = planRetention({ names: taken, rules: r, timeZone: zone, now: new Date(centre + 86_400_000) });
    const fromPlan = plan.filter((d) => d.keep).map((d) => d.name);
    // the reference: each rule's newest name of each of its most recent periods, by Intl's labels
    const expected = new Map<string, string[]>(taken.map((n) => [n, []]));
    // names after the clock (+10 min) are in the future: no period rule keeps them
    const newest = [...taken]
      .sort()
      .reverse()
      .filter((n) => snapshotTime(n)!.getTime() <= centre + 86_400_000 + 600_000);
    for (const rule of ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const) {
      const seen = new Set<string>();
      for (const n of newest) {
        const label = intlLabel(zone, rule, snapshotTime(n)!);
        if (seen.has(label)) continue;
        if (seen.size >= r[rule]) break;
        seen.add(label);
        expected.get(n)!.push(`${rule} ${label}`);
      }
    }
    assert.deepEqual(
      plan.map((d) => [d.name, d.reasons]),
      taken.map((n) => [n, expected.get(n)]),
      JSON.stringify({ zone, taken, r }),
    );
    const proof = keptByPeriods({ names: taken, rules: r, timeZone: zone, now: new Date(centre + 86_400_000) });
    assert.deepEqual([...proof.kept].sort(), fromPlan.sort(), JSON.stringify({ zone, taken, r }));
  }
});

test('a name is a time only when no field rolls over: month and day lengths, leap years, hours, years before 100', () => {
  for (const [name, ok] of [
    ['2024-02-29_23-59-59', true],
    ['2023-02-29_12-00-00', false],
    ['2100-02-29_12-00-00', false],
    ['2000-02-29_12-00-00', true],
    ['2026-04-31_12-00-00', false],
    ['2026-12-31_12-00-00', true],
    ['2026-13-01_12-00-00', false],
    ['2026-00-10_12-00-00', false],
    ['2026-01-00_12-00-00', false],
    ['2026-01-01_24-00-00', false],
    ['2026-01-01_12-60-00', false],
    ['2026-01-01_12-00-60', false],
    ['0099-01-01_12-00-00', false],
    ['0100-01-01_12-00-00', true],
  ] as const) {
    const t = snapshotTime(name);
    assert.equal(t !== undefined, ok, name);
    if (t) assert.equal(t.toISOString().slice(0, 19), `${name.slice(0, 10)}T${name.slice(11).replaceAll('-', ':')}`);
  }
});
