import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
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

// Rotation (several backup disks) attacked from outside: one source filesystem and two
// plain btrfs disks on loop devices, shared by every case. Each case has a config of its
// own (so a host record of its own) and a source subvolume of its own (so a chain of its
// own on each disk); each leaves both disks attached as it found them. 512 MiB each, as
// the cases' data adds up on the shared filesystems.
before(() => requireRoot());

interface Disk {
  name: string;
  fs: LoopFs;
  token: Buffer;
  hashFile: string;
}

let dir: string;
let src: LoopFs;
let etc: string;
const disks: Record<string, Disk> = {};
const configs: string[] = [];

before(() => {
  dir = tempDir('hrot');
  src = makeLoopBtrfs(dir, 'src', 512);
  etc = join(dir, 'etc');
  mkdirSync(etc, { mode: 0o700 });
  for (const name of ['home', 'office']) {
    const fs = makeLoopBtrfs(dir, `disk-${name}`, 512);
    const token = randomBytes(64);
    writeFileSync(join(fs.mountPoint, '.token'), token, { mode: 0o600 });
    const hashFile = join(etc, `token-${name}.sha512`);
    writeFileSync(hashFile, `${sha512(token)}  ${join(fs.mountPoint, '.token')}\n`, { mode: 0o600 });
    disks[name] = { name, fs, token, hashFile };
  }
});

