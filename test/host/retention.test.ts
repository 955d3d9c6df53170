import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, withScenario, type Scenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { isSnapshotName, sourceName } from '../../src/core/naming.js';
import { sh } from '../support/sh.js';

// Retention on real btrfs: a history of backups made with plain btrfs commands (names
// spread over two years), then prune and backup as a user runs them.
before(() => requireRoot());

const dirsOf = (s: Scenario) => ({
  src: join(s.src.mountPoint, 'snapshots', sourceName(s.data)),
  dst: join(s.dst.mountPoint, sourceName(s.data)),
});
const stamp = (t: Date) => t.toISOString().slice(0, 19).replace('T', '_').replaceAll(':', '-');
/** the snapshots in a folder (a deleted subvolume leaves its folder at once) */
const subvolumes = (dir: string) => readdirSync(dir).filter(isSnapshotName).sort();

/** `count` backups, oldest first, spread evenly over `days` up to an hour ago; the last `unsent` never reach the target. */
function history(s: Scenario, count: number, days: number, unsent: number): string[] {
  const { src, dst } = dirsOf(s);
  mkdirSync(src, { recursive: true });
  mkdirSync(dst);
  const end = Date.now() - 3_600_000;
  const names: string[] = [];
  let parent: string | undefined;
  for (let i = 0; i < count; i++) {
    const name = stamp(new Date(end - ((count - 1 - i) / (count - 1)) * days * 86_400_000));
    appendFileSync(join(s.data, 'log'), `${name}\n`);
    sh('btrfs', ['-q', 'subvolume', 'snapshot', '-r', s.data, join(src, name)]);
    names.push(name);
    if (i >= count - unsent) continue;
    execFileSync('bash', [
      '-c',
      'set -o pipefail; btrfs send -q ${2:+-p "$2"} "$1" | btrfs receive -q "$3"',
      'bash',
      join(src, name),
      parent ?? '',
      dst,
    ]);
    parent = join(src, name);
  }
  const lastSent = names[count - unsent - 1]!;
  symlinkSync(names.at(-1)!, join(src, 'latest'));
  symlinkSync(lastSent, join(dst, 'latest'));
  return names;
}

const RETENTION = `
[retention.source]
keep_last = 2
daily = 0
[retention.target]
keep_last = 1
hourly = 0
daily = 7
weekly = 8
monthly = 12
yearly = "all"
`;

test(
  'prune after 200 backups over two years: each kept snapshot says why, the rest go; the next parent and unsent snapshots stay; dry-run deletes nothing',
  withScenario((s) => {
    writeFileSync(s.config, readFileSync(s.config, 'utf8') + RETENTION);
    const names = history(s, 200, 730, 3);
    const { src, dst } = dirsOf(s);
    const lastSent = names[196]!;
    const before = { src: subvolumes(src), dst: subvolumes(dst) };
    assert.equal(before.dst.length, 197);

    const dry = s.cli(['prune', '--dry-run', '--json', '--config', s.config]);
    assert.equal(dry.code, 0, dry.stderr);
    const plan = json(dry).sources[0];
    assert.deepEqual({ src: subvolumes(src), dst: subvolumes(dst) }, before, 'a dry-run deletes nothing');
    const reason =
      /^(last \d+|daily \d{4}-\d{2}-\d{2}|weekly \d{4}-W\d{2}|monthly \d{4}-\d{2}|yearly \d{4}|latest|next parent|never sent)$/;
    for (const side of ['source', 'target'] as const) {
      for (const d of plan.snapshots[side]) {
        assert.equal(d.keep, d.reasons.length > 0, `${side} ${d.name}`);
        for (const r of d.reasons) assert.match(r, reason);
      }
    }
    const kept = plan.snapshots.target.filter((d: { keep: boolean }) => d.keep);
    // at most one per rule's period: 1 + 7 days + 8 weeks + 12 months + 3 years, overlaps counted once
    assert.ok(kept.length >= 12 && kept.length <= 31, `${kept.length} backups kept`);
    const daily = kept.flatMap((d: { reasons: string[] }) => d.reasons.filter((r) => r.startsWith('daily')));
    assert.equal(new Set(daily).size, daily.length, 'one per day');
    const byName = (side: 'source' | 'target', n: string) =>
      plan.snapshots[side].find((d: { name: string }) => d.name === n);
    assert.ok(
      byName('target', lastSent).reasons.includes('next parent') &&
        byName('source', lastSent).reasons.includes('next parent'),
    );
    for (const n of names.slice(197)) assert.ok(byName('source', n).reasons.includes('never sent'), n);
    assert.deepEqual(plan.deleted.source.length + plan.deleted.target.length > 300, true, 'most of the history goes');

    // list explains the same decisions, row by row
    const shown = s.cli(['list', '--config', s.config]).stdout;
    assert.match(
      shown,
      new RegExp(`${lastSent}  both sides \\(pair\\).*\\[source: kept, next parent.*; target: kept, .*next parent`),
    );
    assert.match(
      shown,
      new RegExp(
        `${plan.deleted.target[0]}  both sides \\(pair\\)  \\[source: deleted by the next prune; target: deleted by the next prune\\]`,
      ),
    );

    const real = s.cli(['prune', '--json', '--config', s.config]);
    assert.equal(real.code, 0, real.stderr);
    const done = json(real).sources[0];
    assert.deepEqual(done.deleted, plan.deleted, 'the dry-run told the truth');
    assert.deepEqual(
      subvolumes(dst),
      before.dst.filter((n) => !plan.deleted.target.includes(n)),
    );
    assert.deepEqual(
      subvolumes(src),
      before.src.filter((n) => !plan.deleted.source.includes(n)),
    );
    const listed = json(s.cli(['list', '--json', '--config', s.config])).sources[0];
    assert.deepEqual(listed.dangling, []);
    assert.deepEqual(listed.foreign, []);

    // the next backup still sends incrementally from the newest pair, then applies retention itself
    appendFileSync(join(s.data, 'log'), 'today\n');
    const b = json(s.cli(['--json', '--config', s.config])).sources[0];
    assert.deepEqual([b.status, b.mode, b.parent], ['ok', 'incremental', lastSent]);
  }),
);

