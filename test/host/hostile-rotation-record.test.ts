import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { cli, spawnCli } from '../support/cli.js';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../support/loop-disk.js';
import { json } from '../support/scenario.js';
import { tempDir } from '../support/scratch.js';
import { sh } from '../support/sh.js';
import { waitFor } from '../support/wait.js';
import { isSnapshotName, sourceName } from '../../src/core/naming.js';
import { hostRecordFile, type HostRecord } from '../../src/system/host-record.js';

// Several backup disks and what decides from them: the host's record written by runs on
// two disks at once, and a disk's backups read only once its token matched (list,
// restore's and files' choice of disk, status, retention's pins). Two sources, two
// plain btrfs disks and a foreign one (its own token, a folder of the source with newer
// names), 256 MiB each on loop devices, shared by every case; each case has a config of
// its own (so a record of its own) and leaves the disks as it found them.
before(() => requireRoot());

interface Disk {
  fs: LoopFs;
  token: Buffer;
  hashFile: string;
}

let dir: string;
let src: LoopFs;
let etc: string;
let foreign: LoopFs;
const disks: Record<string, Disk> = {};
const configs: string[] = [];

before(() => {
  dir = tempDir('hrec');
  src = makeLoopBtrfs(dir, 'src', 256);
  etc = join(dir, 'etc');
  mkdirSync(etc, { mode: 0o700 });
  for (const name of ['home', 'office']) {
    const fs = makeLoopBtrfs(dir, `disk-${name}`, 256);
    const token = randomBytes(64);
    writeFileSync(join(fs.mountPoint, '.token'), token, { mode: 0o600 });
    const hashFile = join(etc, `token-${name}.sha512`);
    writeFileSync(hashFile, `${sha512(token)}  ${join(fs.mountPoint, '.token')}\n`, { mode: 0o600 });
    disks[name] = { fs, token, hashFile };
  }
  // someone else's disk: a token of its own; unmounted from its own place, it is put at office's
  foreign = makeLoopBtrfs(dir, 'foreign', 256);
  writeFileSync(join(foreign.mountPoint, '.token'), randomBytes(64), { mode: 0o600 });
  sh('umount', [foreign.mountPoint]);
});

