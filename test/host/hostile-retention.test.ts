import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statfsSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { allSubvolumes, json, makeScenario, withScenario, type Scenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { isSnapshotName, sourceName } from '../../src/core/naming.js';
import { lockFile } from '../../src/system/lock.js';
import { targetLockKey } from '../../src/flows/session/target-session.js';
import { sh } from '../support/sh.js';
import { waitFor } from '../support/wait.js';

// Issue 19, the target side: retention, min_free, ordering, space and chains tried the
// hostile way. Each case failed before the change it guards.
before(() => requireRoot());

const dirsOf = (s: Scenario) => ({
  src: join(s.src.mountPoint, 'snapshots', sourceName(s.data)),
  dst: join(s.dst.mountPoint, sourceName(s.data)),
});
const stamp = (t: Date) => t.toISOString().slice(0, 19).replace('T', '_').replaceAll(':', '-');
const backups = (dir: string) => readdirSync(dir).filter(isSnapshotName).sort();
const random = (file: string, mib: number) =>
  execFileSync('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', `count=${mib}`, 'status=none']);
const freeBytes = (dir: string) => statfsSync(dir).bavail * statfsSync(dir).bsize;
const withToml = (s: Scenario, target: string, extra = '') =>
  writeFileSync(s.config, readFileSync(s.config, 'utf8').replace('[target]\n', `${extra}[target]\n${target}`));
