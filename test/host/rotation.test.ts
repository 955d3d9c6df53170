import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from '../support/cli.js';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../support/loop-disk.js';
import { json } from '../support/scenario.js';
import { tempDir } from '../support/scratch.js';
import { sh } from '../support/sh.js';
import { sourceName } from '../../src/core/naming.js';
import { hostRecordFile, type HostRecord } from '../../src/system/host-record.js';

// Several backup disks (rotation) on real btrfs: a source and two plain btrfs disks on
// loop devices this test creates, alternated as a person would: plugged in (mounted)
// and taken away (unmounted). Needs root; without it the run fails.
before(() => requireRoot());

interface Disk {
  name: string;
  fs: LoopFs;
  token: Buffer;
}

interface Rotation {
  dir: string;
  src: LoopFs;
  data: string;
  config: string;
  configDir: string;
  disks: Record<string, Disk>;
  /** the source's snapshot folder */
  snapDir: string;
  run(args: string[]): ReturnType<typeof cli>;
  attach(name: string): void;
  detach(name: string): void;
  record(): HostRecord;
  writeRecord(r: HostRecord): void;
  dispose(): void;
}

function makeRotation(opts: { extraToml?: string; targetToml?: Record<string, string> } = {}): Rotation {
  const dir = tempDir('rot');
  const src = makeLoopBtrfs(dir, 'src', 512);
  const data = join(src.mountPoint, 'data');
  sh('btrfs', ['subvolume', 'create', data]);
  const configDir = join(dir, 'etc');
  mkdirSync(configDir, { mode: 0o700 });
  const disks: Record<string, Disk> = {};
  let targets = '';
  for (const name of ['home', 'office']) {
    const fs = makeLoopBtrfs(dir, `disk-${name}`, 512);
    const token = randomBytes(64);
    writeFileSync(join(fs.mountPoint, '.token'), token, { mode: 0o600 });
    const hashFile = join(configDir, `token-${name}.sha512`);
    writeFileSync(hashFile, `${createHash('sha512').update(token).digest('hex')}  ${join(fs.mountPoint, '.token')}\n`);
    chmodSync(hashFile, 0o600);
    disks[name] = { name, fs, token };
    targets += `\n[targets.${name}]\nmountpoint = ${JSON.stringify(fs.mountPoint)}\n${opts.targetToml?.[name] ?? ''}`;
  }
  const config = join(configDir, 'config.toml');
  const snapshots = join(src.mountPoint, 'snapshots');
  writeFileSync(
    config,
    `host = "testhost"\nsources = [${JSON.stringify(data)}]\nsnapshot_dir = ${JSON.stringify(snapshots)}\n${opts.extraToml ?? ''}\n${targets}`,
  );
  const mounted = (name: string) => {
    try {
      sh('findmnt', ['-n', '--mountpoint', disks[name]!.fs.mountPoint]);
      return true;
    } catch {
      return false;
    }
  };
  return {
    dir,
    src,
    data,
    config,
    configDir,
    disks,
    snapDir: join(snapshots, sourceName(data)),
    run: (args) => cli([...args, '--config', config]),
    attach(name) {
      const d = disks[name]!;
      if (!mounted(name)) sh('mount', [d.fs.device, d.fs.mountPoint]);
    },
    detach(name) {
      if (mounted(name)) sh('umount', [disks[name]!.fs.mountPoint]);
    },
    record: () => JSON.parse(readFileSync(hostRecordFile(config), 'utf8')) as HostRecord,
    writeRecord: (r) => writeFileSync(hostRecordFile(config), JSON.stringify(r)),
    dispose() {
      for (const d of Object.values(disks)) d.fs.dispose();
      src.dispose();
      rmSync(dir, { recursive: true, force: true });
      rmSync(hostRecordFile(config), { force: true });
    },
  };
}

function withRotation(fn: (r: Rotation) => Promise<void> | void, opts?: Parameters<typeof makeRotation>[0]) {
  return async () => {
    const r = makeRotation(opts);
    try {
      await fn(r);
    } finally {
      r.dispose();
    }
  };
}