after(() => {
  for (const d of Object.values(disks)) d.fs.dispose();
  src?.dispose();
  for (const c of configs) rmSync(hostRecordFile(c), { force: true });
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

function attach(name: string): void {
  const d = disks[name]!;
  if (!mountedAt(d.fs.mountPoint)) sh('mount', [d.fs.device, d.fs.mountPoint]);
}

function detach(name: string): void {
  if (mountedAt(disks[name]!.fs.mountPoint)) sh('umount', [disks[name]!.fs.mountPoint]);
}

/** Both disks back at their places, whatever a case did. */
function restoreDisks(): void {
  for (const d of Object.values(disks)) {
    const at = mountedAt(d.fs.mountPoint);
    if (at && at !== d.fs.device) sh('umount', [d.fs.mountPoint]);
  }
  attach('home');
  attach('office');
}

interface Case {
  name: string;
  config: string;
  data: string;
  snapDir: string;
  run(args: string[], env?: Record<string, string>): ReturnType<typeof cli>;
  record(): HostRecord;
  writeRecord(r: HostRecord): void;
  /** the config's text with its [targets.*] tables replaced */
  writeConfig(targets: string, extra?: string): void;
  backupDir(disk: string): string;
}

const TARGETS = (o: { home?: string; office?: string } = {}) =>
  ['home', 'office']
    .map(
      (n) =>
        `[targets.${n}]\nmountpoint = ${JSON.stringify(disks[n]!.fs.mountPoint)}\ntoken_sha512 = ${JSON.stringify(disks[n]!.hashFile)}\n${(o as Record<string, string | undefined>)[n] ?? ''}`,
    )
    .join('\n');

/** A case of its own: a source subvolume, a snapshot folder and a config (so a host record). */
function makeCase(name: string, o: { extra?: string; targets?: string } = {}): Case {
  const data = join(src.mountPoint, name);
  sh('btrfs', ['-q', 'subvolume', 'create', data]);
  const config = join(etc, `${name}.toml`);
  configs.push(config);
  const snapshots = join(src.mountPoint, `snaps-${name}`);
  const writeConfig = (targets: string, extra = o.extra ?? RETAIN) =>
    writeFileSync(
      config,
      `host = "testhost"\nsources = [${JSON.stringify(data)}]\nsnapshot_dir = ${JSON.stringify(snapshots)}\n${extra}\n${targets}`,
    );
  writeConfig(o.targets ?? TARGETS());
  return {
    name,
    config,
    data,
    snapDir: join(snapshots, sourceName(data)),
    run: (args, env) => cli([...args, '--config', config], env),
    record: () => JSON.parse(readFileSync(hostRecordFile(config), 'utf8')) as HostRecord,
    writeRecord: (r) => writeFileSync(hostRecordFile(config), JSON.stringify(r)),
    writeConfig,
    backupDir: (disk) => join(disks[disk]!.fs.mountPoint, sourceName(data)),
  };
}

// whatever a case did to the disks, the next one finds both at their places
afterEach(() => restoreDisks());

function change(c: Case, what = randomBytes(6).toString('hex')): void {
  writeFileSync(join(c.data, `${what}.txt`), `${what}\n`.repeat(50));
}

const onSource = (c: Case) => (existsSync(c.snapDir) ? readdirSync(c.snapDir).filter(isSnapshotName).sort() : []);
const onDiskList = (c: Case, disk: string) =>
  existsSync(c.backupDir(disk)) ? readdirSync(c.backupDir(disk)).filter(isSnapshotName).sort() : [];

/** One disk's source report in a rotation run's JSON. */
function onDisk(out: { stdout: string; stderr: string }, disk: string) {
  const t = json(out).targets.find((x: { name: string }) => x.name === disk);
  assert.ok(t, `a report for ${disk}: ${out.stdout}${out.stderr}`);
  return t.sources[0];
}

function ok(out: ReturnType<typeof cli>, what = ''): ReturnType<typeof cli> {
  assert.equal(out.code, 0, `${what}: ${out.stderr}${out.stdout}`);
  return out;
}

const RETAIN = '[retention.source]\nkeep_last = 10\ndaily = 0\n[retention.target]\nkeep_last = 10\ndaily = 0\n';
const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();
const PRUNE_SOURCE = '[retention.source]\nkeep_last = 1\ndaily = 0\n';

// ---------------------------------------------------------------- [time]

test('[time] both disks back after a long absence (past keep_for_absent): the first disk run does not let the other attached disk pin go, so its run is incremental', () => {
  const c = makeCase('longaway', { extra: PRUNE_SOURCE, targets: TARGETS({ office: 'keep_for_absent = "7d"\n' }) });
  change(c);
  ok(c.run(['backup']));
  detach('office');
  change(c);
  ok(c.run(['backup']));
  const pin = c.record().targets!.office!.pins![sourceName(c.data)]!.snapshot;
  // a holiday: neither disk was plugged in for 40 days, so no run pruned anything
  const rec = c.record();
  rec.targets!.office!.seen = daysAgo(40);
  rec.targets!.home!.seen = daysAgo(40);
  c.writeRecord(rec);
  attach('office');
  change(c);
  const out = ok(c.run(['backup', '--json']));
  assert.equal(onDisk(out, 'office').mode, 'incremental', 'office is attached: not away');
  assert.equal(onDisk(out, 'office').parent, pin);
  assert.doesNotMatch(out.stdout + out.stderr, /let go/);
});

test('[time] keep_for_absent = "0d", a disk away for ever: its pin is let go at once, the source pruned, status says so; back, its run is full and announced', () => {
  const c = makeCase('zerodays', { extra: PRUNE_SOURCE, targets: TARGETS({ office: 'keep_for_absent = "0d"\n' }) });
  change(c);
  const first = ok(c.run(['backup', '--json']));
  const pin = onDisk(first, 'office').snapshot;
  detach('office');
  change(c);
  const second = ok(c.run(['backup', '--json']));
  assert.match(onDisk(second, 'home').warnings.join('\n'), /office disk has not been seen .* is let go/);
  assert.ok(!onSource(c).includes(pin), 'let go at once');
  const status = json(c.run(['status', '--json']));
  const office = status.targets.find((t: { name: string }) => t.name === 'office');
  assert.equal(office.pins[0].onSource, false);
  assert.ok(status.warnings.some((w: { code: string }) => w.code === 'pin-let-go'));
  attach('office');
  const back = ok(c.run(['backup', '--json']));
  assert.match(back.stderr.split('\n')[0]!, /office disk's newest snapshot .* is no longer on the source/);
  assert.equal(onDisk(back, 'office').mode, 'full');
});

test('[time] max_age at its edge: away a day less than max_age is no warning, a day more is one; a clock set forward makes no negative ages', () => {
  const c = makeCase('maxage', { targets: TARGETS({ office: 'max_age = "10d"\n' }) });
  change(c);
  ok(c.run(['backup']));
  detach('office');
  const rec = c.record();
  rec.targets!.office!.seen = daysAgo(9);
  c.writeRecord(rec);
  const young = c.run(['status', '--json', '--check']);
  assert.equal(young.code, 0, young.stdout);
  rec.targets!.office!.seen = daysAgo(11);
  c.writeRecord(rec);
  const old = c.run(['status', '--json', '--check']);
  assert.equal(old.code, 1);
  assert.ok(json(old).warnings.some((w: { code: string; target: string }) => w.code === 'target-away'));
  // last backup "in the future" (a clock that was set forward, now set back)
  rec.targets!.office!.lastBackup = new Date(Date.now() + 5 * 86_400_000).toISOString();
  rec.targets!.office!.seen = new Date(Date.now() + 5 * 86_400_000).toISOString();
  c.writeRecord(rec);
  const future = json(c.run(['status', '--json']));
  const office = future.targets.find((t: { name: string }) => t.name === 'office');
  assert.ok(office.ageSeconds >= 0, `age ${office.ageSeconds}`);
  assert.ok(!future.warnings.some((w: { code: string }) => w.code === 'target-away'));
});

// ---------------------------------------------------------------- [ordering and agreement]

test('[ordering and agreement] restore and files without --target on a rebuilt machine (no host record): they read the attached disk that holds the newest backup, and say which', () => {
  const c = makeCase('rebuilt');
  change(c, 'first');
  ok(c.run(['backup']));
  detach('home');
  change(c, 'second');
  const second = ok(c.run(['backup', '--json']));
  const newest = onDisk(second, 'office').snapshot;
  attach('home');
  // the machine rebuilt: /var/lib/btrfs-vault is empty, both disks are plugged in
  rmSync(hostRecordFile(c.config));
  const files = c.run(['files', '--json', c.data, 'second.txt']);
  assert.equal(files.code, 0, files.stderr);
  assert.match(files.stderr, /reading from the backup disk office/, 'office holds the newest backup');
  assert.equal(json(files).versions.length, 1, 'second.txt is in the newest backup');
  const to = join(src.mountPoint, 'rebuilt-to');
  mkdirSync(to);
  const restored = c.run(['restore', '--json', c.data, '--to', to]);
  assert.equal(restored.code, 0, restored.stderr);
  assert.equal(json(restored).restored, join(to, newest));
  assert.ok(existsSync(join(to, newest, 'second.txt')));
  sh('btrfs', ['-q', 'subvolume', 'delete', join(to, newest)]);
});

test("[ordering and agreement] the record says office is newest but office's newest backup was deleted by hand: restore reads the disk whose newest backup is newest, and the line it says is true", () => {
  const c = makeCase('stalerec');
  change(c, 'first');
  ok(c.run(['backup']));
  detach('office');
  change(c, 'second');
  ok(c.run(['backup']));
  attach('office');
  detach('home');
  change(c, 'third');
  const third = ok(c.run(['backup', '--json']));
  attach('home');
  // office's newest backup (third) deleted by hand on the disk: office now holds the oldest
  const gone = onDisk(third, 'office').snapshot;
  sh('btrfs', ['-q', 'subvolume', 'delete', join(c.backupDir('office'), gone)]);
  rmSync(join(c.backupDir('office'), 'latest'), { force: true });
  const files = c.run(['files', '--json', c.data, 'second.txt']);
  assert.equal(files.code, 0, files.stderr);
  assert.match(files.stderr, /reading from the backup disk home/, files.stderr);
  assert.doesNotMatch(files.stderr, new RegExp(`newest backup of this source is ${gone}`));
  assert.equal(json(files).versions.length, 1);
});

test('[ordering and agreement] --dry-run with two disks says per disk what the run then does (full or incremental, and from which parent)', () => {
  const c = makeCase('dryagree');
  change(c);
  ok(c.run(['backup']));
  detach('office');
  change(c);
  ok(c.run(['backup']));
  attach('office');
  change(c);
  const dry = ok(c.run(['backup', '--dry-run', '--json']));
  const real = ok(c.run(['backup', '--json']));
  for (const d of ['home', 'office']) {
    assert.equal(onDisk(dry, d).mode, onDisk(real, d).mode, `${d}: mode`);
    assert.equal(onDisk(dry, d).parent, onDisk(real, d).parent, `${d}: parent`);
  }
});

test('[ordering and agreement] list, status and the host record agree per disk on the newest backup each holds; --json has one object per disk, named', () => {
  const c = makeCase('agree');
  change(c);
  ok(c.run(['backup']));
  detach('office');
  change(c);
  ok(c.run(['backup']));
  attach('office');
  const list = json(ok(c.run(['list', '--json'])));
  const status = json(ok(c.run(['status', '--json'])));
  assert.deepEqual(
    list.targets.map((t: { name: string }) => t.name),
    ['home', 'office'],
  );
  for (const d of ['home', 'office']) {
    const rows = list.targets.find((t: { name: string }) => t.name === d).sources[0].snapshots;
    const newestOnDisk = rows
      .filter((r: { target: boolean }) => r.target)
      .map((r: { name: string }) => r.name)
      .sort()
      .at(-1);
    const st = status.targets.find((t: { name: string }) => t.name === d);
    assert.equal(st.pins[0].snapshot, newestOnDisk, `${d}: status pin = list's newest on the disk`);
    assert.deepEqual(onDiskList(c, d).at(-1), newestOnDisk, `${d}: and the disk itself`);
  }
});

test('[ordering and agreement] a target removed from the config: its pin no longer keeps a snapshot, status no longer names it, its disk is left alone', () => {
  const c = makeCase('removed', { extra: PRUNE_SOURCE });
  change(c);
  const first = ok(c.run(['backup', '--json']));
  const pin = onDisk(first, 'office').snapshot;
  detach('office');
  change(c);
  ok(c.run(['backup']));
  assert.ok(onSource(c).includes(pin), 'kept while office is configured');
  c.writeConfig(
    TARGETS().split('[targets.office]')[0]!,
    PRUNE_SOURCE + '[retention.target]\nkeep_last = 10\ndaily = 0\n',
  );
  change(c);
  ok(c.run(['backup']));
  assert.ok(!onSource(c).includes(pin), 'no pin kept for a disk the config no longer names');
  const status = json(ok(c.run(['status', '--json'])));
  assert.doesNotMatch(JSON.stringify(status.targets ?? []), /office/);
  attach('office');
  assert.deepEqual(onDiskList(c, 'office'), [pin], "office's backups untouched");
});

test('[ordering and agreement] a target renamed (office to work, same disk): the next run on it is still correct (incremental from what it holds, or full), and the old name is not reported', () => {
  const c = makeCase('renamed');
  change(c);
  ok(c.run(['backup']));
  c.writeConfig(TARGETS().replace('[targets.office]', '[targets.work]'));
  change(c, 'after-rename');
  const out = ok(c.run(['backup', '--json']));
  assert.equal(onDisk(out, 'work').mode, 'incremental');
  assert.ok(existsSync(join(c.backupDir('office'), onDisk(out, 'work').snapshot, 'after-rename.txt')));
  const status = json(ok(c.run(['status', '--json'])));
  assert.deepEqual(
    status.targets.map((t: { name: string }) => t.name),
    ['home', 'work'],
  );
});

test('[ordering and agreement] [target] beside [targets.office], both attached: two disks, each a chain of its own, the [target] disk named backup in every report', () => {
  const c = makeCase('legacy');
  c.writeConfig(TARGETS().replace('[targets.home]', '[target]').replace(/^/, ''));
  change(c);
  const out = ok(c.run(['backup', '--json']));
  assert.deepEqual(
    json(out).targets.map((t: { name: string }) => t.name),
    ['backup', 'office'],
  );
  assert.equal(onDisk(out, 'backup').mode, 'full');
  change(c);
  const again = ok(c.run(['backup', '--json', '--target', 'backup']));
  assert.equal(onDisk(again, 'backup').mode, 'incremental');
  assert.equal(onDiskList(c, 'home').length, 2);
  assert.equal(onDiskList(c, 'office').length, 1);
});

// ---------------------------------------------------------------- [paths we are given]

test('[paths we are given] --target with odd names ("../x", "", "-h", unicode, 25 characters, upper case, a newline): exit 2 with the names there are, nothing written', () => {
  const c = makeCase('oddnames');
  change(c);
  for (const name of ['../x', '', '-h', 'bürö', 'a'.repeat(25), 'HOME', 'home\n', 'home ']) {
    const out = c.run(['backup', `--target=${name}`]);
    assert.equal(out.code, 2, `${JSON.stringify(name)}: ${out.stderr}`);
    assert.match(out.stderr, /no target named[\s\S]*home, office/, JSON.stringify(name));
  }
  assert.ok(!existsSync(c.snapDir), 'no snapshot made');
  assert.ok(!existsSync(c.backupDir('home')) && !existsSync(c.backupDir('office')));
});

test('[paths we are given] --target ../x on every verb that takes it: exit 2, the same message', () => {
  const c = makeCase('oddverbs');
  const to = join(src.mountPoint, 'oddverbs-to');
  for (const args of [
    ['list'],
    ['status'],
    ['prune'],
    ['verify', '--no-scrub'],
    ['files', c.data, 'x'],
    ['restore', c.data, '--to', to],
    ['open'],
    ['close'],
  ]) {
    const out = c.run([...args, '--target', '../x']);
    assert.equal(out.code, 2, `${args[0]}: ${out.stderr}${out.stdout}`);
    assert.match(out.stderr, /no target named "\.\.\/x"/, args[0]);
  }
  assert.ok(mountedAt(disks.home!.fs.mountPoint) && mountedAt(disks.office!.fs.mountPoint), 'close closed nothing');
});

test('[paths we are given] --target given twice: refused (exit 2) before anything runs, never one of the two silently', () => {
  const c = makeCase('twice');
  change(c);
  const out = c.run(['backup', '--json', '--target', 'home', '--target', 'office']);
  assert.equal(out.code, 2, out.stderr);
  assert.match(out.stderr, /--target names one disk; it was given twice \(home, office\)/);
  assert.ok(!existsSync(c.snapDir), 'no snapshot made');
});

test("[paths we are given] office's backup folder on its disk replaced by a symlink to home's: office's run refuses it and writes nothing through it; home is backed up", () => {
  const c = makeCase('folderlink');
  change(c);
  ok(c.run(['backup', '--target', 'home']));
  const before = onDiskList(c, 'home');
  symlinkSync(c.backupDir('home'), c.backupDir('office'));
  try {
    change(c);
    const out = c.run(['backup', '--json']);
    assert.equal(out.code, 1, out.stderr);
    assert.equal(onDisk(out, 'home').status, 'ok');
    assert.equal(onDisk(out, 'office').status, 'failed');
    assert.equal(onDiskList(c, 'home').length, before.length + 1, 'only home wrote a backup into its folder');
  } finally {
    rmSync(c.backupDir('office'));
  }
});

test('[paths we are given] a target whose mountpoint has a newline or a quote: refused in the config, or shown escaped, never a forged line', () => {
  const c = makeCase('nlmount');
  c.writeConfig(TARGETS() + '\n[targets.forged]\nmountpoint = "/tmp/x\\n✔ home (/mnt): 1 of 1 source(s) backed up"\n');
  const out = c.run(['status']);
  if (out.code !== 2) {
    assert.doesNotMatch(out.stdout, /^✔ home \(\/mnt\)/m);
  } else assert.match(out.stderr, /mountpoint/);
});

// ---------------------------------------------------------------- [two of us at once]

test('[two of us at once] the same disk configured under two names (two hash files, one hash): refused under either name with both tables named, so it is never counted as two copies', () => {
  const c = makeCase('twonames');
  const spare = join(dir, 'spare');
  mkdirSync(spare, { recursive: true });
  const spareHash = join(etc, 'token-spare.sha512');
  writeFileSync(spareHash, readFileSync(disks.home!.hashFile), { mode: 0o600 });
  c.writeConfig(
    TARGETS().split('[targets.office]')[0]! +
      `[targets.spare]\nmountpoint = ${JSON.stringify(spare)}\ntoken_sha512 = ${JSON.stringify(spareHash)}\n`,
  );
  change(c);
  const home = c.run(['backup', '--target', 'home']);
  assert.equal(home.code, 3, home.stderr);
  assert.match(
    home.stderr,
    /its token matches both .*token-home\.sha512 and .*token-spare\.sha512: it is the backup disk spare too/,
  );
  detach('home');
  sh('mount', [disks.home!.fs.device, spare]);
  try {
    const out = c.run(['backup', '--json', '--target', 'spare']);
    assert.equal(out.code, 3, out.stderr);
    assert.match(out.stdout, /it is the backup disk home too/);
    assert.ok(!existsSync(c.backupDir('home')), 'nothing written to the disk under either name');
  } finally {
    sh('umount', [spare]);
  }
});

test("[two of us at once] home's token copied onto the office disk: at office's place it is refused by its token, and home is backed up", () => {
  const c = makeCase('tokencopy');
  const tokenFile = join(disks.office!.fs.mountPoint, '.token');
  writeFileSync(tokenFile, disks.home!.token);
  try {
    change(c);
    const out = c.run(['backup', '--json']);
    assert.equal(out.code, 1, out.stderr);
    assert.match(json(out).targets.find((t: { name: string }) => t.name === 'office').error, /token/i);
    assert.equal(onDisk(out, 'home').status, 'ok');
    assert.ok(!existsSync(c.backupDir('office')));
    const doctor = c.run(['doctor', '--json']);
    assert.match(doctor.stdout, /is the backup disk home/);
  } finally {
    writeFileSync(tokenFile, disks.office!.token);
  }
});

test('[two of us at once] prune --target home while a backup to office runs: one waits for or refuses the other; nothing the backup uses is deleted', async () => {
  const c = makeCase('prunerace', { extra: PRUNE_SOURCE + '[retention.target]\nkeep_last = 1\ndaily = 0\n' });
  change(c);
  ok(c.run(['backup']));
  change(c);
  ok(c.run(['backup', '--target', 'home']));
  // something to send for a while
  execFileSync('dd', ['if=/dev/urandom', `of=${join(c.data, 'big')}`, 'bs=1M', 'count=60', 'status=none']);
  const entries = readdirSync(c.backupDir('office')).length;
  const bg = spawnCli(['backup', '--json', '--target', 'office', '--config', c.config]);
  let stdout = '';
  bg.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  const done = new Promise<number>((res) => bg.on('exit', (code) => res(code ?? -1)));
  // the backup has its locks once it writes into office's folder (the receive's record)
  await waitFor(() => readdirSync(c.backupDir('office')).length > entries, 20_000);
  const prune = c.run(['prune', '--json', '--target', 'home']);
  const code = await done;
  assert.equal(code, 0, stdout);
  assert.notEqual(prune.code, 0, 'prune ran while the backup held the source');
  assert.match(prune.stdout + prune.stderr, /another btrfs-vault run .* is working with the source/);
  const out = JSON.parse(stdout);
  const office = out.targets[0].sources[0];
  assert.equal(office.mode, 'incremental');
  assert.ok(onDiskList(c, 'office').includes(office.snapshot));
});

// ---------------------------------------------------------------- [what we read back]

test('[what we read back] the host record edited by hand with wrong types (a pin that is a number, seen that is not a date, a disk that is a string): backup, status, list and prune answer, none crashes', () => {
  const c = makeCase('badrecord');
  change(c);
  ok(c.run(['backup']));
  const rec = c.record() as unknown as Record<string, unknown>;
  const name = sourceName(c.data);
  rec.targets = {
    home: 'x',
    office: { seen: 'last tuesday', lastBackup: 7, pins: { [name]: { snapshot: 5 }, other: null } },
  };
  writeFileSync(hostRecordFile(c.config), JSON.stringify(rec));
  detach('office');
  change(c);
  const out = c.run(['backup', '--json']);
  assert.equal(out.code, 0, out.stderr + out.stdout);
  for (const args of [
    ['status', '--json'],
    ['list', '--json'],
    ['prune', '--dry-run', '--json'],
    ['files', c.data, 'x'],
  ]) {
    const r = c.run(args);
    assert.ok(r.code !== 70 && !/internal error|TypeError/i.test(r.stderr), `${args[0]}: ${r.code} ${r.stderr}`);
  }
  attach('office');
  const back = c.run(['backup', '--json']);
  assert.equal(back.code, 0, back.stderr + back.stdout);
});

test("[what we read back] the record's pin names a path out of the snapshot folder (../ the live source) or a user's subvolume: nothing is deleted for it, nothing outside is touched", () => {
  const c = makeCase('oddpin', { extra: PRUNE_SOURCE });
  change(c);
  ok(c.run(['backup']));
  detach('office');
  const mine = join(c.snapDir, 'mine');
  sh('btrfs', ['-q', 'subvolume', 'create', mine]);
  const rec = c.record();
  const name = sourceName(c.data);
  rec.targets!.office!.pins![name] = { snapshot: `../../${c.name}` };
  c.writeRecord(rec);
  change(c);
  ok(c.run(['backup']));
  rec.targets!.office!.pins![name] = { snapshot: 'mine' };
  c.writeRecord(rec);
  change(c);
  ok(c.run(['backup']));
  assert.ok(existsSync(mine), "the user's subvolume stays");
  assert.ok(existsSync(join(c.data, '.')), 'the source stays');
  assert.equal(onSource(c).length, 1, 'our own snapshots pruned as configured');
  sh('btrfs', ['-q', 'subvolume', 'delete', mine]);
});

// ---------------------------------------------------------------- [what we delete]

test("[what we delete] office's pin replaced on the source by a snapshot of the same name (another UUID): status and the run's notice say the pin is gone, the run is not announced as incremental from it", () => {
  const c = makeCase('samename');
  change(c);
  const first = ok(c.run(['backup', '--json']));
  const pin = onDisk(first, 'office').snapshot;
  detach('office');
  change(c);
  ok(c.run(['backup']));
  // the snapshot deleted and made again under its name (by hand, or a restore of the folder)
  sh('btrfs', ['-q', 'subvolume', 'delete', join(c.snapDir, pin)]);
  sh('btrfs', ['-q', 'subvolume', 'snapshot', '-r', c.data, join(c.snapDir, pin)]);
  const status = json(c.run(['status', '--json']));
  const office = status.targets.find((t: { name: string }) => t.name === 'office');
  assert.equal(office.pins[0].onSource, false, 'a snapshot of that name, but not the one office holds');
  attach('office');
  const back = c.run(['backup', '--json']);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stderr, /office disk's newest snapshot .* is no longer on the source/);
  assert.notEqual(onDisk(back, 'office').parent, pin);
});

test('[what we delete] a disk with its own retention ([targets.office.retention] keep_last = 1): office is pruned to one, home keeps its own; prune --target home deletes nothing on office', () => {
  const c = makeCase('ownret', {
    targets: TARGETS({ office: '[targets.office.retention]\nkeep_last = 1\ndaily = 0\n' }),
  });
  for (let i = 0; i < 3; i++) {
    change(c);
    ok(c.run(['backup']));
  }
  assert.equal(onDiskList(c, 'office').length, 1);
  assert.equal(onDiskList(c, 'home').length, 3);
  const officeBefore = onDiskList(c, 'office');
  c.writeConfig(
    TARGETS({ office: '[targets.office.retention]\nkeep_last = 1\ndaily = 0\n' }),
    RETAIN.replace(
      'keep_last = 10\ndaily = 0\n[retention.target]\nkeep_last = 10',
      'keep_last = 10\ndaily = 0\n[retention.target]\nkeep_last = 1',
    ),
  );
  ok(c.run(['prune', '--target', 'home']));
  assert.equal(onDiskList(c, 'home').length, 1);
  assert.deepEqual(onDiskList(c, 'office'), officeBefore);
});

test('[what we delete] a host record from before rotation (no per-disk part): the [target] disk newest snapshot is kept while only the new disk runs', () => {
  const c = makeCase('upgrade', { extra: PRUNE_SOURCE });
  c.writeConfig(TARGETS().replace('[targets.home]', '[target]').split('[targets.office]')[0]!);
  change(c);
  const first = ok(c.run(['backup', '--json']));
  const old = first.stdout && json(first).sources[0].snapshot;
  // the record as an earlier version wrote it: no `targets`
  const rec = c.record();
  delete rec.targets;
  c.writeRecord(rec);
  // a second disk added; the first taken away
  c.writeConfig(TARGETS().replace('[targets.home]', '[target]'));
  detach('home');
  for (let i = 0; i < 2; i++) {
    change(c);
    ok(c.run(['backup']));
  }
  assert.ok(onSource(c).includes(old), `the first disk's newest snapshot ${old} kept: ${onSource(c).join(' ')}`);
  attach('home');
  change(c);
  const back = ok(c.run(['backup', '--json']));
  assert.equal(onDisk(back, 'backup').mode, 'incremental');
});

// ---------------------------------------------------------------- [signals and power]

test("[signals and power] SIGKILL during the second disk's send: office's pin stays, the next run leaves no partial copy and is incremental (from office's pin, or the copy that finished)", () => {
  const c = makeCase('killmid');
  change(c);
  const first = ok(c.run(['backup', '--json']));
  const pin = onDisk(first, 'office').snapshot;
  detach('office');
  change(c);
  execFileSync('dd', ['if=/dev/urandom', `of=${join(c.data, 'some')}`, 'bs=1M', 'count=8', 'status=none']);
  const second = ok(c.run(['backup', '--json']));
  attach('office');
  // home has the newest snapshot already (unchanged): the only send is office's
  const killed = c.run(['backup', '--json'], { BTRFS_VAULT_TEST_KILL_AT: 'during-send' });
  assert.equal(killed.code, -1, 'killed');
  assert.equal(c.record().targets!.office!.pins![sourceName(c.data)]!.snapshot, pin, "office's pin unchanged");
  const next = ok(c.run(['backup', '--json']));
  const office = onDisk(next, 'office');
  // the receive may have finished after the kill (its children outlive the run): then it is the parent
  const s2 = onDisk(second, 'home').snapshot;
  assert.equal(office.mode, 'incremental', next.stdout);
  assert.ok([pin, s2].includes(office.parent), office.parent);
  assert.ok(office.cleaned.length > 0 || office.parent === s2, 'an incomplete copy is cleaned, or was complete');
  // no incomplete copy left: every backup on office is a whole received copy
  for (const b of onDiskList(c, 'office'))
    assert.match(sh('btrfs', ['subvolume', 'show', join(c.backupDir('office'), b)]), /Received UUID:\s+[0-9a-f]{8}-/);
  assert.equal(onDisk(next, 'home').mode, 'unchanged');
});

test("[signals and power] office pulled out (unmounted) while home's run works: home's backup stands, office is reported, nothing crashes, the next run with office is incremental", async () => {
  const c = makeCase('pulled');
  change(c);
  const first = ok(c.run(['backup', '--json']));
  const pin = onDisk(first, 'office').snapshot;
  execFileSync('dd', ['if=/dev/urandom', `of=${join(c.data, 'big')}`, 'bs=1M', 'count=60', 'status=none']);
  const entries = readdirSync(c.backupDir('home')).length;
  const bg = spawnCli(['backup', '--json', '--config', c.config]);
  let stdout = '';
  bg.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  const done = new Promise<number>((res) => bg.on('exit', (code) => res(code ?? -1)));
  await waitFor(() => readdirSync(c.backupDir('home')).length > entries, 20_000);
  detach('office');
  const code = await done;
  const report = JSON.parse(stdout);
  assert.equal(report.targets.find((t: { name: string }) => t.name === 'home').sources[0].status, 'ok');
  const office = report.targets.find((t: { name: string }) => t.name === 'office');
  assert.ok(
    office === undefined || office.ok === false || report.absent.some((a: { name: string }) => a.name === 'office'),
  );
  assert.ok(code === 0 || code === 1, `exit ${code}`);
  assert.equal(c.record().targets!.office!.pins![sourceName(c.data)]!.snapshot, pin);
  attach('office');
  const back = ok(c.run(['backup', '--json']));
  assert.equal(onDisk(back, 'office').mode, 'incremental');
  assert.equal(onDisk(back, 'office').parent, pin);
});

// ---------------------------------------------------------------- [space]

test("[space] office full: its run fails with the reason, home's succeeds (exit 1), office's pin and incomplete copy are dealt with; room again, office's run is incremental from its pin", () => {
  const c = makeCase('full', { extra: PRUNE_SOURCE });
  change(c);
  const first = ok(c.run(['backup', '--json']));
  const pin = onDisk(first, 'office').snapshot;
  const filler = join(disks.office!.fs.mountPoint, 'filler');
  try {
    spawnFill(filler);
    execFileSync('dd', ['if=/dev/urandom', `of=${join(c.data, 'big')}`, 'bs=1M', 'count=40', 'status=none']);
    const out = c.run(['backup', '--json']);
    assert.equal(out.code, 1, out.stderr);
    assert.equal(onDisk(out, 'home').status, 'ok');
    assert.equal(onDisk(out, 'office').status, 'failed');
    assert.match(onDisk(out, 'office').error, /space|full/i);
    assert.equal(c.record().targets!.office!.pins![sourceName(c.data)]!.snapshot, pin);
    assert.ok(onSource(c).includes(pin), "office's pin kept on the source");
    assert.deepEqual(onDiskList(c, 'office'), [pin], 'no partial copy left on office');
  } finally {
    rmSync(filler, { force: true });
    sh('btrfs', ['filesystem', 'sync', disks.office!.fs.mountPoint]);
  }
  const back = ok(c.run(['backup', '--json']));
  assert.equal(onDisk(back, 'office').mode, 'incremental');
  assert.equal(onDisk(back, 'office').parent, pin);
  rmSync(join(c.data, 'big'));
});

/** Fills a filesystem to its last 8 MiB with a file of its own (allocated, not written). */
function spawnFill(file: string): void {
  const mount = disks.office!.fs.mountPoint;
  sh('btrfs', ['filesystem', 'sync', mount]);
  const { bavail, bsize } = statfsSync(mount);
  sh('fallocate', ['-l', String(bavail * bsize - 8 * 2 ** 20), file]);
  sh('btrfs', ['filesystem', 'sync', mount]);
}

// ---------------------------------------------------------------- [secrets]

test("[secrets] the disks' tokens and their hashes are in no output (backup, status, list, doctor, text and --json) nor in the host record", () => {
  const c = makeCase('secrets');
  change(c);
  const outs = [
    c.run(['backup', '--json']),
    c.run(['backup']),
    c.run(['status', '--json']),
    c.run(['status']),
    c.run(['list', '--json']),
    c.run(['doctor', '--json']),
    c.run(['doctor']),
  ];
  const seen = outs.map((o) => o.stdout + o.stderr).join('\n') + readFileSync(hostRecordFile(c.config), 'utf8');
  for (const d of Object.values(disks)) {
    for (const secret of [
      d.token.toString('hex'),
      d.token.toString('base64'),
      sha512(d.token),
      sha512(d.token).slice(0, 16),
    ])
      assert.ok(!seen.includes(secret), `${d.name}: a token or its hash in the output`);
  }
});

// ---------------------------------------------------------------- more [two of us at once] and [ordering and agreement]

test("[two of us at once] the office disk mounted at home's place (home away): home's run refuses it by its token, office's record is left as it was", () => {
  const c = makeCase('swapped');
  change(c);
  ok(c.run(['backup']));
  const before = JSON.stringify(c.record().targets!.office);
  detach('home');
  detach('office');
  sh('mount', [disks.office!.fs.device, disks.home!.fs.mountPoint]);
  change(c);
  const out = c.run(['backup', '--json', '--target', 'home']);
  sh('umount', [disks.home!.fs.mountPoint]);
  assert.equal(out.code, 3, out.stderr);
  assert.match(out.stdout + out.stderr, /does not match/);
  assert.equal(JSON.stringify(c.record().targets!.office), before);
  attach('office');
  assert.equal(onDiskList(c, 'office').length, 1, 'nothing written to the office disk as home');
});

test('[two of us at once] backup --on-plug --target office while office is away and home is here: a quiet skip, home is not backed up by a plug event of another disk', () => {
  const c = makeCase('plugaway');
  change(c);
  ok(c.run(['backup', '--target', 'home']));
  detach('office');
  change(c);
  const out = c.run(['backup', '--on-plug', '--target', 'office']);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(onDiskList(c, 'home').length, 1, 'home untouched');
});

test('[ordering and agreement] with office away: status --target office answers from the record, list and prune --target office refuse (exit 3) naming the disk', () => {
  const c = makeCase('awayverbs');
  change(c);
  ok(c.run(['backup']));
  detach('office');
  const status = json(ok(c.run(['status', '--json', '--target', 'office'])));
  assert.equal(status.targets[0].attached, false);
  assert.ok(status.targets[0].pins[0].snapshot);
  for (const args of [['list'], ['prune'], ['verify', '--no-scrub'], ['files', c.data, 'x']]) {
    const r = c.run([...args, '--target', 'office']);
    assert.equal(r.code, 3, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /office .* not attached|not mounted at .*disk-office/, args[0]);
  }
});

test('[what we write into other formats] a disk away whose mount point has a quote, a backslash and a newline-like text: status --json stays valid JSON with the path as written, the text lines one per disk', () => {
  const c = makeCase('quotes');
  const odd = join(dir, 'we"ird\\ \\n place');
  c.writeConfig(TARGETS() + `\n[targets.odd]\nmountpoint = ${JSON.stringify(odd)}\n`);
  change(c);
  ok(c.run(['backup']));
  const status = json(c.run(['status', '--json']));
  assert.equal(status.targets.find((t: { name: string }) => t.name === 'odd').mountpoint, odd);
  const text = c.run(['status']).stdout;
  assert.equal(text.split('\n').filter((l) => /^[ *] (home|office|odd) \(/.test(l)).length, 3, text);
});

// ---------------------------------------------------------------- more cases

test('[programs we run] notify with two disks, one refused: the command runs once, with both disks in its report', () => {
  const c = makeCase('notify');
  const out = join(dir, 'notify-out.json');
  c.writeConfig(
    TARGETS(),
    `${RETAIN}[notify]\ncommand = ["/bin/sh", "-c", ${JSON.stringify(`cat >> '${out}'; echo >> '${out}'`)}]\non = ["success", "failure"]\n`,
  );
  const tokenFile = join(disks.office!.fs.mountPoint, '.token');
  writeFileSync(tokenFile, randomBytes(64));
  try {
    change(c);
    const run = c.run(['backup']);
    assert.equal(run.code, 1, run.stderr);
  } finally {
    writeFileSync(tokenFile, disks.office!.token);
  }
  const reports = readFileSync(out, 'utf8').trim().split('\n').filter(Boolean);
  assert.equal(reports.length, 1, 'one notification per run');
  const report = JSON.parse(reports[0]!);
  assert.deepEqual(
    report.targets.map((t: { name: string; ok: boolean }) => [t.name, t.ok]),
    [
      ['home', true],
      ['office', false],
    ],
  );
});

test("[signals and power] SIGTERM during the first disk's transfer: exit 143, the second disk is not started, nothing partial left; the next run is incremental on both", async () => {
  const c = makeCase('sigterm');
  change(c);
  const first = ok(c.run(['backup', '--json']));
  execFileSync('dd', ['if=/dev/urandom', `of=${join(c.data, 'big')}`, 'bs=1M', 'count=60', 'status=none']);
  const officeBefore = readdirSync(c.backupDir('office')).sort();
  const entries = readdirSync(c.backupDir('home')).length;
  const bg = spawnCli(['backup', '--json', '--config', c.config]);
  const done = new Promise<number>((res) => bg.on('exit', (code, signal) => res(code ?? (signal ? 128 : -1))));
  await waitFor(() => readdirSync(c.backupDir('home')).length > entries, 20_000);
  bg.kill('SIGTERM');
  assert.equal(await done, 143);
  assert.deepEqual(readdirSync(c.backupDir('office')).sort(), officeBefore, 'office not started');
  assert.deepEqual(onDiskList(c, 'home'), [onDisk(first, 'home').snapshot], 'the partial copy on home deleted');
  const next = ok(c.run(['backup', '--json']));
  assert.equal(onDisk(next, 'home').mode, 'incremental');
  assert.equal(onDisk(next, 'office').mode, 'incremental');
  assert.equal(onDisk(next, 'home').snapshot, onDisk(next, 'office').snapshot);
});

test("[space] office's min_free no deletion can meet: office refused before anything is deleted or sent, home backed up, exit 1", () => {
  const c = makeCase('minfree');
  change(c);
  ok(c.run(['backup']));
  c.writeConfig(TARGETS({ office: 'min_free = "99%"\n' }));
  const officeBefore = onDiskList(c, 'office');
  assert.equal(officeBefore.length, 1);
  change(c);
  const out = c.run(['backup', '--json']);
  assert.equal(out.code, 1, out.stderr);
  assert.equal(onDisk(out, 'home').status, 'ok');
  assert.equal(onDisk(out, 'office').status, 'failed');
  assert.match(onDisk(out, 'office').error, /min_free/);
  assert.deepEqual(onDiskList(c, 'office'), officeBefore, 'nothing deleted on office');
  assert.equal(onDiskList(c, 'home').length, 2, "home's backups untouched");
});

test('[paths we are given] a target whose mountpoint is a symlink to the folder the disk is mounted at: refused in the config with the real folder (the mount table names that one, so the disk was skipped as away, exit 0)', () => {
  const c = makeCase('linkmount');
  const link = join(dir, 'office-link');
  symlinkSync(disks.office!.fs.mountPoint, link);
  try {
    c.writeConfig(TARGETS().replace(JSON.stringify(disks.office!.fs.mountPoint), JSON.stringify(link)));
    change(c);
    const out = c.run(['backup', '--json']);
    assert.equal(out.code, 2, out.stdout);
    assert.match(
      out.stdout + out.stderr,
      new RegExp(`is reached through a symlink \\(it is .*${disks.office!.fs.mountPoint.replace(/[/.]/g, '\\$&')}`),
    );
    assert.ok(!existsSync(c.snapDir), 'nothing made');
  } finally {
    rmSync(link);
  }
});

test("[ordering and agreement] verify with two disks, office's backup made writable behind our back (no longer a received copy): office's verify fails alone, home's passes, exit 1 as backup's for a mix", () => {
  const c = makeCase('verify');
  change(c, 'kept');
  const first = ok(c.run(['backup', '--json']));
  const b = join(c.backupDir('office'), onDisk(first, 'office').snapshot);
  sh('btrfs', ['property', 'set', '-f', b, 'ro', 'false']);
  writeFileSync(join(b, 'kept.txt'), 'changed\n');
  sh('btrfs', ['property', 'set', '-f', b, 'ro', 'true']);
  const out = c.run(['verify', '--json', '--no-scrub']);
  const byName = Object.fromEntries(json(out).targets.map((t: { name: string; ok: boolean }) => [t.name, t.ok]));
  assert.deepEqual(byName, { home: true, office: false });
  assert.equal(out.code, 1, 'one disk verified, one failed: a partial failure, as backup says it');
});

test('[ordering and agreement] a rebuilt machine whose config does not name the source yet: files by the backup folder name reads the disk that holds the newest backup', () => {
  const c = makeCase('unnamed');
  change(c, 'first');
  ok(c.run(['backup']));
  detach('home');
  change(c, 'second');
  ok(c.run(['backup']));
  attach('home');
  rmSync(hostRecordFile(c.config));
  // the new config: no sources yet
  writeFileSync(c.config, `host = "testhost"\nsources = []\n${RETAIN}\n${TARGETS()}`);
  const files = c.run(['files', '--json', sourceName(c.data), 'second.txt']);
  assert.equal(files.code, 0, files.stderr);
  assert.match(files.stderr, /reading from the backup disk office/);
  assert.equal(json(files).versions.length, 1);
});

test("[two of us at once] office plugged in (its on-plug run) while the timer's run backs up home: the plug run is refused by the lock with the reason and nothing half-written (or runs after it, incremental); the timer's run is whole", async () => {
  const c = makeCase('plugrace');
  change(c);
  ok(c.run(['backup']));
  detach('office');
  execFileSync('dd', ['if=/dev/urandom', `of=${join(c.data, 'big')}`, 'bs=1M', 'count=60', 'status=none']);
  const entries = readdirSync(c.backupDir('home')).length;
  const timer = spawnCli(['backup', '--json', '--scheduled', '--config', c.config]);
  let stdout = '';
  timer.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  const done = new Promise<number>((res) => timer.on('exit', (code) => res(code ?? -1)));
  await waitFor(() => readdirSync(c.backupDir('home')).length > entries, 20_000);
  attach('office');
  const officeBefore = readdirSync(c.backupDir('office')).sort();
  const plug = c.run(['backup', '--on-plug', '--target', 'office']);
  assert.equal(await done, 0, stdout);
  assert.deepEqual(
    JSON.parse(stdout).targets.map((t: { name: string }) => t.name),
    ['home'],
    'the timer run saw office away when it started',
  );
  // the timer's run may have finished by the time the plug run takes the locks
  if (plug.code === 4) {
    assert.match(plug.stderr, /another btrfs-vault run .* is working with the source/);
    assert.deepEqual(readdirSync(c.backupDir('office')).sort(), officeBefore, 'nothing half-written');
  } else {
    assert.equal(plug.code, 0, plug.stderr);
    assert.match(plug.stderr, /\(incremental from /);
  }
});

test("[what we delete] the host record lost, both disks attached: the first disk's retention does not delete the snapshot the second attached disk holds as its parent, so its run is incremental", () => {
  const c = makeCase('lostrec', { extra: PRUNE_SOURCE });
  change(c);
  const first = ok(c.run(['backup', '--json']));
  const officeParent = onDisk(first, 'office').snapshot;
  detach('office');
  change(c);
  ok(c.run(['backup']));
  attach('office');
  // /var/lib/btrfs-vault lost (or the config moved: the record is kept by the config's path)
  rmSync(hostRecordFile(c.config));
  change(c);
  const out = ok(c.run(['backup', '--json']));
  assert.equal(onDisk(out, 'office').mode, 'incremental', 'office is right here');
  assert.equal(onDisk(out, 'office').parent, officeParent);
});

test('[ordering and agreement] restore of a named backup, or --before a time, without --target: read from the attached disk that holds it, not refused because another disk is newer', () => {
  const c = makeCase('named');
  change(c, 'first');
  const first = ok(c.run(['backup', '--json', '--target', 'home']));
  const old = onDisk(first, 'home').snapshot;
  sh('sleep', ['1.1']);
  change(c, 'second');
  ok(c.run(['backup', '--target', 'office']));
  const to = join(src.mountPoint, 'named-to');
  mkdirSync(to);
  const named = c.run(['restore', '--json', c.data, old, '--to', to]);
  assert.equal(named.code, 0, named.stderr);
  assert.match(named.stderr, /reading from the backup disk home/);
  assert.equal(json(named).restored, join(to, old));
  sh('btrfs', ['-q', 'subvolume', 'delete', join(to, old)]);
  // --before the second backup: only home has one that old
  const before =
    new Date(Date.parse(old.replace(/_(\d\d)-(\d\d)-(\d\d).*/, 'T$1:$2:$3Z')) + 1000).toISOString().slice(0, 19) + 'Z';
  const early = c.run(['restore', '--json', c.data, '--before', before, '--to', to]);
  assert.equal(early.code, 0, early.stderr);
  assert.equal(json(early).restored, join(to, old));
  sh('btrfs', ['-q', 'subvolume', 'delete', join(to, old)]);
});

test("[ordering and agreement] a foreign disk at office's place: list, prune and verify still report home (what was done there is not lost), office's refusal is named, exit 1", () => {
  const c = makeCase('foreignverbs');
  change(c);
  ok(c.run(['backup']));
  const tokenFile = join(disks.office!.fs.mountPoint, '.token');
  writeFileSync(tokenFile, randomBytes(64));
  try {
    for (const args of [['list'], ['prune', '--dry-run'], ['verify', '--no-scrub']]) {
      const out = c.run([...args, '--json']);
      assert.equal(out.code, 1, `${args[0]}: ${out.code} ${out.stderr} ${out.stdout}`);
      const report = json(out);
      const home = report.targets.find((t: { name: string }) => t.name === 'home');
      assert.ok(home && home.ok !== false, `${args[0]}: home reported`);
      const office = report.targets.find((t: { name: string }) => t.name === 'office');
      assert.match(JSON.stringify(office), /token/i, `${args[0]}: office's refusal named`);
    }
  } finally {
    writeFileSync(tokenFile, disks.office!.token);
  }
});

/** The words in backticks of docs/JSON.md's section of a command, and of its "Several backup disks" section. */
function documentedFields(command: string): Set<string> {
  const doc = readFileSync(join(process.cwd(), 'docs', 'JSON.md'), 'utf8');
  const section = (heading: string) => {
    const at = doc.indexOf(heading);
    if (at < 0) return '';
    const next = doc.slice(at + heading.length).search(/\n##+ /);
    return doc.slice(at, next < 0 ? undefined : at + heading.length + next);
  };
  const text = section(`### \`${command}\``) + section('## Several backup disks');
  return new Set([...text.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]!));
}

test('[ordering and agreement] --json with two disks: every field of backup, list, verify, prune, open and close (and of each disk entry) is one docs/JSON.md describes', () => {
  const c = makeCase('jsonshape');
  change(c);
  const runs: [string, string[]][] = [
    ['backup', ['backup']],
    ['list', ['list']],
    ['verify', ['verify', '--no-scrub']],
    ['prune', ['prune', '--dry-run']],
    ['open', ['open']],
    ['close', ['close', '--dry-run']],
  ];
  for (const [command, args] of runs) {
    const out = c.run([...args, '--json']);
    assert.equal(out.code, 0, `${command}: ${out.stderr}`);
    const report = json(out);
    const documented = documentedFields(command);
    const general = new Set(['version', 'ok', 'exitCode']);
    const missing = Object.keys(report).filter((k) => !general.has(k) && !documented.has(k));
    assert.deepEqual(missing, [], `${command}: fields docs/JSON.md does not name`);
    for (const t of report.targets ?? []) {
      const inDisk = Object.keys(t).filter((k) => !general.has(k) && !documented.has(k));
      assert.deepEqual(inDisk, [], `${command}: fields of a disk's entry docs/JSON.md does not name`);
    }
  }
});

test("[ordering and agreement] open with a foreign disk at office's place: home is opened and reported, office's refusal is named, exit 1 as backup's mix", () => {
  const c = makeCase('foreignopen');
  const tokenFile = join(disks.office!.fs.mountPoint, '.token');
  writeFileSync(tokenFile, randomBytes(64));
  try {
    const out = c.run(['open', '--json']);
    assert.ok(out.stdout.trim().startsWith('{'), out.stderr);
    const report = json(out);
    assert.match(JSON.stringify(report), /home/, 'home reported');
    assert.match(JSON.stringify(report), /token/i, "office's refusal named");
    assert.equal(out.code, 1, out.stdout);
  } finally {
    writeFileSync(tokenFile, disks.office!.token);
  }
});
