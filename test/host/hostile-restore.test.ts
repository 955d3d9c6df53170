import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, makeScenario, type Scenario } from '../support/scenario.js';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../support/loop-disk.js';
import { BIN } from '../support/cli.js';
import { drivePty } from '../support/pty.js';
import { sh } from '../support/sh.js';

// Issue 19, the way back: restore and restore --path tried the hostile way (HOSTILE.md).
// One scenario for all: a source with two backups, a second filesystem to restore to,
// and a third that the [space] cases fill and empty again. Each case failed before the
// change it guards.

let s: Scenario;
let other: LoopFs;
let full: LoopFs;
let b1: string;
let b2: string;

before(() => {
  requireRoot();
  s = makeScenario({ sizeMiB: 256 });
  other = makeLoopBtrfs(s.dir, 'other', 256);
  full = makeLoopBtrfs(s.dir, 'full', 256);
  writeFileSync(join(s.data, 'f.txt'), 'v1');
  mkdirSync(join(s.data, 'dir'));
  writeFileSync(join(s.data, 'dir', 'a'), 'in dir');
  writeFileSync(join(s.data, '..hidden'), 'hidden');
  execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, 'big.bin')}`, 'bs=1M', 'count=40', 'status=none']);
  mkdirSync(join(s.data, 'bigdir'));
  execFileSync('dd', [
    'if=/dev/urandom',
    `of=${join(s.data, 'bigdir', 'inside.bin')}`,
    'bs=1M',
    'count=40',
    'status=none',
  ]);
  b1 = json(s.cli(['--json', '--config', s.config])).sources[0].snapshot;
  execFileSync('sleep', ['1.1']); // the second backup gets a later second in its name
  writeFileSync(join(s.data, 'f.txt'), 'v2');
  b2 = json(s.cli(['--json', '--config', s.config])).sources[0].snapshot;
});

after(() => {
  other?.dispose();
  full?.dispose();
  s?.dispose();
});

/** the CLI run in a folder of our own (a relative --to lands there) */
function cliIn(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('node', [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** a fresh folder on the filesystem restored to */
function folder(name: string, fs: LoopFs = other): string {
  const dir = join(fs.mountPoint, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** fills `full` up to about 12 MiB, less than the 40 MiB files; returns the way back */
function fill(): () => void {
  const filler = join(full.mountPoint, '.filler');
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M', 'status=none'], { stdio: 'ignore' });
  } catch {
    /* full: what we wanted */
  }
  sh('truncate', ['-s', `-12M`, filler]);
  sh('btrfs', ['filesystem', 'sync', full.mountPoint]);
  return () => {
    sh('rm', ['-f', filler]);
    sh('btrfs', ['filesystem', 'sync', full.mountPoint]);
  };
}

const temporaries = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('.btrfs-vault-restoring'));
/** "2026-12-06_01-02-03" -> "2026-12-06T01:02:03" (no zone) */
const bareTime = (name: string) => name.replace(/^(\d{4}-\d{2}-\d{2})_(\d{2})-(\d{2})-(\d{2}).*$/, '$1T$2:$3:$4');

test('[paths we are given] restore --path with --to=--help: a file named --help in the current folder, never an option of cp', () => {
  const cwd = folder('cwd-help');
  const r = cliIn(cwd, ['restore', s.data, '--path', 'f.txt', '--to=--help', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /Usage: cp/);
  assert.equal(readFileSync(join(cwd, '--help'), 'utf8'), 'v2');
});

test('[paths we are given] --to DIR/ --overwrite of a folder: replaced, the old one kept as DIR.before-restore, no raw mv error', () => {
  const to = folder('dir-copy');
  writeFileSync(join(to, 'marker'), 'the one that was there');
  const r = s.cli([
    'restore',
    s.data,
    '--path',
    'dir',
    '--to',
    `${to}/`,
    '--overwrite',
    '--json',
    '--config',
    s.config,
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(readFileSync(join(to, 'a'), 'utf8'), 'in dir');
  assert.equal(readFileSync(join(`${to}.before-restore`, 'marker'), 'utf8'), 'the one that was there');
  assert.deepEqual(json(r).restored.kept, `${to}.before-restore`);
});

test('[paths we are given] a name starting with two dots (..hidden) is inside the source: listed and restored; ../x still is not', () => {
  const listed = s.cli(['files', s.data, '..hidden', '--json', '--config', s.config]);
  assert.equal(listed.code, 0, listed.stdout + listed.stderr);
  assert.equal(json(listed).versions.length, 2);
  const to = join(folder('dots'), 'hidden-copy');
  const r = s.cli(['restore', s.data, '--path', '..hidden', '--to', to, '--config', s.config]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(readFileSync(to, 'utf8'), 'hidden');
  const out = s.cli(['restore', s.data, '--path', '../x', '--to', join(folder('dots'), 'x'), '--config', s.config]);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /not inside the source/);
});

test('[paths we are given] restore --path to a path whose folder does not exist: exit 2 with the fix, not a raw cp error', () => {
  const to = join(other.mountPoint, 'no-such-folder', 'f.txt');
  const r = s.cli(['restore', s.data, '--path', 'f.txt', '--to', to, '--config', s.config]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /✖ .*no-such-folder is not an existing folder: --to must name a path in one\nfix: create it first/,
  );
  assert.ok(!existsSync(join(other.mountPoint, 'no-such-folder')));
});

test('[paths we are given] restore --path into a read-only folder: exit 2 with the fix, nothing written', () => {
  const ro = join(other.mountPoint, 'ro-path');
  sh('btrfs', ['subvolume', 'create', ro]);
  sh('btrfs', ['property', 'set', '-ts', ro, 'ro', 'true']);
  const r = s.cli(['restore', s.data, '--path', 'f.txt', '--to', join(ro, 'f.txt'), '--config', s.config]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /✖ the folder .*ro-path is read-only \(a read-only mount or subvolume\); nothing was copied\nfix: /,
  );
  assert.deepEqual(readdirSync(ro), []);
});

test('[paths we are given] a whole restore into a read-only folder: exit 2 before the backup disk is opened', () => {
  const ro = join(other.mountPoint, 'ro-whole');
  sh('btrfs', ['subvolume', 'create', ro]);
  sh('btrfs', ['property', 'set', '-ts', ro, 'ro', 'true']);
  const r = s.cli(['restore', s.data, '--to', ro, '--config', s.config]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /read-only.*nothing was written/);
  assert.deepEqual(readdirSync(ro), []);
});

test('[space] restore --path --overwrite onto a full filesystem: the original stays in place, no partial, no .before-restore, the restore side named; a retry after freeing space works', () => {
  const to = join(full.mountPoint, 'big.bin');
  writeFileSync(to, 'original');
  const unfill = fill();
  try {
    const r = s.cli(['restore', s.data, '--path', 'big.bin', '--to', to, '--overwrite', '--config', s.config]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /the filesystem the file is restored to \(.*\) is full/);
    assert.match(r.stdout, /fix: free space on that filesystem/);
    assert.doesNotMatch(r.stdout + r.stderr, /backup filesystem is full|delete old backups/);
    assert.equal(readFileSync(to, 'utf8'), 'original');
    assert.ok(!existsSync(`${to}.before-restore`));
    assert.deepEqual(temporaries(full.mountPoint), []);
  } finally {
    unfill();
  }
  const again = s.cli(['restore', s.data, '--path', 'big.bin', '--to', to, '--overwrite', '--config', s.config]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(statSync(to).size, 40 * 1024 * 1024);
  assert.equal(readFileSync(`${to}.before-restore`, 'utf8'), 'original');
  sh('rm', ['-f', to, `${to}.before-restore`]);
});

test('[space] restore --path of a folder onto a full filesystem: nothing is left at --to, no temporary', () => {
  const to = join(full.mountPoint, 'bigdir-copy');
  const unfill = fill();
  try {
    const r = s.cli(['restore', s.data, '--path', 'bigdir', '--to', to, '--config', s.config]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /is full/);
    assert.ok(!existsSync(to), 'no partial copy at --to');
    assert.deepEqual(temporaries(full.mountPoint), []);
  } finally {
    unfill();
  }
});

test('[space] a whole restore onto a full filesystem: the restore side is named with its fix, never "delete old backups there"', () => {
  const to = folder('whole', full);
  const unfill = fill();
  try {
    const r = s.cli(['restore', s.data, '--to', to, '--config', s.config]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /the filesystem restored to \(.*whole\) is full/);
    assert.match(r.stdout, /fix: free space on that filesystem .* the backup disk is not the one that is full/);
    assert.doesNotMatch(r.stdout + r.stderr, /delete old backups|btrfs subvolume delete/);
    assert.deepEqual(readdirSync(to), [], 'the partial subvolume was deleted');
  } finally {
    unfill();
  }
});

test('[signals and power] SIGTERM during restore --path --overwrite: exit 143, the original where it was, no copy, no temporary', async () => {
  const dir = folder('signalled');
  const to = join(dir, 'bigdir');
  mkdirSync(to);
  writeFileSync(join(to, 'mine'), 'mine');
  const child = s.spawnCli(['restore', s.data, '--path', 'bigdir', '--to', to, '--overwrite', '--config', s.config]);
  // at its first line of output (checking the sources), long before the copy is done
  child.stdout!.once('data', () => child.kill('SIGTERM'));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  assert.equal(code, 143);
  assert.deepEqual(readdirSync(dir), ['bigdir']);
  assert.deepEqual(readdirSync(to), ['mine']);
});

test('[time] --before: a bare date and time is UTC whatever TZ says; Z, offsets and backup names are taken as written', () => {
  const pick = (before: string, tz: string) => {
    const r = s.cli(
      ['restore', s.data, '--before', before, '--to', other.mountPoint, '--dry-run', '--json', '--config', s.config],
      { TZ: tz },
    );
    assert.equal(r.code, 0, `${before} (${tz}): ${r.stdout} ${r.stderr}`);
    return json(r).backup as string;
  };
  const t2 = new Date(`${bareTime(b2)}Z`);
  // b2's instant written in Tokyo's time (+09:00)
  const tokyo = new Date(t2.getTime() + 9 * 3600_000).toISOString().slice(0, 19);
  for (const tz of ['Asia/Tokyo', 'America/Los_Angeles']) {
    assert.equal(pick(bareTime(b2), tz), b1, `bare, ${tz}`);
    assert.equal(pick(`${bareTime(b2)}Z`, tz), b1, `Z, ${tz}`);
    assert.equal(pick(`${tokyo}+09:00`, tz), b1, `+09:00, ${tz}`);
    assert.equal(pick(b2, tz), b1, `a backup name, ${tz}`);
  }
  const bad = s.cli(['restore', s.data, '--before', '2026-02-30', '--to', other.mountPoint, '--config', s.config]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /fix: .*UTC/);
});

test('[time] restore --help says which zone a bare --before means', () => {
  const r = s.cli(['restore', '--help']);
  assert.equal(r.code, 0);
  assert.match(
    r.stdout.replace(/\s+/g, ' '),
    /--before <datetime> .*UTC like the backup names, unless it ends in Z or an offset/,
  );
});

test('[two of us at once] the restore picker holds the lock while a person chooses: a backup started then is refused (exit 4), and the restore goes on', async () => {
  const out = join(folder('picked'), 'f.txt');
  let during: { code: number; stdout: string; stderr: string } | undefined;
  const { code, screen } = await drivePty(
    ['node', BIN, 'restore', '--config', s.config],
    [
      [/Which source\?/, '\r'],
      [/Which file or folder/, 'f.txt\r'],
      [/Copy it to which path/, `${out}\r`],
      [
        new RegExp(`Which backup\\?[\\s\\S]*${b2}`),
        () => {
          during = s.cli(['--json', '--config', s.config]);
          return '\r'; // the newest
        },
      ],
    ],
  );
  assert.equal(code, 0, screen.slice(-2000));
  assert.equal(during?.code, 4, `${during?.stdout} ${during?.stderr}`);
  assert.equal(readFileSync(out, 'utf8'), 'v2');
});

test('[ordering and agreement] restore --dry-run says "would restore", never "restored"; nothing is written', () => {
  const to = folder('dry');
  const whole = s.cli(['restore', s.data, '--to', to, '--dry-run', '--config', s.config]);
  assert.equal(whole.code, 0, whole.stderr);
  assert.match(whole.stdout, /would restore/);
  assert.doesNotMatch(whole.stdout, /restored as/);
  const one = s.cli([
    'restore',
    s.data,
    '--path',
    'f.txt',
    '--to',
    join(to, 'f.txt'),
    '--dry-run',
    '--config',
    s.config,
  ]);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /would restore f\.txt/);
  assert.doesNotMatch(one.stdout, /^restored /m);
  assert.deepEqual(readdirSync(to), []);
  writeFileSync(join(to, 'mine'), 'mine');
  const over = s.cli([
    'restore',
    s.data,
    '--path',
    'f.txt',
    '--to',
    join(to, 'mine'),
    '--overwrite',
    '--dry-run',
    '--config',
    s.config,
  ]);
  assert.equal(over.code, 0, over.stderr);
  assert.match(
    over.stdout,
    /would restore f\.txt .* \(keeping the one there as .*mine\.before-restore\); dry run: nothing was changed/,
  );
  assert.deepEqual(readdirSync(to), ['mine']);
  assert.equal(readFileSync(join(to, 'mine'), 'utf8'), 'mine');
});

test('[ordering and agreement] a missing backup is bad input both ways: with --from and positionally, exit 2', () => {
  const to = folder('missing');
  const from = s.cli([
    'restore',
    s.data,
    '--path',
    'f.txt',
    '--from',
    '2000-01-01_00-00-00',
    '--to',
    join(to, 'f'),
    '--config',
    s.config,
  ]);
  const named = s.cli(['restore', s.data, '2000-01-01_00-00-00', '--to', to, '--config', s.config]);
  assert.deepEqual([from.code, named.code], [2, 2], from.stderr + named.stderr);
  assert.match(from.stderr, /no complete backup named 2000-01-01_00-00-00/);
  assert.deepEqual(readdirSync(to), []);
});

test('[ordering and agreement] --writable with an existing .writable is refused before anything is sent: exit 2, nothing written', () => {
  const to = folder('writable');
  mkdirSync(join(to, `${b2}.writable`));
  const r = s.cli(['restore', s.data, '--to', to, '--writable', '--config', s.config]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /\.writable exists already/);
  assert.deepEqual(readdirSync(to), [`${b2}.writable`], 'no restored subvolume beside it');
});

// last: following the printed steps replaces the source subvolume
test('[what we write into other formats] the steps printed after a restore onto another filesystem than the source send it there, quoted, and work as printed', () => {
  const to = folder("steps it's $HOME");
  const r = s.cli(['restore', s.data, '--to', to, '--json', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  const steps: string[] = json(r).nextSteps;
  assert.match(steps.join('\n'), /btrfs send .* \| btrfs receive /);
  assert.doesNotMatch(steps.join('\n'), /mv works for subvolumes/);
  // what the person does: every line but the last advice, through a shell
  for (const line of steps.filter((l) => !l.startsWith('keep ')))
    execFileSync('bash', ['-ec', line], { stdio: 'pipe' });
  assert.equal(readFileSync(join(s.data, 'f.txt'), 'utf8'), 'v2');
  assert.equal(statSync(s.data).ino, 256, 'the live source is a subvolume again, not a copied folder');
  assert.equal(readFileSync(join(`${s.data}.before-restore`, 'f.txt'), 'utf8'), 'v2');
});

test('[signals and power] Ctrl-C at the restore picker while the disk is open: exit 130 and a plain message (not an internal error), the lock free, nothing restored (last: its check runs a backup)', async () => {
  const out = join(folder('interrupted'), 'f.txt');
  const { code, screen } = await drivePty(
    ['node', BIN, 'restore', '--config', s.config],
    [
      [/Which source\?/, '\r'],
      [/Which file or folder/, 'f.txt\r'],
      [/Copy it to which path/, `${out}\r`],
      [new RegExp(`Which backup\\?[\\s\\S]*${b2}`), '\x03'],
    ],
  );
  assert.equal(code, 130, screen.slice(-2000));
  assert.match(screen, /stopped at a question \(Ctrl-C\): nothing more was done/);
  assert.doesNotMatch(screen, /internal error/);
  assert.ok(!existsSync(out), 'nothing restored');
  const next = s.cli(['--json', '--config', s.config]);
  assert.equal(next.code, 0, `the lock is free: ${next.stderr}`);
});