/** A change in the source, so the next run has something to send. */
function change(r: Rotation, what = randomBytes(8).toString('hex')): void {
  writeFileSync(join(r.data, `${what}.txt`), `${what}\n`.repeat(100));
}

/** The received UUID of a backup on a disk: the UUID of the source snapshot it is a copy of. */
function receivedUuid(r: Rotation, disk: string, name: string): string {
  const show = sh('btrfs', ['subvolume', 'show', join(r.disks[disk]!.fs.mountPoint, sourceName(r.data), name)]);
  return /Received UUID:\s+(\S+)/.exec(show)![1]!;
}

function uuidOf(path: string): string {
  return /^\s*UUID:\s+(\S+)/m.exec(sh('btrfs', ['subvolume', 'show', path]))![1]!;
}

function snapshotsOnSource(r: Rotation): string[] {
  return readdirSync(r.snapDir)
    .filter((n) => /^\d{4}-/.test(n))
    .sort();
}

function backupsOn(r: Rotation, disk: string): string[] {
  return readdirSync(join(r.disks[disk]!.fs.mountPoint, sourceName(r.data)))
    .filter((n) => /^\d{4}-/.test(n))
    .sort();
}

/** The one source's report on one disk, from a rotation run's JSON. */
function onDisk(out: { stdout: string }, disk: string) {
  const report = json(out);
  const t = report.targets.find((x: { name: string }) => x.name === disk);
  assert.ok(t, `a report for ${disk}: ${out.stdout}`);
  return t.sources[0];
}

test(
  'two disks alternated three times each: every run after the first on each disk is incremental from the newest snapshot that disk has',
  withRotation((r) => {
    const last: Record<string, string | undefined> = {};
    r.detach('office');
    for (let round = 0; round < 3; round++) {
      for (const [here, away] of [
        ['home', 'office'],
        ['office', 'home'],
      ] as const) {
        r.attach(here);
        r.detach(away);
        change(r);
        const out = r.run(['backup', '--json']);
        assert.equal(out.code, 0, out.stderr);
        const report = json(out);
        assert.deepEqual(
          report.absent.map((a: { name: string }) => a.name),
          [away],
        );
        const s = onDisk(out, here);
        if (round === 0) assert.equal(s.mode, 'full', `${here}, first run`);
        else {
          assert.equal(s.mode, 'incremental', `${here}, round ${round}: ${out.stderr}`);
          assert.equal(s.parent, last[here], `${here}: the parent is its own newest snapshot`);
          // the parent on the disk is the copy of that very snapshot
          assert.equal(receivedUuid(r, here, s.parent), uuidOf(join(r.snapDir, s.parent)));
        }
        assert.equal(receivedUuid(r, here, s.snapshot), uuidOf(join(r.snapDir, s.snapshot)));
        // normal rotation: no warning about `latest`
        assert.doesNotMatch(out.stderr + JSON.stringify(report), /latest did not point/);
        last[here] = s.snapshot;
      }
    }
    // the record: each disk seen, its pin its newest snapshot
    const rec = r.record();
    for (const d of ['home', 'office']) {
      assert.equal(rec.targets?.[d]?.pins?.[sourceName(r.data)]?.snapshot, last[d]);
      assert.ok(rec.targets?.[d]?.seen);
    }
  }),
);

