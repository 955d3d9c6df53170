import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tracedBtrfs } from '../support/btrfs-trace.js';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { json, makeScenario, type Scenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { sourceName } from '../../src/core/naming.js';
import { BIN } from '../support/cli.js';
import { sh } from '../support/sh.js';

// A run with nothing to do answers from the folders' `latest` links and one ioctl of the
// live source, its newest snapshot and that snapshot's copy, without listing a
// filesystem. Each case here changes what that answer rests on, in one way, and the run
// must see it as a run with a listing does. One scenario, the cases in turn.

let s: Scenario;
before(() => {
  requireRoot();
  s = makeScenario({ sizeMiB: 256 });
});
after(() => s?.dispose());

const dirs = () => ({
  src: join(s.src.mountPoint, 'snapshots', sourceName(s.data)),
  dst: join(s.dst.mountPoint, sourceName(s.data)),
});
const run = (...args: string[]) => {
  const r = s.cli(['--json', ...args, '--config', s.config]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return json(r).sources[0];
};
let seq = 0;

/** the run's btrfs commands (argv after "btrfs"), one trace file per process, and its report */
function traced(args: string[] = []) {
  const { out, btrfs } = tracedBtrfs(join(s.dir, `trace${seq++}`), BIN, ['--json', ...args, '--config', s.config]);
  return { btrfs, report: JSON.parse(out).sources[0] };
}
const lists = (btrfs: string[]) => btrfs.filter((a) => a.startsWith('subvolume list'));

test('a run with nothing to do lists no filesystem (with and without retention); one with work lists each once', () => {
  writeFileSync(join(s.data, 'a'), '1');
  run();
  run('--force');
  const same = traced();
  assert.equal(same.report.mode, 'unchanged');
  assert.deepEqual(lists(same.btrfs), [], 'no listing');
  assert.ok(same.btrfs.includes(`filesystem sync -- ${s.src.mountPoint}`), 'the source committed first');
  // retention whose rules keep every name: proven from the names, still no listing
  writeFileSync(
    s.config,
    `${readFileSync(s.config, 'utf8')}\n[retention.source]\nkeep_last = 5\n[retention.target]\nkeep_last = 5\n`,
  );
  const kept = traced();
  assert.equal(kept.report.mode, 'unchanged');
  assert.deepEqual(lists(kept.btrfs), []);
  writeFileSync(join(s.data, 'a'), '2');
  const work = traced();
  assert.equal(work.report.mode, 'incremental');
  assert.equal(lists(work.btrfs).length, 3, 'the source once, the target all and read-only');
});

test('[ordering and agreement] a file written just before the run (not yet committed): not "unchanged"', () => {
  assert.equal(run().mode, 'unchanged');
  writeFileSync(join(s.data, 'b'), 'new'); // in memory: the run commits before it reads generations
  assert.equal(run().mode, 'incremental');
});

test('[ordering and agreement] a snapshot of the source taken by hand elsewhere, nothing written: not "unchanged"', () => {
  assert.equal(run().mode, 'unchanged');
  sh('btrfs', ['subvolume', 'snapshot', '-r', s.data, join(s.src.mountPoint, 'by-hand')]);
  const r = run();
  assert.notEqual(r.mode, 'unchanged');
  assert.equal(readlinkSync(join(dirs().dst, 'latest')), r.snapshot);
});

test('[ordering and agreement] the target\'s copy of `latest` replaced by a user\'s subvolume of that name: not "unchanged", and it is left alone', () => {
  assert.equal(run().mode, 'unchanged');
  const { dst } = dirs();
  const name = readlinkSync(join(dst, 'latest'));
  sh('btrfs', ['subvolume', 'delete', join(dst, name)]);
  sh('btrfs', ['subvolume', 'create', join(dst, name)]);
  writeFileSync(join(dst, name, 'mine'), 'my work');
  const r = run();
  assert.notEqual(r.mode, 'unchanged');
  assert.match(r.warnings.join('\n'), new RegExp(`${name} is not a complete backup`));
  assert.equal(readFileSync(join(dst, name, 'mine'), 'utf8'), 'my work');
  sh('btrfs', ['subvolume', 'delete', join(dst, name)]); // the user takes theirs away
  assert.equal(run().mode, 'unchanged');
});

test('[ordering and agreement] `latest` moved back by hand on both sides to an older pair: not "unchanged", the newest pair is found', () => {
  assert.equal(run().mode, 'unchanged');
  const { src, dst } = dirs();
  const newest = readlinkSync(join(src, 'latest'));
  const older = readdirSync(src)
    .filter((n) => /^\d{4}-/.test(n) && n !== newest)
    .sort()
    .at(-1)!;
  for (const d of [src, dst]) {
    symlinkSync(older, join(d, 'moved'));
    renameSync(join(d, 'moved'), join(d, 'latest'));
  }
  const r = run();
  assert.notEqual(r.mode, 'unchanged');
  assert.equal(r.parent, newest, 'sent from the newest pair');
  assert.match(r.warnings.join('\n'), /latest did not point at the newest pair/);
});

test('[ordering and agreement] the source replaced at its path by a copy of it (a snapshot of the newest snapshot, as a hand restore makes): not "unchanged"', () => {
  assert.equal(run().mode, 'unchanged');
  const newest = readlinkSync(join(dirs().src, 'latest'));
  renameSync(s.data, `${s.data}.before`);
  sh('btrfs', ['subvolume', 'snapshot', join(dirs().src, newest), s.data]);
  const r = run();
  assert.notEqual(r.mode, 'unchanged');
  sh('btrfs', ['subvolume', 'delete', `${s.data}.before`]);
  assert.equal(run().mode, 'unchanged');
});

test('retention whose rules delete on a run with nothing new: the names cannot prove it keeps all, so it lists and deletes', () => {
  assert.equal(run().mode, 'unchanged');
  writeFileSync(
    s.config,
    readFileSync(s.config, 'utf8').replace(/\n\[retention\.source\][\s\S]*$/, '\n') +
      '\n[retention.source]\nkeep_last = 1\nhourly = 0\ndaily = 0\nweekly = 0\nmonthly = 0\n[retention.target]\nkeep_last = 1\nhourly = 0\ndaily = 0\nweekly = 0\nmonthly = 0\n',
  );
  const r = run();
  assert.equal(r.mode, 'unchanged');
  assert.ok(r.pruned.source.length >= 1 && r.pruned.target.length >= 1, JSON.stringify(r.pruned));
  const { src, dst } = dirs();
  const left = (d: string) => readdirSync(d).filter((n) => /^\d{4}-/.test(n));
  assert.deepEqual(left(src), [readlinkSync(join(src, 'latest'))]);
  assert.deepEqual(left(dst), [readlinkSync(join(dst, 'latest'))]);
});

test('[paths we are given] a folder in the backup folder whose name is not UTF-8: not taken for a snapshot, the run lists (as for any other folder) and leaves it alone', () => {
  const { dst } = dirs();
  const odd = Buffer.concat([Buffer.from(`${dst}/`), Buffer.from([0x32, 0x30, 0xff, 0x2d])]);
  execFileSync('python3', ['-c', 'import os, sys; os.mkdir(bytes.fromhex(sys.argv[1]))', odd.toString('hex')]);
  const r = traced();
  assert.equal(r.report.mode, 'unchanged');
  assert.ok(lists(r.btrfs).length > 0, 'a folder the names cannot account for: listed');
  assert.ok(existsSync(odd), 'left alone');
  rmdirSync(odd);
  const again = traced();
  assert.equal(again.report.mode, 'unchanged');
  assert.deepEqual(lists(again.btrfs), [], 'gone: answered from the names again');
});
