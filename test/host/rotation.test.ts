import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
