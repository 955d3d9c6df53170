import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { forTarget } from '../../src/config/target-view.js';
import { planPrune } from '../../src/core/prune-plan.js';
import type { HostRecord } from '../../src/system/host-record.js';
import { rotationPins } from '../../src/flows/retention/rotation-pins.js';
import { scratchDir } from '../support/scratch.js';

// Several disks: the source keeps each other disk's pin, and prunes the rest as
// configured while a disk is away; a disk away past keep_for_absent has its pin let go.

const rules = { keepLast: 1, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 };
const snaps = ['2026-01-01_00-00-00', '2026-01-02_00-00-00', '2026-01-03_00-00-00', '2026-01-04_00-00-00'].map(
  (name, i) => ({ name, uuid: `u${i}` }),
);

test('the plan keeps another disk pin ("pin of office"), and only what no disk has had waits as "never sent"', () => {
  // home holds the newest; office holds the first
  const plan = planPrune({
    source: snaps,
    target: [{ name: snaps[3]!.name, uuid: 'u3' }],
    sourceLatest: snaps[3]!.name,
    targetLatest: snaps[3]!.name,
    sourceRules: rules,
    targetRules: rules,
    otherPins: [{ target: 'office', name: snaps[0]!.name, uuid: 'u0' }],
  });
  assert.deepEqual(
    plan.source.map((d) => [d.name, d.keep, d.reasons]),
    [
      [snaps[0]!.name, true, ['pin of office']],
      [snaps[1]!.name, false, []],
      [snaps[2]!.name, false, []],
      [snaps[3]!.name, true, ['latest', 'next parent', 'last 1']],
    ],
  );
  // home behind office: the snapshots newer than office's pin that home never got had their chance on office
  const behind = planPrune({
    source: snaps,
    target: [{ name: snaps[0]!.name, uuid: 'u0' }],
    sourceLatest: snaps[3]!.name,
    targetLatest: snaps[0]!.name,
    sourceRules: rules,
    targetRules: rules,
    otherPins: [{ target: 'office', name: snaps[2]!.name, uuid: 'u2' }],
  });
  assert.deepEqual(
    behind.source.map((d) => [d.name, d.keep]),
    [
      [snaps[0]!.name, true],
      [snaps[1]!.name, false],
      [snaps[2]!.name, true],
      [snaps[3]!.name, true],
    ],
  );
  assert.match(behind.source[3]!.reasons.join(), /never sent/);
});

test('a pin whose UUID differs (a name made again) is not that pin', () => {
  const plan = planPrune({
    source: snaps,
    target: [{ name: snaps[3]!.name, uuid: 'u3' }],
    sourceLatest: snaps[3]!.name,
    sourceRules: rules,
    otherPins: [{ target: 'office', name: snaps[0]!.name, uuid: 'other' }],
  });
  assert.equal(plan.source[0]!.keep, false);
});

test('one disk: no other pins, the plan as before', () => {
  const a = planPrune({ source: snaps, target: [], sourceLatest: snaps[3]!.name, sourceRules: rules });
  const b = planPrune({ source: snaps, target: [], sourceLatest: snaps[3]!.name, sourceRules: rules, otherPins: [] });
  assert.deepEqual(a, b);
});

test('rotationPins: kept while away less than keep_for_absent, let go after, never for a clock set back', async () => {
  const dir = scratchDir('rot');
  writeFileSync(
    join(dir, 'config.toml'),
    'sources = ["/home"]\n[targets.home]\n[targets.office]\nkeep_for_absent = "10d"\n',
  );
  const config = await loadConfig(join(dir, 'config.toml'));
  const home = forTarget(config, 'home');
  const now = new Date('2026-06-01T00:00:00Z');
  const record = (seenDaysAgo: number): HostRecord => ({
    config: config.file,
    sources: {},
    targets: {
      office: {
        seen: new Date(now.getTime() - seenDaysAgo * 86_400_000).toISOString(),
        pins: { home: { snapshot: 'S', uuid: 'u' } },
      },
    },
  });
  assert.deepEqual(rotationPins(home, 'home', record(5), now), {
    pins: [{ target: 'office', name: 'S', uuid: 'u' }],
    letGo: [],
  });
  assert.deepEqual(rotationPins(home, 'home', record(12), now), {
    pins: [],
    letGo: [{ target: 'office', snapshot: 'S', days: 12, limitDays: 10 }],
  });
  assert.equal(rotationPins(home, 'home', record(-300), now).pins.length, 1, 'seen in the future: kept');
  // the disk's own pin is never "another's"
  assert.deepEqual(rotationPins(forTarget(config, 'office'), 'home', record(50), now), { pins: [], letGo: [] });
});
