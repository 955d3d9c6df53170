import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBefore } from '../../src/core/before-time.js';

// restore --before: one rule. A bare date or time is UTC like the backup names; Z or an
// offset says otherwise; whatever the process's TZ is.

test('[time] --before: bare is UTC, Z and offsets as written, backup names taken, impossible dates refused', () => {
  const iso = (t: string) => parseBefore(t)?.toISOString();
  assert.equal(iso('2026-11-20'), '2026-11-20T00:00:00.000Z');
  assert.equal(iso('2026-11-20T14:00'), '2026-11-20T14:00:00.000Z');
  assert.equal(iso('2026-11-20 14:00:30'), '2026-11-20T14:00:30.000Z');
  assert.equal(iso('2026-11-20T14:00Z'), '2026-11-20T14:00:00.000Z');
  assert.equal(iso('2026-11-20T14:00+02:00'), '2026-11-20T12:00:00.000Z');
  assert.equal(iso('2026-11-20T14:00-0530'), '2026-11-20T19:30:00.000Z');
  assert.equal(iso('2026-11-20_14-00-05'), '2026-11-20T14:00:05.000Z', 'a backup name');
  assert.equal(iso('2026-11-20_14-00-05_2'), '2026-11-20T14:00:05.000Z', 'a second backup of that second');
  for (const bad of [
    '2026-02-30',
    '2026-11-20T25:00',
    '2026-11-20T14:00+25:00',
    'yesterday',
    '20 Nov 2026',
    '2026-11-20T14',
    '',
  ]) {
    assert.equal(parseBefore(bad), undefined, bad);
  }
});

test('[time] --before: the same answer in every time zone of the process', () => {
  const was = process.env.TZ;
  try {
    const seen = new Set<string | undefined>();
    for (const tz of ['UTC', 'Asia/Tokyo', 'America/Los_Angeles', 'Australia/Lord_Howe']) {
      process.env.TZ = tz;
      seen.add(parseBefore('2026-03-29T02:30')?.toISOString()); // a DST gap in Europe: no such local time there
    }
    assert.deepEqual([...seen], ['2026-03-29T02:30:00.000Z']);
  } finally {
    if (was === undefined) delete process.env.TZ;
    else process.env.TZ = was;
  }
});