test(
  'without [retention] nothing is deleted, and prune says so',
  withScenario((s) => {
    history(s, 5, 10, 0);
    const { dst } = dirsOf(s);
    const r = s.cli(['prune', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no \[retention\] in the config: every snapshot is kept/);
    assert.equal(subvolumes(dst).length, 5);
  }),
);

test(
  'min_free: before a transfer, the oldest backups go until there is room, never the next parent; if there cannot be, nothing is sent',
  withScenario(
    (s) => {
      const { dst } = dirsOf(s);
      const names: string[] = [];
      // each backup holds 60 MiB of its own: the file is replaced every time
      for (let i = 0; i < 4; i++) {
        sh('rm', ['-f', join(s.data, `f${i - 1}.bin`)]);
        execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, `f${i}.bin`)}`, 'bs=1M', 'count=60', 'status=none']);
        const r = s.cli(['--json', '--config', s.config]);
        assert.equal(r.code, 0, r.stderr);
        names.push(json(r).sources[0].snapshot);
      }
      const free = () => statfsSync(dst).bavail * statfsSync(dst).bsize;
      const want = Math.floor((free() + 90 * 1024 * 1024) / 1024 / 1024);
      writeFileSync(
        s.config,
        readFileSync(s.config, 'utf8').replace('[target]\n', `[target]\nmin_free = "${want}M"\n`),
      );
      sh('rm', ['-f', join(s.data, 'f3.bin')]);
      writeFileSync(join(s.data, 'small'), 'x');
      const r = s.cli(['--json', '--config', s.config]);
      assert.equal(r.code, 0, r.stderr);
      const out = json(r).sources[0];
      assert.equal(out.parent, names[3], 'sent from the next parent, which stayed');
      const gone =
        /deleted the oldest backup\(s\) (.*) to keep target\.min_free free/
          .exec(out.warnings.join('\n'))?.[1]
          ?.split(', ') ?? [];
      assert.ok(gone.length >= 1 && gone.length <= 3, `deleted ${gone.join(', ')}`);
      assert.deepEqual(gone, names.slice(0, gone.length), 'oldest first');
      assert.ok(free() >= want * 1024 * 1024 - 16 * 1024 * 1024, 'about as much room as asked for');

      // more than deleting everything it may delete could free: refused before anything is deleted
      writeFileSync(s.config, readFileSync(s.config, 'utf8').replace(/min_free = .*/, 'min_free = "99%"'));
      writeFileSync(join(s.data, 'small'), 'y');
      const before = readdirSync(dst).filter(isSnapshotName);
      const refused = s.cli(['--json', '--config', s.config]);
      assert.equal(refused.code, 3, refused.stderr);
      assert.match(
        json(refused).sources[0].error,
        /min_free asks for .* would free at most .*: nothing was deleted and nothing was sent/,
      );
      const after = readdirSync(dst).filter(isSnapshotName);
      assert.deepEqual(after, before, 'nothing deleted');
      assert.ok(after.includes(out.snapshot), 'latest, the next parent, stayed');
      assert.ok(
        after.every((n) => before.includes(n)),
        'no new backup',
      );
    },
    { targetMiB: 400 },
  ),
);
