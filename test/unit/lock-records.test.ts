import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { acquireLocks, holdArgv, lockFile } from '../../src/system/lock.js';
import { ExecRunner } from '../../src/system/exec-runner.js';
import { formatArgv } from '../../src/system/runner.js';
import { FakeRunner } from '../support/fake-runner.js';
import { readReceiveRecord, RECEIVE_RECORD, writeReceiveRecord } from '../../src/btrfs/receive-record.js';
import { clearOpenRecord, readOpenRecord, writeOpenRecord } from '../../src/stack/open-record.js';
import { LATEST, moveLinks, PREVIOUS, removeStaleLinks } from '../../src/btrfs/links.js';
import { scratchDir } from '../support/scratch.js';
import { lexists } from '../../src/system/no-follow.js';

const keys = [
  { what: 'the backup target /media/backup', key: 'target /media/backup' },
  { what: 'the source /home', key: 'source 0:42 /home' },
];

test('locks: every key in one program call; released on request', async () => {
  const dir = join(scratchDir('lock'), 'locks');
  const files = keys.map((k) => lockFile(k.key, dir));
  const r = new FakeRunner().on(holdArgv(files));
  const lock = await acquireLocks(r, keys, 'config /etc/btrfs-vault/config.toml', dir);
  assert.deepEqual([...r.holding], [formatArgv(holdArgv(files))]);
  assert.match(
    readFileSync(`${files[0]}.owner.${process.pid}`, 'utf8'),
    new RegExp(`^${process.pid}\\nconfig /etc/btrfs-vault/config.toml\\nthe backup target`),
  );
  await lock.release();
  assert.equal(r.holding.size, 0);
  assert.ok(!existsSync(`${files[0]}.owner.${process.pid}`), 'the note goes with the lock');
});

test('locks: a conflict names the holder and what it holds; nothing else is held', async () => {
  const dir = join(scratchDir('lock'), 'locks');
  const files = keys.map((k) => lockFile(k.key, dir));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // the fake's lock program says "taken", but nobody holds the file: let go in between, tried again, then refused
  const r = new FakeRunner().on(holdArgv(files), { exitCode: 75, stderr: files[1] });
  await assert.rejects(acquireLocks(r, keys, 'config /etc/x.toml', dir), (err: Error & { exitCode?: number }) => {
    assert.equal(err.exitCode, 4);
    assert.match(err.message, /another run held the source \/home each time this run tried to take it/);
    return true;
  });
  assert.equal(r.holding.size, 0);
  assert.equal(r.calls.filter((c) => c === formatArgv(holdArgv(files))).length, 3);
  assert.ok(!existsSync(`${files[0]}.owner.${process.pid}`), "a refused run's notes go");
  // the lock program failing otherwise is no conflict: its own error, with its stderr
  const broken = new FakeRunner().on(holdArgv(files), { exitCode: 2, stderr: `${files[0]}: Read-only file system` });
  await assert.rejects(
    acquireLocks(broken, keys, 'x', dir),
    /command failed \(exit 2\): perl .*\n.*Read-only file system/,
  );
});

// The real lock program (perl) against util-linux flock(1), the way another run (or an
// older btrfs-vault) takes the same files: one call for 50 keys, all or none.
const fifty = Array.from({ length: 50 }, (_, i) => ({
  what: `the source /data/s${i}`,
  key: `source 0:42 /data/s${i}`,
}));
const isHeld = (file: string) => spawnSync('flock', ['-n', '-E', '75', file, 'true']).status === 75;

test('locks, real: 50 keys taken in one perl process, each held until release, then all free', async () => {
  const dir = join(scratchDir('lock'), 'locks');
  const files = fifty.map((k) => lockFile(k.key, dir));
  const lock = await acquireLocks(new ExecRunner(), fifty, 'config /etc/x.toml', dir);
  assert.deepEqual(
    files.filter((f) => !isHeld(f)),
    [],
    'every lock is held',
  );
  await assert.rejects(
    acquireLocks(new ExecRunner(), fifty.slice(49), 'config /etc/y.toml', dir),
    /another btrfs-vault run \(pid \d+, config \/etc\/x\.toml\) is working with the source \/data\/s49/,
  );
  await lock.release();
  assert.deepEqual(files.filter(isHeld), [], 'every lock is free after release');
});

