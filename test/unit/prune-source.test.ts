import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pruneSource } from '../../src/flows/retention/prune-source.js';
import type { Subvolume } from '../../src/btrfs/subvolumes.js';
import type { RetentionRules } from '../../src/core/retention.js';
import { FakeRunner } from '../support/fake-runner.js';
import { scratchDir } from '../support/scratch.js';

const keepLast = (n: number): RetentionRules => ({
  keepLast: n,
  hourly: 0,
  daily: 0,
  weekly: 0,
  monthly: 0,
  yearly: 0,
});
const day = (d: number) => `2026-11-${String(d).padStart(2, '0')}_12-00-00`;

function world(days: number[], sentUpTo: number) {
  const root = scratchDir('prune');
  const snapDir = join(root, 'snaps');
  const targetDir = join(root, 'backups');
  for (const dir of [snapDir, targetDir]) mkdirSync(dir);
  let id = 256;
  const sub = (dir: string, name: string, uuid: string, receivedUuid?: string): Subvolume => {
    mkdirSync(join(dir, name));
    return { path: join(dir, name), name, id: id++, uuid, receivedUuid, gen: 1, readonly: true };
  };
  const sourceListing = days.map((d) => sub(snapDir, day(d), `u${d}`));
  const targetListing = days.filter((d) => d <= sentUpTo).map((d) => sub(targetDir, day(d), `c${d}`, `u${d}`));
  // a user's own subvolume in the backup folder, and one of ours made writable (no received UUID)
  targetListing.push(sub(targetDir, 'restore-test', 'x1'), sub(targetDir, day(0), 'x2'));
  symlinkSync(day(sentUpTo), join(targetDir, 'latest'));
  symlinkSync(day(days.at(-1)!), join(snapDir, 'latest'));
  symlinkSync(day(1), join(targetDir, 'previous'));
  return { snapDir, targetDir, sourceListing, targetListing };
}

/** after deleting: a commit, btrfs's wait for the cleaner on exactly the deleted IDs, a commit (the space is back) */
function waitsFor(r: FakeRunner, dir: string, deleted: Subvolume[]): FakeRunner {
  return r
    .on(['btrfs', ['filesystem', 'sync', '--', dir]])
    .on(['btrfs', ['subvolume', 'sync', '--', dir, ...deleted.map((s) => String(s.id))]]);
}
const named = (list: Subvolume[], days: number[]) => days.map((d) => list.find((s) => s.name === day(d))!);

test('prune: one delete per batch of paths; hard rules keep theirs; what is not ours stays; previous points at a snapshot that exists', async () => {
  const w = world([1, 2, 3, 4, 5, 6], 5);
  const r = new FakeRunner()
    .on(['btrfs', ['subvolume', 'delete', '--', ...[1, 2, 3].map((d) => join(w.targetDir, day(d)))]])
    .on(['btrfs', ['subvolume', 'delete', '--', ...[1, 2, 3, 4].map((d) => join(w.snapDir, day(d)))]]);
  waitsFor(r, w.targetDir, named(w.targetListing, [1, 2, 3]));
  waitsFor(r, w.snapDir, named(w.sourceListing, [1, 2, 3, 4]));
  const progress: string[] = [];
  const out = await pruneSource({
    runner: r,
    ...w,
    rules: { source: keepLast(1), target: keepLast(2) },
    timeZone: 'UTC',
    progress: (t) => progress.push(t),
  });
  assert.deepEqual(out.target.deleted, [1, 2, 3].map(day));
  assert.deepEqual(out.source.deleted, [1, 2, 3, 4].map(day));
  assert.equal(r.changes.filter((c) => c.startsWith('btrfs subvolume delete')).length, 2, 'one delete per side');
  assert.equal(
    r.changes.filter((c) => c.startsWith('btrfs subvolume sync')).length,
    2,
    'and one wait for the space per side',
  );
  // day 5: newest pair (next parent) and target latest; day 6: never sent and source latest
  assert.deepEqual(out.target.decisions.find((d) => d.name === day(5))!.reasons, ['latest', 'next parent', 'last 2']);
  assert.deepEqual(out.source.decisions.find((d) => d.name === day(6))!.reasons, ['latest', 'never sent', 'last 1']);
  assert.deepEqual(out.source.decisions.find((d) => d.name === day(5))!.reasons, ['next parent']);
  assert.ok(
    !out.target.decisions.some((d) => d.name === 'restore-test' || d.name === day(0)),
    'only complete copies with our names are candidates',
  );
  assert.equal(
    readlinkSync(join(w.targetDir, 'previous')),
    day(4),
    'previous (day 1, deleted) now names the newest kept one before latest',
  );
  assert.match(progress.join('\n'), /deleting backups 1-3 of 3/);
});

test('prune: without retention rules nothing is deleted', async () => {
  const w = world([1, 2, 3], 3);
  const r = new FakeRunner();
  const out = await pruneSource({ runner: r, ...w, rules: {}, timeZone: 'UTC' });
  assert.deepEqual([out.source.deleted, out.target.deleted, r.changes], [[], [], []]);
});

test('prune: previous is removed when no kept snapshot is older than latest', async () => {
  const w = world([1, 2, 3], 3);
  const r = waitsFor(
    new FakeRunner().on(['btrfs', ['subvolume', 'delete', '--', ...[1, 2].map((d) => join(w.targetDir, day(d)))]]),
    w.targetDir,
    named(w.targetListing, [1, 2]),
  );
  await pruneSource({ runner: r, ...w, rules: { target: keepLast(1) }, timeZone: 'UTC' });
  assert.throws(() => readlinkSync(join(w.targetDir, 'previous')), /ENOENT/);
});