after(() => {
  restoreDisks();
  for (const d of Object.values(disks)) d.fs.dispose();
  foreign?.dispose();
  src?.dispose();
  for (const c of configs) for (const f of [hostRecordFile(c), `${hostRecordFile(c)}.bad`]) rmSync(f, { force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function sha512(b: Buffer): string {
  return createHash('sha512').update(b).digest('hex');
}

function mountedAt(mountPoint: string): string | undefined {
  try {
    return sh('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', mountPoint]).trim();
  } catch {
    return undefined;
  }
}

/** Both disks back at their places, the foreign one nowhere. */
function restoreDisks(): void {
  for (const d of Object.values(disks)) {
    const at = mountedAt(d.fs.mountPoint);
    if (at && at !== d.fs.device) sh('umount', [d.fs.mountPoint]);
    if (!mountedAt(d.fs.mountPoint)) sh('mount', [d.fs.device, d.fs.mountPoint]);
  }
}

afterEach(() => restoreDisks());

/** The foreign disk at a disk's place, holding a folder of the source with a backup named newer than any of ours. */
function foreignAt(disk: string, c: Case): string {
  const at = disks[disk]!.fs.mountPoint;
  sh('umount', [at]);
  sh('mount', [foreign.device, at]);
  const folder = join(at, sourceName(c.data1));
  mkdirSync(folder, { recursive: true });
  const newer = '2026-12-31_23-00-00';
  if (!existsSync(join(folder, newer))) sh('btrfs', ['-q', 'subvolume', 'create', join(folder, newer)]);
  writeFileSync(join(folder, newer, 'planted.txt'), 'not yours\n');
  rmSync(join(folder, 'latest'), { force: true });
  symlinkSync(newer, join(folder, 'latest'));
  return newer;
}

interface Case {
  config: string;
  data1: string;
  data2: string;
  run(args: string[], env?: Record<string, string>): ReturnType<typeof cli>;
  spawn(args: string[], env?: Record<string, string>): Running;
  record(): HostRecord;
  recordFile: string;
  snapDir(data: string): string;
}

interface Running {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}

const TARGETS = ['home', 'office']
  .map(
    (n) =>
      `[targets.${n}]\nmountpoint = ${JSON.stringify(disks[n]!.fs.mountPoint)}\ntoken_sha512 = ${JSON.stringify(disks[n]!.hashFile)}\n`,
  )
  .join('\n');

const RETAIN = '[retention.source]\nkeep_last = 10\ndaily = 0\n[retention.target]\nkeep_last = 10\ndaily = 0\n';

/** Two sources of its own, a config (so a host record) of its own. */
function makeCase(name: string, extra = RETAIN): Case {
  const data1 = join(src.mountPoint, `${name}-a`);
  const data2 = join(src.mountPoint, `${name}-b`);
  for (const d of [data1, data2]) sh('btrfs', ['-q', 'subvolume', 'create', d]);
  const config = join(etc, `${name}.toml`);
  configs.push(config);
  const snapshots = join(src.mountPoint, `snaps-${name}`);
  writeFileSync(
    config,
    `host = "testhost"\nsources = [${JSON.stringify(data1)}, ${JSON.stringify(data2)}]\nsnapshot_dir = ${JSON.stringify(snapshots)}\n${extra}\n${TARGETS}`,
  );
  return {
    config,
    data1,
    data2,
    run: (args, env) => cli([...args, '--config', config], env),
    spawn: (args, env) => {
      const child = spawnCli([...args, '--config', config], env);
      const out = { stdout: '', stderr: '' };
      child.stdout!.on('data', (b: Buffer) => (out.stdout += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (out.stderr += b.toString()));
      const done = new Promise<{ code: number; stdout: string; stderr: string }>((res) =>
        child.on('exit', (code) => res({ code: code ?? -1, ...out })),
      );
      return { child, out, done };
    },
    record: () => JSON.parse(readFileSync(hostRecordFile(config), 'utf8')) as HostRecord,
    recordFile: hostRecordFile(config),
    snapDir: (data) => join(snapshots, sourceName(data)),
  };
}

function change(data: string, what = randomBytes(6).toString('hex')): void {
  writeFileSync(join(data, `${what}.txt`), `${what}\n`.repeat(50));
}

function ok(out: ReturnType<typeof cli>, what = ''): ReturnType<typeof cli> {
  assert.equal(out.code, 0, `${what}: ${out.stderr}${out.stdout}`);
  return out;
}

/** Each run stops in its moment with the record for that long, so two runs' moments overlap for certain. */
const PAUSE = { BTRFS_VAULT_TEST_PAUSE_AT: 'host-record:2500' };

// ---------------------------------------------------------------- [two of us at once]

test("[two of us at once] backup --target home and backup --target office (another source) at once, three times, each in its record moment together: the host's record keeps both runs' pins, last backups and sources", async () => {
  const c = makeCase('together');
  const a = sourceName(c.data1);
  const b = sourceName(c.data2);
  for (let round = 0; round < 3; round++) {
    change(c.data1);
    change(c.data2);
    const home = c.spawn(['backup', '--json', '--target', 'home', c.data1], PAUSE);
    const office = c.spawn(['backup', '--json', '--target', 'office', c.data2], PAUSE);
    const [h, o] = await Promise.all([home.done, office.done]);
    assert.equal(h.code, 0, `home, round ${round}: ${h.stderr}${h.stdout}`);
    assert.equal(o.code, 0, `office, round ${round}: ${o.stderr}${o.stdout}`);
    assert.match(h.stderr + o.stderr, /paused at host-record/, 'the runs got to their record moment');
    const homeSnap = json(h).targets[0].sources[0].snapshot as string;
    const officeSnap = json(o).targets[0].sources[0].snapshot as string;
    const rec = c.record();
    assert.equal(rec.targets?.home?.pins?.[a]?.snapshot, homeSnap, `round ${round}: home's pin of ${a} kept`);
    assert.equal(rec.targets?.office?.pins?.[b]?.snapshot, officeSnap, `round ${round}: office's pin of ${b} kept`);
    assert.ok(rec.targets?.home?.lastBackup && rec.targets.office?.lastBackup, `round ${round}: both last backups`);
    assert.equal(rec.sources[a]?.snapshot, homeSnap, `round ${round}: ${a}'s last success`);
    assert.equal(rec.sources[b]?.snapshot, officeSnap, `round ${round}: ${b}'s last success`);
  }
});

test('[two of us at once] backup to home, prune of office and restore from office at once (three runs, two disks): each is done or refused by a lock with the reason, none crashes; the restore is whole and the record keeps the backup', async () => {
  const c = makeCase('threeatonce');
  change(c.data1, 'one');
  change(c.data2, 'two');
  ok(c.run(['backup']));
  change(c.data1, 'three');
  const to = join(src.mountPoint, 'threeatonce-to');
  mkdirSync(to);
  const runs = [
    c.spawn(['backup', '--json', '--target', 'home', c.data1], PAUSE),
    c.spawn(['prune', '--json', '--target', 'office', c.data2]),
    c.spawn(['restore', '--json', '--target', 'office', c.data2, '--to', to]),
  ];
  const [backup, prune, restore] = await Promise.all(runs.map((r) => r.done));
  assert.equal(backup!.code, 0, backup!.stderr + backup!.stdout);
  for (const [what, r] of [
    ['prune', prune!],
    ['restore', restore!],
  ] as const) {
    assert.ok(r.code !== 70 && !/internal error|TypeError/i.test(r.stderr), `${what}: ${r.code} ${r.stderr}`);
    if (r.code !== 0) assert.match(r.stdout + r.stderr, /another btrfs-vault run .* is working with/, what);
  }
  if (restore!.code === 0) {
    const restored = json(restore!).restored as string;
    assert.equal(readFileSync(join(restored, 'two.txt'), 'utf8'), 'two\n'.repeat(50));
  }
  const snap = json(backup!).targets[0].sources[0].snapshot as string;
  assert.equal(c.record().targets?.home?.pins?.[sourceName(c.data1)]?.snapshot, snap);
});

test('[two of us at once] status read over and over while two runs write the record at once: always a whole record, never a crash', async () => {
  const c = makeCase('readers');
  change(c.data1);
  change(c.data2);
  ok(c.run(['backup']));
  change(c.data1);
  change(c.data2);
  const runs = [
    c.spawn(['backup', '--json', '--target', 'home', c.data1], PAUSE),
    c.spawn(['backup', '--json', '--target', 'office', c.data2], PAUSE),
  ];
  let reads = 0;
  const until = Promise.all(runs.map((r) => r.done));
  let finished = false;
  void until.then(() => (finished = true));
  while (!finished) {
    // run without blocking, so the runs' ends are heard
    const s = await c.spawn(['status', '--json']).done;
    assert.ok(s.code === 0 || s.code === 1, `status: ${s.code} ${s.stderr}`);
    assert.ok(!json(s).warnings.some((w: { code: string }) => w.code === 'host-record-unreadable'), s.stdout);
    reads++;
  }
  for (const r of await until) assert.equal(r.code, 0, r.stderr);
  assert.ok(reads >= 2, `status read ${reads} times while the runs wrote`);
  JSON.parse(readFileSync(c.recordFile, 'utf8'));
});

// ---------------------------------------------------------------- [signals and power]

test("[signals and power] a run killed (SIGKILL) in its record moment, holding the record's lock: the next run is not kept waiting, and the record is whole and has its backup", async () => {
  const c = makeCase('killedholder');
  change(c.data1);
  ok(c.run(['backup']));
  const before = readFileSync(c.recordFile, 'utf8');
  change(c.data1);
  const held = c.spawn(['backup', '--json', '--target', 'home', c.data1], {
    BTRFS_VAULT_TEST_PAUSE_AT: 'host-record:60000',
  });
  await waitFor(() => held.out.stderr.includes('paused at host-record'), 60_000);
  held.child.kill('SIGKILL');
  await held.done;
  assert.equal(readFileSync(c.recordFile, 'utf8'), before, 'the killed run wrote nothing');
  const started = Date.now();
  const next = ok(c.run(['backup', '--json', '--target', 'office', c.data2]));
  assert.ok(Date.now() - started < 30_000, 'not kept waiting for the dead run');
  assert.doesNotMatch(next.stdout + next.stderr, /could not be written/);
  const snap = json(next).targets[0].sources[0].snapshot as string;
  assert.equal(c.record().targets?.office?.pins?.[sourceName(c.data2)]?.snapshot, snap);
  assert.deepEqual(
    readdirSync(join(c.recordFile, '..')).filter(
      (f) => f.startsWith(c.recordFile.split('/').at(-1)!) && f.endsWith('.tmp'),
    ),
    [],
    'no temporary file of the record left',
  );
});

// ---------------------------------------------------------------- [what we read back]

test("[what we read back] the host's record edited by hand into text that is not JSON: backup is made and says the record is left as it is with the fix, the file is not replaced; status names it with the fix, exit 0", () => {
  const c = makeCase('garbage');
  change(c.data1);
  ok(c.run(['backup']));
  const garbage = '{"config": "x", "sources": {  <- half an edit\n';
  writeFileSync(c.recordFile, garbage);
  change(c.data1);
  const out = ok(c.run(['backup', '--json']));
  const said = JSON.stringify(json(out));
  assert.match(said, /record .* is left as it is: it is not JSON/);
  assert.match(said, /mv .*\.json .*\.json\.bad/);
  assert.equal(readFileSync(c.recordFile, 'utf8'), garbage, 'never overwritten silently');
  const status = c.run(['status', '--json']);
  assert.equal(status.code, 0, status.stderr);
  const w = json(status).warnings.find((x: { code: string }) => x.code === 'host-record-unreadable');
  assert.ok(w, status.stdout);
  assert.match(w.fix, /mv /);
  // the fix as said: the next run starts a new record
  sh('mv', [c.recordFile, `${c.recordFile}.bad`]);
  ok(c.run(['backup']));
  assert.ok(c.record().targets?.home?.pins?.[sourceName(c.data1)]);
});

test("[what we read back] the host's record replaced by JSON of another shape (an array, null, sources a number): refused with the fix, left as it is, nothing crashes", () => {
  const c = makeCase('othershape');
  change(c.data1);
  ok(c.run(['backup']));
  for (const text of ['[]', 'null', '{"sources": 5}', '"a string"']) {
    writeFileSync(c.recordFile, text);
    change(c.data1);
    const out = ok(c.run(['backup', '--json']), text);
    assert.match(out.stdout, /left as it is: it is not a record of backups/, text);
    assert.equal(readFileSync(c.recordFile, 'utf8'), text, `${text}: not replaced`);
    for (const args of [
      ['status', '--json'],
      ['list', '--json'],
      ['prune', '--dry-run', '--json'],
      ['files', c.data1, 'x'],
    ]) {
      const r = c.run(args);
      assert.ok(
        r.code !== 70 && !/internal error|TypeError/i.test(r.stderr),
        `${text}, ${args[0]}: ${r.code} ${r.stderr}`,
      );
    }
  }
});

test("[what we read back] the host's record is a symlink (to a file of someone else's) or a folder: nothing is written through it or into it, status does not crash, the backup is made", () => {
  const c = makeCase('recordlink');
  change(c.data1);
  ok(c.run(['backup']));
  const victim = join(dir, 'victim.txt');
  writeFileSync(victim, 'keep me\n');
  rmSync(c.recordFile);
  symlinkSync(victim, c.recordFile);
  change(c.data1);
  const out = ok(c.run(['backup', '--json']));
  assert.equal(readFileSync(victim, 'utf8'), 'keep me\n', 'not written through the link');
  // never read through it either: a link is no record (the run's record replaces the link, not its target)
  assert.equal(json(out).targets[0].sources[0].status, 'ok');
  const status = c.run(['status', '--json']);
  assert.ok(status.code === 0 || status.code === 1, `${status.code} ${status.stderr}`);
  rmSync(c.recordFile, { force: true });
  mkdirSync(c.recordFile);
  try {
    change(c.data1);
    const again = ok(c.run(['backup', '--json']));
    assert.match(again.stdout, /left as it is/);
    assert.ok(lstatSync(c.recordFile).isDirectory());
    const s2 = c.run(['status', '--json']);
    assert.ok(s2.code === 0 || s2.code === 1, `${s2.code} ${s2.stderr}`);
  } finally {
    rmSync(c.recordFile, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- [ordering and agreement]

test("[ordering and agreement] list with a foreign disk at office's place (a folder of the source, newer names): office is named as refused by its token and not read, home is listed, exit 1", () => {
  const c = makeCase('listforeign');
  change(c.data1);
  ok(c.run(['backup']));
  const planted = foreignAt('office', c);
  const out = c.run(['list', '--json']);
  assert.equal(out.code, 1, out.stdout + out.stderr);
  const report = json(out);
  const office = report.targets.find((t: { name: string }) => t.name === 'office');
  assert.equal(office.ok, false, JSON.stringify(office));
  assert.match(office.error, /token/);
  assert.ok(office.fix, 'the fix is named');
  assert.doesNotMatch(out.stdout, new RegExp(planted), 'nothing of the foreign disk is shown');
  const home = report.targets.find((t: { name: string }) => t.name === 'home');
  assert.ok(
    home.sources[0].snapshots.some((r: { target: boolean }) => r.target),
    'home listed',
  );
  const text = c.run(['list', '--target', 'office']);
  assert.equal(text.code, 3, text.stdout + text.stderr);
  assert.match(text.stdout + text.stderr, /refusing the backup filesystem at .*token/);
  assert.doesNotMatch(text.stdout, new RegExp(planted));
});

test("[ordering and agreement] restore and files without --target, a foreign disk at office's place with newer names: home is read (its newest backup), office is named as refused and not read", () => {
  const c = makeCase('pickforeign');
  change(c.data1, 'ours');
  ok(c.run(['backup']));
  foreignAt('office', c);
  const to = join(src.mountPoint, 'pickforeign-to');
  mkdirSync(to);
  const restored = c.run(['restore', '--json', c.data1, '--to', to]);
  assert.equal(restored.code, 0, restored.stderr + restored.stdout);
  assert.match(restored.stderr, /reading from the backup disk home/);
  assert.match(restored.stderr, /office's place .* is refused and was not read: its token/);
  assert.equal(readFileSync(join(json(restored).restored, 'ours.txt'), 'utf8'), 'ours\n'.repeat(50));
  const files = c.run(['files', '--json', c.data1, 'ours.txt']);
  assert.equal(files.code, 0, files.stderr);
  assert.match(files.stderr, /reading from the backup disk home/);
  assert.equal(json(files).versions.length, 1);
});

test('[ordering and agreement] restore without --target picks office, then office is swapped for a foreign disk before the read: the restore refuses it by its token (exit 3), nothing restored', async () => {
  const c = makeCase('swapped');
  change(c.data1, 'first');
  ok(c.run(['backup']));
  sh('umount', [disks.home!.fs.mountPoint]);
  change(c.data1, 'second');
  ok(c.run(['backup', '--target', 'office']));
  sh('mount', [disks.home!.fs.device, disks.home!.fs.mountPoint]);
  const to = join(src.mountPoint, 'swapped-to');
  mkdirSync(to);
  // the swap takes well under the pause: the restore goes on with office chosen and the foreign disk there
  const run = c.spawn(['restore', '--json', c.data1, '--to', to], { BTRFS_VAULT_TEST_PAUSE_AT: 'disk-chosen:5000' });
  await waitFor(() => run.out.stderr.includes('paused at disk-chosen'), 60_000);
  foreignAt('office', c);
  const r = await run.done;
  assert.match(r.stderr, /reading from the backup disk office/);
  assert.equal(r.code, 3, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /token/);
  assert.deepEqual(readdirSync(to), [], 'nothing restored');
});

test("[ordering and agreement] status with a foreign disk at the shown disk's place: a warning names it with the fix, its backups are not counted as ours", () => {
  const c = makeCase('statusforeign');
  change(c.data1);
  ok(c.run(['backup']));
  const own = json(c.run(['status', '--json']));
  assert.equal(own.sources[0].snapshots.target, 1, 'our disk counted');
  foreignAt('home', c);
  const s = c.run(['status', '--json']);
  const report = json(s);
  const w = report.warnings.find((x: { code: string }) => x.code === 'foreign-disk');
  assert.ok(w, s.stdout);
  assert.match(w.message, /token/);
  assert.ok(w.fix);
  assert.equal(report.sources[0].snapshots.target, null, 'the foreign disk not read');
  assert.equal(report.sources[0].nextParent, null);
  assert.equal(c.run(['status', '--check']).code, 1);
});

// ---------------------------------------------------------------- [what we delete]

test("[what we delete] a foreign disk at office's place whose latest names an old snapshot of ours: it pins nothing; the source's retention deletes it as configured", () => {
  const c = makeCase('foreignpin', '[retention.source]\nkeep_last = 1\ndaily = 0\n');
  change(c.data1);
  ok(c.run(['backup', '--target', 'home', c.data1]));
  const snaps = () => readdirSync(c.snapDir(c.data1)).filter(isSnapshotName).sort();
  const old = snaps()[0]!;
  const at = disks.office!.fs.mountPoint;
  sh('umount', [at]);
  sh('mount', [foreign.device, at]);
  const folder = join(at, sourceName(c.data1));
  mkdirSync(folder, { recursive: true });
  rmSync(join(folder, 'latest'), { force: true });
  symlinkSync(old, join(folder, 'latest'));
  change(c.data1);
  const out = c.run(['backup', '--json', '--target', 'home', c.data1]);
  assert.equal(out.code, 0, out.stderr + out.stdout);
  assert.ok(!snaps().includes(old), `the foreign disk's link kept ${old}: ${snaps().join(' ')}`);
  assert.ok(json(out).targets[0].sources[0].pruned.source.includes(old), 'retention says it deleted it');
});

test("[what we delete] the host's record not readable (edited by hand) while office is away: home's run and prune delete no snapshot of the source (office's pin is in that record), and say why with the fix; office's next run is incremental", () => {
  const c = makeCase('pinsunread', '[retention.source]\nkeep_last = 1\ndaily = 0\n');
  change(c.data1);
  ok(c.run(['backup', c.data1]));
  const pin = c.record().targets!.office!.pins![sourceName(c.data1)]!.snapshot;
  sh('umount', [disks.office!.fs.mountPoint]);
  writeFileSync(c.recordFile, 'not a record\n');
  change(c.data1);
  const out = ok(c.run(['backup', '--json', c.data1]));
  assert.match(JSON.stringify(json(out)), /nothing of .* is deleted while the other targets' pins cannot be read/);
  const snaps = () => readdirSync(c.snapDir(c.data1)).filter(isSnapshotName);
  assert.ok(snaps().includes(pin), "office's pin kept");
  const prune = c.run(['prune', '--json', c.data1]);
  assert.notEqual(prune.code, 0, prune.stdout);
  assert.match(prune.stdout + prune.stderr, /mv .*\.bad/);
  assert.ok(snaps().includes(pin), "office's pin kept by prune");
  assert.equal(readFileSync(c.recordFile, 'utf8'), 'not a record\n');
  sh('mv', [c.recordFile, `${c.recordFile}.bad`]);
  sh('mount', [disks.office!.fs.device, disks.office!.fs.mountPoint]);
  change(c.data1);
  const back = ok(c.run(['backup', '--json', '--target', 'office', c.data1]));
  assert.equal(json(back).targets[0].sources[0].mode, 'incremental');
  assert.equal(json(back).targets[0].sources[0].parent, pin);
});
