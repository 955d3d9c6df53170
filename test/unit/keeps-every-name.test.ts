import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepsEveryName, planPrune } from '../../src/core/prune-plan.js';
import { DEFAULT_SOURCE_RULES, DEFAULT_TARGET_RULES, type RetentionRules } from '../../src/core/retention.js';
import { snapshotName } from '../../src/core/naming.js';

// A run with nothing new skips retention only when a folder's names alone prove that
// nothing would be deleted: the proof must never say "keeps all" where the plan, given
// any UUIDs and any creation order, deletes one.

const now = new Date('2026-12-06T08:00:00Z');
const names = (hoursAgo: number[]) => {
  const taken: string[] = [];
  for (const h of hoursAgo) taken.push(snapshotName(new Date(now.getTime() - h * 3_600_000), taken));
  return taken;
};
const zero: RetentionRules = { keepLast: 1, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 };

test('keeps every name: no rules; no more names than keep_last; each name alone in its period', () => {
  const few = names([3, 2, 1]);
  assert.equal(keepsEveryName({ names: few, rules: undefined, kept: new Set(), now }), true);
  assert.equal(keepsEveryName({ names: few, rules: { ...zero, keepLast: 3 }, kept: new Set(), now }), true);
  assert.equal(keepsEveryName({ names: few, rules: { ...zero, hourly: 24 }, kept: new Set(), now }), true);
  assert.equal(keepsEveryName({ names: few, rules: zero, kept: new Set([few[2]!]), now }), false);
});

test('cannot prove it: two in one period, more periods than counted, a name in the future', () => {
  const two = names([0.2, 0.1]);
  assert.equal(keepsEveryName({ names: two, rules: { ...zero, hourly: 24 }, kept: new Set(), now }), false);
  // the newer is latest: the older is kept by neither a period nor a hard rule known here
  assert.equal(keepsEveryName({ names: two, rules: { ...zero, hourly: 24 }, kept: new Set([two[1]!]), now }), false);
  assert.equal(keepsEveryName({ names: names([3, 2, 1]), rules: { ...zero, hourly: 2 }, kept: new Set(), now }), false);
  const future = names([-48, 1]);
  assert.equal(keepsEveryName({ names: future, rules: { ...zero, hourly: 24 }, kept: new Set(), now }), false);
  // not our names: never ours to delete
  assert.equal(
    keepsEveryName({ names: ['restore-test', 'x', ...names([1])], rules: zero, kept: new Set(), now }),
    true,
  );
});

test('sound: wherever it says "keeps all", planPrune deletes nothing, whatever the UUIDs, the pairing and the creation order', () => {
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  let proven = 0;
  for (let round = 0; round < 400; round++) {
    const hours = Array.from({ length: 1 + rnd(12) }, () => rnd(24 * 60) / 4 - 2);
    const all = names(hours);
    const rules = [
      DEFAULT_SOURCE_RULES,
      DEFAULT_TARGET_RULES,
      zero,
      { ...zero, keepLast: 3, daily: 2 },
      { ...zero, hourly: 5 },
    ][rnd(5)]!;
    const latest = all[rnd(all.length)]!;
    if (!keepsEveryName({ names: all, rules, kept: new Set([latest]), now, timeZone: 'UTC' })) continue;
    proven++;
    for (let order = 0; order < 5; order++) {
      const shuffled = [...all].sort(() => rnd(3) - 1);
      // any subset of them as candidates, paired or not
      const source = shuffled.filter(() => rnd(4) > 0).map((n) => ({ name: n, uuid: `u-${n}` }));
      if (!source.some((x) => x.name === latest)) source.push({ name: latest, uuid: `u-${latest}` });
      const target = source
        .filter(() => rnd(2) > 0)
        .map((x) => ({ name: x.name, uuid: rnd(5) === 0 ? `other-${x.name}` : x.uuid }));
      const plan = planPrune({
        source,
        target,
        sourceLatest: latest,
        targetLatest: latest,
        sourceRules: rules,
        targetRules: rules,
        timeZone: 'UTC',
        now,
      });
      assert.deepEqual(
        plan.source.filter((d) => !d.keep),
        [],
        JSON.stringify({ all, rules, latest }),
      );
      assert.deepEqual(
        plan.target.filter((d) => !d.keep),
        [],
        JSON.stringify({ all, rules, latest }),
      );
    }
  }
  assert.ok(proven > 20, `the proof held in ${proven} of 400 rounds: the test covers it`);
});

test('the proof over years of history: 2,000 names each alone in its hour are all kept; a 2,001st older one that is not is found', () => {
  const hourly = names(Array.from({ length: 2000 }, (_, k) => k + 1));
  const rules = { ...zero, keepLast: 3, hourly: 2100 };
  const kept = new Set([hourly[0]!]); // latest: the newest
  assert.equal(keepsEveryName({ names: hourly, rules, kept, now, timeZone: 'Europe/Berlin' }), true);
  // the oldest hour gets a second name: the oldest of all (the 2,001st) is due, whatever the newer names say
  const later = snapshotName(new Date(now.getTime() - 1999.5 * 3_600_000), []);
  assert.equal(keepsEveryName({ names: [later, ...hourly], rules, kept, now, timeZone: 'Europe/Berlin' }), false);
  // or one hour more than the rule counts
  assert.equal(
    keepsEveryName({ names: hourly, rules: { ...rules, hourly: 1999 }, kept, now, timeZone: 'Europe/Berlin' }),
    false,
  );
});

test("the proof's cost does not grow with Intl calls per name: 2,000 hourly names ask the time zone about a hundred times", () => {
  const hourly = names(Array.from({ length: 2000 }, (_, k) => k + 1));
  const proto = Intl.DateTimeFormat.prototype;
  const original = Object.getOwnPropertyDescriptor(proto, 'formatToParts')!.value as (
    this: Intl.DateTimeFormat,
    date?: Date | number,
  ) => Intl.DateTimeFormatPart[];
  let calls = 0;
  proto.formatToParts = function (this: Intl.DateTimeFormat, date?: Date | number) {
    calls++;
    return original.call(this, date);
  };
  try {
    for (const rules of [DEFAULT_TARGET_RULES, { ...DEFAULT_SOURCE_RULES, hourly: 2100 }])
      keepsEveryName({ names: hourly, rules, kept: new Set(), now, timeZone: 'America/New_York' });
  } finally {
    proto.formatToParts = original;
  }
  // a day's two ends each (84 days), the day with the autumn change hour by hour: not thousands
  assert.ok(calls < 400, `${calls} calls of Intl for 2 × 2,000 names`);
});