test('locks, real: one of 50 held by someone else: LockedError naming it, none of the others kept', async () => {
  const dir = join(scratchDir('lock'), 'locks');
  const files = fifty.map((k) => lockFile(k.key, dir));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // a note left by a run long gone: not the holder's
  writeFileSync(`${files[31]}.owner.777`, '777\nconfig /other.toml\nthe source /data/s31\n');
  // blocking (no -n): a probe below may hold the file for a moment; -o: only flock holds it, so killing it frees it (and its sleep dies with it)
  const other = spawn('flock', ['-o', files[31]!, 'setpriv', '--pdeathsig', 'KILL', '--', 'sleep', '30'], {
    stdio: 'ignore',
  });
  try {
    for (let i = 0; i < 100 && !isHeld(files[31]!); i++) await new Promise((done) => setTimeout(done, 20));
    assert.ok(isHeld(files[31]!), 'the other holder took its lock');
    await assert.rejects(
      acquireLocks(new ExecRunner(), fifty, 'config /etc/x.toml', dir),
      (err: Error & { exitCode?: number; fix?: string }) => {
        assert.equal(err.exitCode, 4);
        // flock holds it: the live holder is named, never the dead run of an old note
        assert.match(
          err.message,
          new RegExp(`^the source /data/s31 is locked by pid ${other.pid} \\(flock\\), not by a btrfs-vault run$`),
        );
        assert.match(err.fix ?? '', new RegExp(`nothing was done by this run \\(lock file ${files[31]}\\)`));
        return true;
      },
    );
    assert.deepEqual(files.filter(isHeld), [files[31]], "only the other holder's lock is held");
  } finally {
    other.kill('SIGKILL');
  }
});

test('locks, real: a run that has taken its locks and not yet got on (a loaded machine) is named by a refused run, however long it lags', async () => {
  const dir = join(scratchDir('lock'), 'locks');
  const files = fifty.slice(0, 2).map((k) => lockFile(k.key, dir));
  let go!: () => void;
  const gate = new Promise<void>((done) => (go = done));
  let saidHeld!: (held: boolean) => void;
  const heldNow = new Promise<boolean>((done) => (saidHeld = done));
  // the lock program has said "held"; the run itself is not scheduled again until the gate opens
  class Lagging extends ExecRunner {
    override async hold(argv: Parameters<ExecRunner['hold']>[0]) {
      const held = await super.hold(argv);
      saidHeld(held.held);
      await gate;
      return held;
    }
  }
  const first = acquireLocks(new Lagging(), fifty.slice(0, 2), 'config /etc/first.toml', dir);
  try {
    // (no flock probe while it takes them: a probe holds a file for a moment)
    assert.ok(await heldNow, 'the first run holds its locks');
    await assert.rejects(
      acquireLocks(new ExecRunner(), fifty.slice(1, 2), 'config /etc/second.toml', dir),
      (err: Error) => {
        assert.equal(
          err.message,
          `another btrfs-vault run (pid ${process.pid}, config /etc/first.toml) is working with the source /data/s1`,
        );
        return true;
      },
    );
  } finally {
    go();
    await (await first).release();
  }
  assert.deepEqual(files.filter(isHeld), []);
});