test(
  'both disks attached: the snapshot is taken once and sent to both, each from its own parent',
  withRotation((r) => {
    change(r);
    const first = r.run(['backup', '--json']);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(onDisk(first, 'home').mode, 'full');
    assert.equal(onDisk(first, 'office').mode, 'full');
    assert.equal(onDisk(first, 'home').snapshot, onDisk(first, 'office').snapshot);
    assert.equal(snapshotsOnSource(r).length, 1, 'one snapshot for both disks');
    // office away for a run: home moves on
    r.detach('office');
    change(r);
    const second = r.run(['backup', '--json']);
    assert.equal(second.code, 0, second.stderr);
    r.attach('office');
    change(r);
    const third = r.run(['backup', '--json']);
    assert.equal(third.code, 0, third.stderr);
    const [home, office] = [onDisk(third, 'home'), onDisk(third, 'office')];
    assert.equal(home.snapshot, office.snapshot, 'taken once');
    assert.equal(home.mode, 'incremental');
    assert.equal(office.mode, 'incremental');
    assert.equal(home.parent, onDisk(second, 'home').snapshot);
    assert.equal(office.parent, onDisk(first, 'office').snapshot, "office's parent is the newest snapshot office has");
    assert.equal(receivedUuid(r, 'office', office.snapshot), uuidOf(join(r.snapDir, office.snapshot)));
    assert.doesNotMatch(third.stderr + third.stdout, /latest did not point/);
    // nothing changed: nothing made, nothing sent
    const fourth = r.run(['backup', '--json']);
    assert.equal(fourth.code, 0, fourth.stderr);
    assert.equal(onDisk(fourth, 'home').mode, 'unchanged');
    assert.equal(onDisk(fourth, 'office').mode, 'unchanged');
    // the source unchanged since its newest snapshot, which office lacks: that one is sent
    r.detach('office');
    change(r);
    const fifth = r.run(['backup', '--json']);
    r.attach('office');
    const sixth = r.run(['backup', '--json']);
    assert.equal(sixth.code, 0, sixth.stderr);
    assert.equal(onDisk(sixth, 'home').mode, 'unchanged');
    assert.equal(onDisk(sixth, 'office').mode, 'incremental');
    assert.equal(onDisk(sixth, 'office').snapshot, onDisk(fifth, 'home').snapshot, 'no new snapshot for office');
  }),
);

const PRUNE_SOURCE = '[retention.source]\nkeep_last = 1\ndaily = 0\n';

test(
  'while a disk is away the source is pruned as configured, except that disk pin; back again, its run is incremental',
  withRotation(
    (r) => {
      change(r);
      const first = r.run(['backup', '--json']);
      assert.equal(first.code, 0, first.stderr);
      const pin = onDisk(first, 'office').snapshot;
      r.detach('office');
      const made: string[] = [];
      for (let i = 0; i < 3; i++) {
        change(r);
        const out = r.run(['backup', '--json']);
        assert.equal(out.code, 0, out.stderr);
        made.push(onDisk(out, 'home').snapshot);
      }
      // not btrbk's way: the snapshots in between are gone, office's pin stays
      assert.deepEqual(snapshotsOnSource(r), [pin, made[2]].sort());
      // prune --dry-run and list say the same, with the reason
      const dry = r.run(['prune', '--dry-run', '--json']);
      assert.equal(dry.code, 0, dry.stderr);
      const decisions = json(dry).targets[0].sources[0].snapshots.source;
      assert.deepEqual(decisions.find((d: { name: string }) => d.name === pin).reasons, ['pin of office']);
      r.attach('office');
      change(r);
      const back = r.run(['backup', '--json']);
      assert.equal(back.code, 0, back.stderr);
      assert.equal(onDisk(back, 'office').mode, 'incremental');
      assert.equal(onDisk(back, 'office').parent, pin);
      // the pin, no longer needed, goes with the next retention
      assert.ok(!snapshotsOnSource(r).includes(pin), snapshotsOnSource(r).join(' '));
      assert.deepEqual(backupsOn(r, 'office'), [onDisk(back, 'office').snapshot]);
    },
    { extraToml: PRUNE_SOURCE },
  ),
);