const backup = (s: Scenario, extra: string[] = []) => {
  const r = s.cli(['--json', '--config', s.config, ...extra]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return json(r).sources[0];
};

/**
 * Snapshots made in the order given (as a clock that jumps would name them), each sent
 * to the target as btrfs-vault sends it; latest on both sides at the last one made.
 */
function handMade(s: Scenario, names: string[]): void {
  const { src, dst } = dirsOf(s);
  mkdirSync(src, { recursive: true });
  mkdirSync(dst, { recursive: true });
  let parent: string | undefined;
  for (const name of names) {
    appendFileSync(join(s.data, 'log'), `${name}\n`);
    sh('btrfs', ['-q', 'subvolume', 'snapshot', '-r', s.data, join(src, name)]);
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
  for (const dir of [src, dst]) {
    sh('rm', ['-f', join(dir, 'latest')]);
    symlinkSync(names.at(-1)!, join(dir, 'latest'));
  }
}

// ---- min_free: what we delete, and what we say ----------------------------------

test(
  '[what we delete] min_free larger than the backup filesystem ("5T" on 256 MiB): refused before anything is deleted, with the fix',
  withScenario(
    (s) => {
      for (let i = 0; i < 3; i++) {
        writeFileSync(join(s.data, 'f'), `${i}`);
        backup(s);
      }
      const { dst } = dirsOf(s);
      const had = backups(dst);
      withToml(s, 'min_free = "5T"\n');
      writeFileSync(join(s.data, 'f'), 'new');
      const r = s.cli(['--json', '--config', s.config]);
      assert.equal(r.code, 3, r.stderr);
      const out = json(r).sources[0];
      assert.match(out.error, /min_free asks for 5\.00 TiB.*whole backup filesystem.*nothing was deleted/);
      assert.match(out.fix, /lower target\.min_free/);
      assert.deepEqual(backups(dst), had, 'the history is whole');
      assert.ok(had.includes(readlinkSync(join(dst, 'previous'))), 'previous does not dangle');
    },
    { sizeMiB: 256 },
  ),
);

test(
  '[what we delete] min_free that deleting every deletable backup could not meet (the newest pair holds the data): refused before deleting',
  withScenario(
    (s) => {
      random(join(s.data, 'big'), 120);
      for (let i = 0; i < 3; i++) {
        writeFileSync(join(s.data, 'f'), `${i}`);
        backup(s);
      }
      const { dst } = dirsOf(s);
      const had = backups(dst);
      const st = statfsSync(dst);
      const size = st.blocks * st.bsize;
      // all the data is shared with the newest backup: deleting the two older ones frees ~nothing
      const want = Math.floor((freeBytes(dst) + 60 * 2 ** 20) / 2 ** 20);
      assert.ok(want * 2 ** 20 < size, 'less than the filesystem');
      withToml(s, `min_free = "${want}M"\n`);
      writeFileSync(join(s.data, 'f'), 'new');
      const r = s.cli(['--json', '--config', s.config]);
      assert.equal(r.code, 3, r.stderr);
      const out = json(r).sources[0];
      assert.match(
        out.error,
        /deleting all 2 backup\(s\) that may go .* would free at most .*nothing was deleted and nothing was sent/,
      );
      assert.deepEqual(backups(dst), had, 'nothing deleted');
    },
    { sizeMiB: 512 },
  ),
);

test(
  '[what we delete] min_free and keep_last: a wish only deleting into keep_last could meet is refused; one deletion can meet takes the oldest, says what and why, and no link dangles',
  withScenario(
    (s) => {
      const made: string[] = [];
      for (let i = 0; i < 5; i++) {
        sh('rm', ['-f', join(s.data, `f${i - 1}`)]);
        random(join(s.data, `f${i}`), 40); // each backup holds 40 MiB of its own
        made.push(backup(s).snapshot);
      }
      withToml(
        s,
        '',
        '[retention.target]\nkeep_last = 3\nhourly = 0\ndaily = 0\nweekly = 0\nmonthly = 0\n[retention.source]\nkeep_last = 10\n',
      );
      const { dst } = dirsOf(s);
      const minFree = (extraMiB: number) => {
        const want = Math.floor((freeBytes(dst) + extraMiB * 2 ** 20) / 2 ** 20);
        writeFileSync(
          s.config,
          readFileSync(s.config, 'utf8')
            .replace(/^min_free = .*\n/m, '')
            .replace('[target]\n', `[target]\nmin_free = "${want}M"\n`),
        );
      };
      // 100 MiB more: only deleting three of the five (one of the keep_last 3) could free that
      minFree(100);
      writeFileSync(join(s.data, 'small'), 'x');
      const refused = s.cli(['--json', '--config', s.config]);
      assert.equal(refused.code, 3, refused.stderr);
      assert.match(
        json(refused).sources[0].error,
        /deleting all 2 backup\(s\) that may go \(kept: latest and the next parent, the 3 newest \(keep_last\)\).*nothing was deleted/,
      );
      assert.deepEqual(backups(dst), [...made].sort(), 'nothing deleted');

      // 60 MiB more: the two oldest go, and the run says so
      minFree(60);
      const r = s.cli(['--json', '--config', s.config]);
      assert.equal(r.code, 0, r.stderr);
      const out = json(r).sources[0];
      assert.match(
        out.warnings.join('\n'),
        new RegExp(
          `deleted the oldest backup\\(s\\) ${made[0]}, ${made[1]} to keep target\\.min_free free \\(only .* was free and min_free asks for .*; kept: .*the 3 newest \\(keep_last\\)\\)`,
        ),
      );
      // then retention, after the backup, keeps its 3 newest
      assert.deepEqual(out.pruned.target, [made[2]]);
      assert.deepEqual(backups(dst), [made[3], made[4], out.snapshot].sort());
      assert.equal(readlinkSync(join(dst, 'previous')), made[4]);
      assert.equal(readlinkSync(join(dst, 'latest')), out.snapshot);
    },
    { sizeMiB: 512 },
  ),
);

test(
  '[what we delete] min_free with keep_last = "all": no backup may go, so a shortfall is refused before anything is deleted',
  withScenario(
    (s) => {
      for (let i = 0; i < 3; i++) {
        sh('rm', ['-f', join(s.data, `f${i - 1}`)]);
        random(join(s.data, `f${i}`), 20);
        backup(s);
      }
      const { dst } = dirsOf(s);
      const had = backups(dst);
      const want = Math.floor((freeBytes(dst) + 10 * 2 ** 20) / 2 ** 20);
      withToml(s, `min_free = "${want}M"\n`, '[retention.target]\nkeep_last = "all"\n');
      writeFileSync(join(s.data, 'small'), 'x');
      const r = s.cli(['--json', '--config', s.config]);
      assert.equal(r.code, 3, r.stderr);
      assert.match(
        json(r).sources[0].error,
        /deleting all 0 backup\(s\) that may go \(kept: .*keep_last = "all"\).*nothing was deleted/,
      );
      assert.deepEqual(backups(dst), had);
    },
    { sizeMiB: 256 },
  ),
);

test(
  '[ordering and agreement] min_free without [retention]: status does not say "everything is kept"',
  withScenario(
    (s) => {
      withToml(s, 'min_free = "10%"\n');
      backup(s);
      const r = s.cli(['status', '--config', s.config]);
      assert.doesNotMatch(r.stdout, /everything is kept/);
      assert.match(r.stdout, /retention: off.*min_free 10% deletes the oldest backups/);
      const st = json(s.cli(['status', '--json', '--config', s.config]));
      assert.equal(st.retention.minFree, '10%');
      assert.doesNotMatch(st.warnings.map((w: { message: string }) => w.message).join('\n'), /nothing is ever deleted/);
    },
    { sizeMiB: 256 },
  ),
);

// ---- time: a name from a clock set forward ----------------------------------------

let future: Scenario;
const FUTURE = '2099-01-01_00-00-00';
const PAST = stamp(new Date(Date.now() - 3 * 3_600_000));

test('[time] a backup named 2099 (clock set forward, then back): the next runs are incremental from the newest made, with no "latest" warning', () => {
  future = makeScenario({ sizeMiB: 256 });
  handMade(future, [PAST, FUTURE]);
  appendFileSync(join(future.data, 'log'), 'changed\n');
  const a = backup(future);
  assert.deepEqual(
    [a.mode, a.parent],
    ['incremental', FUTURE],
    'the 2099 one was made last: it is the parent this once',
  );
  appendFileSync(join(future.data, 'log'), 'more\n');
  const b = backup(future);
  assert.deepEqual([b.mode, b.parent], ['incremental', a.snapshot], 'then the newest made, not the newest name');
  assert.doesNotMatch(b.warnings.join('\n'), /latest did not point at the newest pair/);
  assert.equal(readlinkSync(join(dirsOf(future).dst, 'latest')), b.snapshot);
});

test('[time] after a backup named 2099, an unchanged source is seen as unchanged', () => {
  const c = backup(future);
  assert.equal(c.mode, 'unchanged', 'nothing changed since the newest snapshot');
});

test('[time] retention never counts a name in the future as newest: keep_last keeps the newest made, the 2099 one goes when its turn comes', () => {
  writeFileSync(
    future.config,
    readFileSync(future.config, 'utf8') +
      '\n[retention.target]\nkeep_last = 2\nhourly = 0\ndaily = 0\nweekly = 0\nmonthly = 0\n[retention.source]\nkeep_last = 2\ndaily = 0\n',
  );
  const plan = json(future.cli(['prune', '--dry-run', '--json', '--config', future.config])).sources[0].snapshots
    .target;
  const names = plan.map((d: { name: string }) => d.name);
  const newest = readlinkSync(join(dirsOf(future).dst, 'latest'));
  const why = (n: string) => plan.find((d: { name: string }) => d.name === n).reasons as string[];
  assert.ok(why(newest).includes('last 2'), `the newest made keeps a keep_last slot: ${why(newest).join(', ')}`);
  assert.deepEqual(why(FUTURE), [], 'the 2099 backup is the oldest but one by creation: deleted by the next prune');
  assert.equal(names.at(-1), newest, 'prune lists oldest first by creation');
});

test('[time] status and doctor name the backup from the future, with the fix', () => {
  const st = json(future.cli(['status', '--json', '--config', future.config]));
  const w = st.warnings.find((x: { code: string }) => x.code === 'future-name');
  assert.ok(w, JSON.stringify(st.warnings));
  assert.match(w.message, new RegExp(FUTURE));
  assert.match(w.fix, /clock/);
  const d = future.cli(['doctor', '--config', future.config]);
  assert.match(d.stdout, new RegExp(`snapshots named in the future \\(${FUTURE}`));
  assert.match(d.stdout, /fix: check the clock/);
  assert.match(future.cli(['list', '--config', future.config]).stdout, new RegExp(`${FUTURE}  .*named in the future`));
});

after(() => future?.dispose());

// ---- list and prune: one order, one plan -----------------------------------------

test(
  '[ordering and agreement] on a shuffled history, list --json says kept or deleted exactly as prune --dry-run --json decides',
  withScenario(
    (s) => {
      const day = 86_400_000;
      // made in this order, named out of it (a clock that jumped back and forth)
      const names = [40, 10, 30, 5, 20, 2, 15, 1].map((d) => stamp(new Date(Date.now() - d * day)));
      handMade(s, names);
      writeFileSync(
        s.config,
        readFileSync(s.config, 'utf8') +
          '\n[retention.source]\nkeep_last = 2\ndaily = 0\n[retention.target]\nkeep_last = 3\nhourly = 0\ndaily = 0\nweekly = 2\nmonthly = 0\n',
      );
      const listed = json(s.cli(['list', '--json', '--config', s.config])).sources[0].snapshots;
      const pruned = json(s.cli(['prune', '--dry-run', '--json', '--config', s.config])).sources[0].snapshots;
      for (const side of ['source', 'target'] as const) {
        const fromPrune = Object.fromEntries(
          pruned[side].map((d: { name: string; reasons: string[] }) => [d.name, d.reasons]),
        );
        const fromList = Object.fromEntries(
          listed
            .filter((r: { retention?: Record<string, string[]> }) => r.retention?.[side])
            .map((r: { name: string; retention: Record<string, string[]> }) => [r.name, r.retention[side]]),
        );
        assert.deepEqual(fromList, fromPrune, side);
      }
      assert.deepEqual(
        listed.map((r: { name: string }) => r.name),
        names,
        'list shows them in the order they were made',
      );
    },
    { sizeMiB: 256 },
  ),
);

test(
  '[ordering and agreement] a backup whose source snapshot is gone is listed where it was made, not first',
  withScenario(
    (s) => {
      const day = 86_400_000;
      const names = [3, 2, 1].map((d) => stamp(new Date(Date.now() - d * day)));
      handMade(s, names);
      sh('btrfs', ['subvolume', 'delete', join(dirsOf(s).src, names[1]!)]);
      const listed = json(s.cli(['list', '--json', '--config', s.config])).sources[0].snapshots;
      assert.deepEqual(
        listed.map((r: { name: string; source: boolean }) => [r.name, r.source]),
        [
          [names[0], true],
          [names[1], false],
          [names[2], true],
        ],
      );
    },
    { sizeMiB: 256 },
  ),
);

test(
  '[ordering and agreement] prune --dry-run prints no mkdir for a snapshot folder that exists',
  withScenario(
    (s) => {
      writeFileSync(s.config, readFileSync(s.config, 'utf8') + '\n[retention.source]\nkeep_last = 1\n');
      backup(s);
      const r = s.cli(['prune', '--dry-run', '--config', s.config]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /mkdir/);
    },
    { sizeMiB: 256 },
  ),
);

// ---- space: freed space is waited for; no temporary file of ours stays -------------

test(
  '[space] a partial copy an interrupted run left on a nearly full disk: the next run deletes it, waits for the space and backs up',
  withScenario(
    (s) => {
      writeFileSync(join(s.data, 'seed'), 'seed');
      backup(s);
      const { dst } = dirsOf(s);
      // what a receive killed at 300 MiB leaves: a writable subvolume, recorded as ours
      const partial = stamp(new Date(Date.now() - 60_000));
      sh('btrfs', ['-q', 'subvolume', 'create', join(dst, partial)]);
      random(join(dst, partial, 'big'), 300);
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      writeFileSync(
        join(dst, '.btrfs-vault-receiving'),
        `${JSON.stringify({ name: partial, run: 'killed pid 1', started: new Date().toISOString(), boot, synced: false })}\n`,
      );
      sh('sync', []);
      random(join(s.data, 'new'), 150);
      const r = s.cli(['--json', '--config', s.config]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const out = json(r).sources[0];
      assert.deepEqual(out.cleaned, [join(dst, partial)]);
      assert.equal(readlinkSync(join(dst, 'latest')), out.snapshot);
    },
    { sizeMiB: 512 },
  ),
);

test(
  '[space] a backup disk full to the last byte: exit 3 with the full-disk message and fix, no temporary file of ours left',
  withScenario(
    (s) => {
      writeFileSync(join(s.data, 'seed'), 'seed');
      // the disk fills up before the first backup: the folder's owner file and the record are the first writes
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${join(s.dst.mountPoint, 'filler')}`, 'bs=1M', 'status=none'], {
          stdio: 'ignore',
        });
      } catch {
        /* ENOSPC: full */
      }
      for (let i = 0; ; i++) {
        try {
          writeFileSync(join(s.dst.mountPoint, `small${i}`), 'x'.repeat(2000)); // inline in metadata, until that is full too
        } catch {
          break;
        }
      }
      sh('sync', []);
      const r = s.cli(['--json', '--config', s.config]);
      assert.equal(r.code, 3, r.stderr + r.stdout);
      const out = json(r);
      const text = `${out.sources[0].error}`;
      assert.match(text, /backup filesystem is full/);
      assert.match(out.sources[0].fix, /free space on the backup disk/);
      const { dst } = dirsOf(s);
      const ours = existsSync(dst) ? readdirSync(dst).filter((n) => n.endsWith('.tmp')) : [];
      assert.deepEqual(ours, [], 'no temporary file left');
    },
    { sizeMiB: 256 },
  ),
);

test(
  '[space] prune waits until btrfs has given the space back: right after it, the free space is there',
  withScenario(
    (s) => {
      writeFileSync(
        s.config,
        readFileSync(s.config, 'utf8') +
          '\n[retention.target]\nkeep_last = 1\nhourly = 0\ndaily = 0\nweekly = 0\nmonthly = 0\n[retention.source]\nkeep_last = 1\ndaily = 0\n',
      );
      for (let i = 0; i < 3; i++) {
        sh('rm', ['-f', join(s.data, `f${i - 1}`)]);
        random(join(s.data, `f${i}`), 40);
        assert.equal(s.cli(['prune', '--config', s.config]).code, 0);
        const r = s.cli(['--json', '--config', s.config]);
        assert.equal(r.code, 0, r.stderr);
      }
      // the backup run pruned already; make two more backups without retention, then prune them
      const { dst } = dirsOf(s);
      const config = readFileSync(s.config, 'utf8');
      writeFileSync(s.config, config.replace(/\n\[retention\.target\][\s\S]*$/, '\n'));
      for (let i = 3; i < 5; i++) {
        sh('rm', ['-f', join(s.data, `f${i - 1}`)]);
        random(join(s.data, `f${i}`), 40);
        backup(s);
      }
      writeFileSync(s.config, config);
      sh('sync', []);
      const before = freeBytes(dst);
      const r = s.cli(['prune', '--json', '--config', s.config]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(json(r).sources[0].deleted.target.length >= 2);
      const gained = freeBytes(dst) - before;
      assert.ok(
        gained >= 60 * 2 ** 20,
        `right after prune ${Math.round(gained / 2 ** 20)} MiB more free (two 40 MiB backups deleted)`,
      );
    },
    { sizeMiB: 512 },
  ),
);

// ---- two of us at once: one folder, one chain --------------------------------------

test(
  '[two of us at once] two configs, same host and source, other snapshot folders, one target: the second is refused (name =), nothing written',
  withScenario(
    (s) => {
      writeFileSync(join(s.data, 'f'), '1');
      backup(s);
      const second = join(s.dir, 'etc2');
      cpSync(s.configDir, second, { recursive: true });
      const other = join(second, 'config.toml');
      writeFileSync(
        other,
        readFileSync(s.config, 'utf8').replace(
          /^snapshot_dir = .*$/m,
          `snapshot_dir = ${JSON.stringify(join(s.src.mountPoint, 'snaps2'))}`,
        ),
      );
      const before = allSubvolumes(s);
      const r = s.cli(['--json', '--config', other]);
      assert.notEqual(r.code, 0);
      const out = json(r).sources[0];
      assert.match(out.error, /snapshot folder/);
      assert.match(out.fix, /name = "/);
      assert.equal(allSubvolumes(s), before, 'nothing written');
      assert.ok(!existsSync(join(s.src.mountPoint, 'snaps2')), 'not even the snapshot folder');
      // the first chain goes on as before
      writeFileSync(join(s.data, 'f'), '2');
      assert.equal(backup(s).mode, 'incremental');
    },
    { sizeMiB: 256 },
  ),
);

test(
  '[two of us at once] one config whose snapshot folder moved (the old one gone): not a second chain; the record follows, the chain starts again',
  withScenario(
    (s) => {
      writeFileSync(join(s.data, 'f'), '1');
      backup(s);
      sh('mv', [join(s.src.mountPoint, 'snapshots'), join(s.src.mountPoint, 'old-snapshots')]);
      writeFileSync(
        s.config,
        readFileSync(s.config, 'utf8').replace(
          /^snapshot_dir = .*$/m,
          `snapshot_dir = ${JSON.stringify(join(s.src.mountPoint, 'moved'))}`,
        ),
      );
      const out = backup(s);
      assert.equal(out.mode, 'full', 'no snapshot pairs with a backup any more');
      const owner = JSON.parse(readFileSync(join(dirsOf(s).dst, '.btrfs-vault-source'), 'utf8'));
      assert.equal(owner.snapshots, join(s.src.mountPoint, 'moved', sourceName(s.data)));
    },
    { sizeMiB: 256 },
  ),
);

test(
  '[two of us at once] the lock refusal names a live holder, never a long-finished run from a stale owner note',
  withScenario(
    async (s) => {
      const file = lockFile(targetLockKey(s.dst.mountPoint).key);
      mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
      writeFileSync(file, '');
      // a note left by a run long gone (pid 999999 does not exist), the lock held by something else
      writeFileSync(`${file}.owner.999999`, '999999\nconfig /etc/old/config.toml\nthe backup target\n');
      const holder = spawn('flock', ['-x', file, 'sleep', '60'], { stdio: 'ignore' });
      try {
        // held once a non-blocking try fails (not after a guessed wait)
        await waitFor(() => spawnSync('flock', ['-n', '-E', '75', file, 'true']).status === 75);
        const r = s.cli(['--json', '--config', s.config]);
        assert.equal(r.code, 4, r.stderr);
        const err = json(r).error as string;
        assert.doesNotMatch(err, /999999/, 'the dead run is not named');
        assert.match(
          err,
          new RegExp(`locked by pid ${holder.pid} \\(flock\\), not by a btrfs-vault run`),
          'the live holder is named',
        );
      } finally {
        holder.kill();
        rmSync(`${file}.owner.999999`, { force: true });
      }
    },
    { sizeMiB: 256 },
  ),
);

// ---- fix texts that lead somewhere; values out of range -----------------------------

test(
  '[what we write into other formats] keep_last = int64 max is "out of range" with the fix, not a TOML syntax error',
  withScenario(
    (s) => {
      writeFileSync(
        s.config,
        readFileSync(s.config, 'utf8') + '\n[retention.target]\nkeep_last = 9223372036854775807\n',
      );
      const r = s.cli(['status', '--config', s.config]);
      assert.equal(r.code, 2, r.stderr);
      assert.doesNotMatch(r.stderr, /syntax error/);
      assert.match(r.stderr, /keep_last.*out of range/);
      assert.match(r.stderr, /"all"/);
    },
    { sizeMiB: 256 },
  ),
);

test(
  '[what we delete] a folder another host claims: the fix never says "if X only moved to X"',
  withScenario(
    (s) => {
      backup(s);
      const { dst } = dirsOf(s);
      const owner = join(dst, '.btrfs-vault-source');
      writeFileSync(owner, readFileSync(owner, 'utf8').replace('"testhost"', '"otherhost"'));
      const r = s.cli(['--json', '--config', s.config]);
      assert.notEqual(r.code, 0);
      const fix = json(r).sources[0].fix as string;
      const moved = /if (\S+) only moved to (\S+),/.exec(fix);
      assert.ok(!moved || moved[1] !== moved[2], fix);
      assert.match(fix, /otherhost/);
    },
    { sizeMiB: 256 },
  ),
);

test(
  '[paths we are given] the backup target given as a source: the fix leads to a config that is accepted',
  withScenario(
    (s) => {
      writeFileSync(
        s.config,
        readFileSync(s.config, 'utf8').replace(/^sources = .*$/m, `sources = [${JSON.stringify(s.dst.mountPoint)}]`),
      );
      const r = s.cli(['--json', '--config', s.config]);
      assert.notEqual(r.code, 0);
      const fix = `${json(r).fix ?? ''} ${json(r).sources?.[0]?.fix ?? ''}`;
      // the fix is to remove that source; a snapshot folder on the backup disk would only be refused next
      assert.match(fix, /remove/);
      assert.doesNotMatch(fix, /snapshot_dir/);
      assert.match(
        `${json(r).error ?? ''} ${json(r).sources?.[0]?.error ?? ''}`,
        /same filesystem as the backup target/,
      );
    },
    { sizeMiB: 256 },
  ),
);