test('locks, real: a run killed with SIGKILL frees its locks at once', async () => {
  const dir = join(scratchDir('lock'), 'locks');
  const files = fifty.slice(0, 3).map((k) => lockFile(k.key, dir));
  const code = `import { acquireLocks } from ${JSON.stringify(fileURLToPath(new URL('../../src/system/lock.js', import.meta.url)))};
import { ExecRunner } from ${JSON.stringify(fileURLToPath(new URL('../../src/system/exec-runner.js', import.meta.url)))};
await acquireLocks(new ExecRunner(), ${JSON.stringify(fifty.slice(0, 3))}, 'x', ${JSON.stringify(dir)});
console.log('locked'); setInterval(() => {}, 1000);`;
  const run = spawn('node', ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((done) => run.stdout.once('data', done));
  assert.equal(files.filter(isHeld).length, 3);
  run.kill('SIGKILL');
  for (let i = 0; i < 100 && files.some(isHeld); i++) await new Promise((done) => setTimeout(done, 20));
  assert.deepEqual(files.filter(isHeld), []);
});

test('locks: a lock folder someone else could write is refused', async () => {
  const base = scratchDir('lock');
  const dir = join(base, 'locks');
  mkdirSync(dir, { mode: 0o777 });
  chmodSync(dir, 0o777);
  await assert.rejects(acquireLocks(new FakeRunner(), keys, 'x', dir), /not this user's alone/);
});

test('receive record: written without following a planted link, read back; a record naming a path outside the folder is ignored', () => {
  const dir = scratchDir('rec');
  const victim = join(scratchDir('victim'), 'file');
  writeFileSync(victim, 'precious');
  symlinkSync(victim, join(dir, RECEIVE_RECORD));
  writeReceiveRecord(new FakeRunner(), dir, { name: '2026-11-27_10-00-00', run: 'host pid 1', started: 'now' });
  assert.equal(readFileSync(victim, 'utf8'), 'precious', 'the link was replaced, not followed');
  assert.equal(readReceiveRecord(dir)?.name, '2026-11-27_10-00-00');
  writeFileSync(join(dir, RECEIVE_RECORD), JSON.stringify({ name: '../../etc', run: 'x' }));
  assert.equal(readReceiveRecord(dir), undefined);
  writeFileSync(join(dir, RECEIVE_RECORD), '{torn');
  assert.equal(readReceiveRecord(dir), undefined);
});

test('open record: what a run opened, kept until someone closes or keeps it open', () => {
  const dir = scratchDir('open');
  assert.equal(readOpenRecord('/media/backup', dir), undefined);
  writeOpenRecord(new FakeRunner(), '/media/backup', { from: 'raid', pid: 7 }, dir);
  assert.deepEqual(readOpenRecord('/media/backup', dir), { from: 'raid', pid: 7 });
  assert.equal(readOpenRecord('/media/other', dir), undefined);
  clearOpenRecord(new FakeRunner(), '/media/backup', dir);
  assert.equal(readOpenRecord('/media/backup', dir), undefined);
});

test('links: previous only takes a valid latest; stale temporaries that are links go, anything else stays', () => {
  const dir = scratchDir('links');
  const r = new FakeRunner();
  moveLinks(r, dir, 'a', new Set());
  moveLinks(r, dir, 'b', new Set(['a']));
  assert.deepEqual([readlinkSync(join(dir, LATEST)), readlinkSync(join(dir, PREVIOUS))], ['b', 'a']);
  symlinkSync('garbage', join(dir, 'tmp'));
  renameSync(join(dir, 'tmp'), join(dir, LATEST));
  moveLinks(r, dir, 'c', new Set(['a', 'b']));
  assert.deepEqual(
    [readlinkSync(join(dir, LATEST)), readlinkSync(join(dir, PREVIOUS))],
    ['c', 'a'],
    'a garbage latest is not copied to previous',
  );
  symlinkSync('x', join(dir, '.btrfs-vault-link-latest'));
  mkdirSync(join(dir, '.btrfs-vault-link-previous'));
  assert.deepEqual(removeStaleLinks(r, dir), ['.btrfs-vault-link-latest']);
  assert.ok(lexists(join(dir, '.btrfs-vault-link-previous')), 'a folder under a temporary link name stays');
  assert.equal(lexists(join(dir, '.btrfs-vault-link-latest')), false);
});

test('locks, real: when an owner record cannot be written, the locks are let go and the error is told (never a run hung on its own lock)', async () => {
  const dir = join(scratchDir('lock'), 'locks');
  const files = fifty.map((k) => lockFile(k.key, dir));
  mkdirSync(`${files[7]}.owner.${process.pid}`, { recursive: true }); // a folder where the note goes
  await assert.rejects(
    acquireLocks(new ExecRunner(), fifty, 'config /etc/x.toml', dir),
    /EISDIR|illegal operation on a directory/,
  );
  assert.deepEqual(files.filter(isHeld), [], 'no lock is left held');
});