test(
  'a disk away past its keep_for_absent: its pin is let go with a warning, and its next run says first that it will be full',
  withRotation(
    (r) => {
      change(r);
      const first = r.run(['backup', '--json']);
      assert.equal(first.code, 0, first.stderr);
      const pin = onDisk(first, 'office').snapshot;
      r.detach('office');
      change(r);
      assert.equal(r.run(['backup']).code, 0);
      assert.ok(snapshotsOnSource(r).includes(pin), 'kept while office is away less than 30 days');
      // office last seen 40 days ago
      const rec = r.record();
      rec.targets!.office!.seen = new Date(Date.now() - 40 * 86_400_000).toISOString();
      r.writeRecord(rec);
      change(r);
      const out = r.run(['backup', '--json']);
      assert.equal(out.code, 0, out.stderr);
      const warnings = onDisk(out, 'home').warnings.join('\n');
      assert.match(
        warnings,
        new RegExp(
          `the office disk has not been seen for 40 days \\(keep_for_absent: 30 days\\): its pin ${pin} of .* is let go, and its next backup of .* will be full`,
        ),
      );
      assert.ok(!snapshotsOnSource(r).includes(pin), 'let go');
      r.attach('office');
      change(r);
      const back = r.run(['backup', '--json']);
      assert.equal(back.code, 0, back.stderr);
      assert.match(
        json(back).warnings.join('\n'),
        new RegExp(`the office disk's newest snapshot of .* \\(${pin}\\) is no longer on the source.* will be full`),
      );
      // said before the run starts: the line comes before the disk's run
      assert.match(back.stderr.split('\n')[0]!, /is no longer on the source/, back.stderr);
      assert.equal(onDisk(back, 'office').mode, 'full');
      assert.equal(onDisk(back, 'home').mode, 'incremental');
    },
    { extraToml: PRUNE_SOURCE, targetToml: { office: 'keep_for_absent = "30d"\n' } },
  ),
);

test(
  'status per disk: attached or not, last backup, last seen, the pin; a disk away longer than its max_age is a warning (--json, --check)',
  withRotation(
    (r) => {
      change(r);
      assert.equal(r.run(['backup']).code, 0);
      r.detach('office');
      const fresh = r.run(['status', '--json', '--check']);
      assert.equal(fresh.code, 0, fresh.stdout);
      const s = json(fresh);
      assert.deepEqual(
        s.targets.map((t: { name: string; attached: boolean }) => [t.name, t.attached]),
        [
          ['home', true],
          ['office', false],
        ],
      );
      const office = s.targets[1];
      assert.ok(office.lastBackup && office.lastSeen);
      assert.equal(office.pins[0].source, r.data);
      assert.equal(office.pins[0].onSource, true);
      assert.equal(office.pins[0].letGo, false);
      // office last seen 34 days ago, its max_age 30 days
      const rec = r.record();
      rec.targets!.office!.seen = new Date(Date.now() - 34 * 86_400_000).toISOString();
      r.writeRecord(rec);
      const old = r.run(['status', '--json', '--check']);
      assert.equal(old.code, 1, 'a warning stands');
      const w = json(old).warnings.find((x: { code: string }) => x.code === 'target-away');
      assert.match(w.message, /^the office disk has not been seen for 34 days \(max_age: 30 days\)/);
      assert.equal(w.target, 'office');
      const text = r.run(['status']);
      assert.match(text.stdout, /office \(.*\): not attached; last backup .*; last seen/);
      assert.match(text.stdout, /! the office disk has not been seen for 34 days/);
      assert.match(text.stdout, /pin of .*: \d{4}-/);
      // --target: that disk alone
      const one = json(r.run(['status', '--json', '--target', 'office']));
      assert.deepEqual(
        one.targets.map((t: { name: string }) => t.name),
        ['office'],
      );
      assert.equal(one.target.mountpoint, r.disks.office!.fs.mountPoint);
      assert.equal(one.target.mounted, false);
    },
    { extraToml: PRUNE_SOURCE, targetToml: { office: 'max_age = "30d"\n' } },
  ),
);

test(
  'a foreign disk plugged in as the second disk is refused by its token; the other disk is backed up all the same',
  withRotation((r) => {
    writeFileSync(join(r.disks.office!.fs.mountPoint, '.token'), randomBytes(64), { mode: 0o600 });
    change(r);
    const out = r.run(['backup', '--json']);
    assert.equal(out.code, 1, 'one disk failed, one did not');
    const report = json(out);
    const office = report.targets.find((t: { name: string }) => t.name === 'office');
    assert.match(office.error, /token/i);
    assert.equal(onDisk(out, 'home').status, 'ok');
    assert.ok(
      !existsSync(join(r.disks.office!.fs.mountPoint, sourceName(r.data))),
      'nothing written to the foreign disk',
    );
  }),
);

test(
  '--target NAME on backup, list, files, restore, verify, prune, open, close; without it restore and files say which disk they read',
  withRotation((r) => {
    change(r, 'first');
    assert.equal(r.run(['backup', '--target', 'home']).code, 0);
    assert.ok(!existsSync(join(r.disks.office!.fs.mountPoint, sourceName(r.data))), 'office left alone');
    change(r, 'second');
    const office = r.run(['backup', '--json', '--target', 'office']);
    assert.equal(office.code, 0, office.stderr);
    assert.deepEqual(
      json(office).targets.map((t: { name: string }) => t.name),
      ['office'],
    );
    // list: one disk, or each attached one
    const list = json(r.run(['list', '--json', '--target', 'home']));
    assert.deepEqual(
      list.targets.map((t: { name: string }) => t.name),
      ['home'],
    );
    assert.equal(list.targets[0].sources[0].snapshots.filter((x: { target: boolean }) => x.target).length, 1);
    assert.equal(json(r.run(['list', '--json'])).targets.length, 2);
    // files and restore: office has the newest backup, and says so
    const files = r.run(['files', r.data, 'second.txt']);
    assert.equal(files.code, 0, files.stderr);
    assert.match(files.stderr, /reading from the backup disk office/);
    const onHome = r.run(['files', '--json', '--target', 'home', r.data, 'second.txt']);
    assert.equal(json(onHome).versions.length, 0, 'home never got second.txt');
    const to = join(r.src.mountPoint, 'restored');
    mkdirSync(to);
    const restored = r.run(['restore', '--json', '--target', 'home', r.data, '--to', to]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.ok(!existsSync(join(json(restored).restored, 'second.txt')), 'restored from home');
    const verify = r.run(['verify', '--json', '--no-scrub', '--target', 'office']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.deepEqual(
      json(verify).targets.map((t: { name: string }) => t.name),
      ['office'],
    );
    const prune = r.run(['prune', '--dry-run', '--json', '--target', 'office']);
    assert.equal(prune.code, 0, prune.stderr);
    assert.equal(json(prune).targets.length, 1);
    // close: that disk alone (a plain disk without a device key: unmounted, plugged in again by hand)
    assert.equal(r.run(['close', '--target', 'office']).code, 0);
    assert.ok(!sh('findmnt', ['-rn', '-o', 'TARGET']).includes(r.disks.office!.fs.mountPoint), 'office closed');
    assert.ok(sh('findmnt', ['-rn', '-o', 'TARGET']).includes(r.disks.home!.fs.mountPoint), 'home left open');
    r.attach('office');
    const open = r.run(['open', '--json', '--target', 'office']);
    assert.equal(open.code, 0, open.stderr);
    assert.equal(json(open).targets[0].name, 'office');
    // a name not in the config, and a disk that is away: each with what to do
    const unknown = r.run(['backup', '--target', 'attic']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no target named "attic"[\s\S]*home, office/);
    r.detach('office');
    const away = r.run(['backup', '--target', 'office']);
    assert.equal(away.code, 3);
    assert.match(away.stderr, /the backup disk office .* is not attached[\s\S]*plug it in/);
    // unattended: a quiet skip
    const timer = r.run(['backup', '--scheduled', '--target', 'office']);
    assert.equal(timer.code, 0, timer.stderr);
    assert.match(timer.stderr, /no backup disk is attached \(office\)/);
  }),
);

// hostile cases (shared/HOSTILE.md): each named for its class

/** A config of its own for a case that needs no disk: refused before anything runs. */
function refusedConfig(targets: string): ReturnType<typeof cli> {
  const dir = tempDir('rotcfg');
  const config = join(dir, 'config.toml');
  writeFileSync(config, `host = "testhost"\nsources = ["/srv"]\n${targets}`);
  const out = cli(['backup', '--dry-run', '--config', config]);
  rmSync(dir, { recursive: true, force: true });
  return out;
}

test(
  "[ordering and agreement] the first disk refused and the second backed up in one run: the host's record keeps the run as failed",
  withRotation((r) => {
    writeFileSync(join(r.disks.home!.fs.mountPoint, '.token'), randomBytes(64), { mode: 0o600 });
    change(r);
    const out = r.run(['backup', '--json']);
    assert.equal(out.code, 1, 'one disk failed, one did not');
    assert.equal(onDisk(out, 'office').status, 'ok');
    assert.notEqual(r.record().lastRun?.exitCode, 0, "the second disk's success does not hide the first's failure");
  }),
);

test('[paths we are given] a target name with "/", "..", a newline or a leading "-" is refused with the rule, before anything runs', () => {
  for (const name of ['"a/b"', '".."', '"a\\nb"', '"-x"', '"../etc"']) {
    const out = refusedConfig(`[targets.${name}]\nmountpoint = "/mnt/x"\n`);
    assert.equal(out.code, 2, `${name}: ${out.stderr}`);
    assert.match(out.stderr, /is not a target name \(at most 24 characters: lower-case letters/);
    assert.match(out.stderr, /fix: name it with/);
  }
});

test('[two of us at once] two targets with one mount point (also written another way), or one inside the other: refused', () => {
  const same = refusedConfig('[targets.a]\nmountpoint = "/mnt/d"\n[targets.b]\nmountpoint = "/mnt//d/"\n');
  assert.equal(same.code, 2);
  assert.match(same.stderr, /\[targets\.a\] and \[targets\.b\] have the same mount point/);
  const nested = refusedConfig('[targets.a]\nmountpoint = "/mnt/d"\n[targets.b]\nmountpoint = "/mnt/d/e"\n');
  assert.equal(nested.code, 2);
  assert.match(nested.stderr, /one is inside the other/);
});

test('[two of us at once] [target] beside [targets.backup]: two targets of one name, refused with the fix', () => {
  const out = refusedConfig('[target]\nmountpoint = "/mnt/a"\n[targets.backup]\nmountpoint = "/mnt/b"\n');
  assert.equal(out.code, 2);
  assert.match(out.stderr, /\[target\] is the target named "backup" already/);
  assert.match(out.stderr, /fix: give \[targets\.backup\] another name/);
  // beside another name it is two disks
  const dir = tempDir('rotcfg');
  writeFileSync(
    join(dir, 'config.toml'),
    'host = "t"\nsources = ["/srv"]\n[target]\nmountpoint = "/mnt/a"\n[targets.x]\nmountpoint = "/mnt/b"\n',
  );
  const status = cli(['status', '--json', '--config', join(dir, 'config.toml')]);
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(
    json(status).targets.map((t: { name: string }) => t.name),
    ['backup', 'x'],
  );
});

test(
  "[two of us at once] one disk mounted at both disks' mount points (swapped in at the other's place): refused before anything is written",
  withRotation((r) => {
    r.detach('office');
    sh('mount', [r.disks.home!.fs.device, r.disks.office!.fs.mountPoint]);
    change(r);
    const out = r.run(['backup', '--json']);
    sh('umount', [r.disks.office!.fs.mountPoint]);
    assert.equal(out.code, 2, out.stderr);
    assert.match(
      out.stderr,
      /\[targets\.home\] and \[targets\.office\] have the same mount point \(or one filesystem mounted at both\)/,
    );
    assert.ok(!existsSync(join(r.disks.home!.fs.mountPoint, sourceName(r.data))), 'nothing written');
    assert.ok(!existsSync(r.snapDir), 'no snapshot made');
  }),
);

test(
  "[what we delete] the pin's snapshot deleted by hand: the disk's next run says so before it starts and is full; nothing else is deleted for it",
  withRotation((r) => {
    change(r);
    const first = r.run(['backup', '--json']);
    assert.equal(first.code, 0, first.stderr);
    r.detach('office');
    change(r);
    const second = r.run(['backup', '--json']);
    assert.equal(second.code, 0, second.stderr);
    const pin = onDisk(first, 'office').snapshot;
    sh('btrfs', ['subvolume', 'delete', join(r.snapDir, pin)]);
    const status = json(r.run(['status', '--json']));
    assert.ok(
      status.warnings.some(
        (w: { code: string; message: string }) =>
          w.code === 'pin-let-go' && /is no longer on the source/.test(w.message),
      ),
    );
    r.attach('office');
    const back = r.run(['backup', '--json']);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stderr.split('\n')[0]!, /office disk's newest snapshot .* is no longer on the source/);
    assert.equal(onDisk(back, 'office').mode, 'full');
    // the disk keeps its chain's new start; nothing of the source was deleted for the missing pin
    assert.ok(backupsOn(r, 'office').includes(onDisk(back, 'office').snapshot));
  }),
);

test(
  '[time] the clock set back: a disk "seen" in the future is away for no time, its pin is kept and no warning says otherwise',
  withRotation(
    (r) => {
      change(r);
      const first = r.run(['backup', '--json']);
      assert.equal(first.code, 0, first.stderr);
      r.detach('office');
      const rec = r.record();
      rec.targets!.office!.seen = new Date(Date.now() + 400 * 86_400_000).toISOString();
      r.writeRecord(rec);
      change(r);
      const out = r.run(['backup', '--json']);
      assert.equal(out.code, 0, out.stderr);
      assert.doesNotMatch(JSON.stringify(json(out)), /let go/);
      assert.ok(snapshotsOnSource(r).includes(onDisk(first, 'office').snapshot), 'the pin is kept');
      const status = json(r.run(['status', '--json']));
      assert.ok(!status.warnings.some((w: { code: string }) => w.code === 'target-away'));
    },
    { extraToml: PRUNE_SOURCE, targetToml: { office: 'keep_for_absent = "1d"\nmax_age = "1d"\n' } },
  ),
);

test(
  '[ordering and agreement] while a disk is away, list, prune --dry-run and status agree on what goes and on its pin',
  withRotation(
    (r) => {
      change(r);
      const first = r.run(['backup', '--json']);
      assert.equal(first.code, 0, first.stderr);
      const pin = onDisk(first, 'office').snapshot;
      r.detach('office');
      // two more runs with office away: retention prunes the source around office's pin
      for (let i = 0; i < 2; i++) {
        change(r);
        assert.equal(r.run(['backup']).code, 0);
      }
      const list = json(r.run(['list', '--json']));
      const rows = list.targets[0].sources[0].snapshots;
      assert.deepEqual(rows.find((x: { name: string }) => x.name === pin).retention.source, ['pin of office']);
      const dry = json(r.run(['prune', '--dry-run', '--json']));
      const decisions = dry.targets[0].sources[0].snapshots.source;
      const kept = (d: { keep: boolean }[]) => d.filter((x) => x.keep).length;
      assert.equal(
        rows.filter(
          (x: { source: boolean; retention?: { source?: string[] } }) => x.source && x.retention?.source?.length,
        ).length,
        kept(decisions),
      );
      const status = json(r.run(['status', '--json']));
      assert.equal(status.sources[0].retentionWouldDelete.source, decisions.length - kept(decisions));
      assert.equal(status.targets.find((t: { name: string }) => t.name === 'office').pins[0].snapshot, pin);
    },
    { extraToml: PRUNE_SOURCE },
  ),
);
