import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { json, makeScenario, type Scenario } from '../support/scenario.js';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../support/loop-disk.js';
import { BIN } from '../support/cli.js';
import { sh } from '../support/sh.js';
import { unitNames } from '../../src/flows/schedule/schedule.js';

// An outside tester's cases against the verbs issue 19 hardened (restore, prune and
// min_free, list/status/files, notify, schedule, dry-run, two runs at once), the way a
// hostile user, a broken machine or a confused admin would try them. Each case names
// what must happen; the ones that found a defect failed before the change they guard.

let s: Scenario;
let other: LoopFs;
let tmpfs: string;
let b1: string;

before(() => {
  requireRoot();
  s = makeScenario({ sizeMiB: 256 });
  other = makeLoopBtrfs(s.dir, 'other', 512);
  writeFileSync(join(s.data, 'f.txt'), 'v1');
  mkdirSync(join(s.data, 'dir'));
  writeFileSync(join(s.data, 'dir', 'a'), 'in dir');
  symlinkSync('/etc/hostname', join(s.data, 'esc'));
  mkdirSync(join(s.data, 'many'));
  for (let i = 0; i < 3000; i++) writeFileSync(join(s.data, 'many', String(i)), `${i}\n`.repeat(50));
  execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, 'big.bin')}`, 'bs=1M', 'count=80', 'status=none']);
  b1 = json(s.cli(['--json', '--config', s.config])).sources[0].snapshot;
  execFileSync('sleep', ['1.1']);
  writeFileSync(join(s.data, 'f.txt'), 'v2');
  assert.equal(s.cli(['--config', s.config]).code, 0, 'the second backup');
  tmpfs = join(s.dir, 'tmpfs');
  mkdirSync(tmpfs);
  sh('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', tmpfs]);
});

after(() => {
  try {
    sh('umount', [tmpfs]);
  } catch {
    /* not mounted */
  }
  other?.dispose();
  s?.dispose();
});

function cliIn(cwd: string, args: string[]) {
  const r = spawnSync('node', [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** a fresh folder on `other` */
function folder(name: string): string {
  const dir = join(other.mountPoint, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

const temporaries = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('.btrfs-vault-restoring'));

/**
 * Everything of these trees a change would show: names, types, sizes, modes, link
 * targets, mtimes and ctimes; and the subvolumes with their generations. Read twice:
 * the first reading's own atime updates (relatime) move the generations once.
 */
function state(...roots: string[]): string {
  reading(roots);
  return reading(roots);
}

function reading(roots: string[]): string {
  sh('sync', []);
  const files = roots.map((r) =>
    execFileSync('find', [r, '-printf', '%p|%y|%s|%m|%l|%T@|%C@\\n'], { encoding: 'utf8', maxBuffer: 2 ** 30 })
      .split('\n')
      .sort()
      .join('\n'),
  );
  const subvolumes = roots.map((r) => {
    try {
      return sh('btrfs', ['subvolume', 'list', '-a', '-c', '-u', '-q', '-R', r]);
    } catch {
      return '';
    }
  });
  return [...files, ...subvolumes].join('\n');
}

/** the CLI started, killed with `signal` as soon as `ready` says so; its exit code */
async function killWhen(
  args: string[],
  ready: () => boolean,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; caught: boolean; stderr: string }> {
  const child = spawn('node', [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, sig) => res({ code, signal: sig })),
  );
  let exited = false;
  void done.then(() => (exited = true));
  let caught = false;
  const deadline = Date.now() + 60_000;
  while (!exited && Date.now() < deadline) {
    if (ready()) {
      child.kill(signal);
      caught = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  const r = await done;
  return { ...r, caught, stderr };
}

// ---------------------------------------------------------------- restore --path: the paths we are given

test('[paths we are given] restore --path --to through a symlinked folder on the way (LINK/f.txt, LINK -> a real folder): restored in the folder the link points to', () => {
  const real = folder('real-1');
  const link = join(s.dir, 'link-1');
  symlinkSync(real, link);
  const r = s.cli(['restore', s.data, '--path', 'f.txt', '--to', join(link, 'f.txt'), '--config', s.config]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(readFileSync(join(real, 'f.txt'), 'utf8'), 'v2');
  assert.ok(lstatSync(link).isSymbolicLink(), 'the link on the way is left a link');
  assert.deepEqual(temporaries(real), []);
});

test('[paths we are given] restore --path --to a dangling symlink, without --overwrite: refused (exit 2), the link untouched, nothing made where it points', () => {
  const dir = folder('dangling');
  const pointed = join(s.dir, 'nowhere-1');
  symlinkSync(pointed, join(dir, 'x'));
  const r = s.cli(['restore', s.data, '--path', 'f.txt', '--to', join(dir, 'x'), '--config', s.config]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(readlinkSync(join(dir, 'x')), pointed);
  assert.ok(!existsSync(pointed));
  assert.deepEqual(temporaries(dir), []);
});

test('[paths we are given] restore --path --overwrite onto a symlink to a file elsewhere: the link is what is replaced (kept as .before-restore), the file it pointed to is untouched', () => {
  const dir = folder('link-over');
  const victim = join(s.dir, 'victim.txt');
  writeFileSync(victim, 'precious');
  symlinkSync(victim, join(dir, 'f.txt'));
  const r = s.cli([
    'restore',
    s.data,
    '--path',
    'f.txt',
    '--overwrite',
    '--to',
    join(dir, 'f.txt'),
    '--config',
    s.config,
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(readFileSync(victim, 'utf8'), 'precious', 'never written through the link');
  assert.ok(lstatSync(join(dir, 'f.txt')).isFile());
  assert.equal(readFileSync(join(dir, 'f.txt'), 'utf8'), 'v2');
  assert.equal(readlinkSync(join(dir, 'f.txt.before-restore')), victim, 'the old link kept as it was');
});

test('[paths we are given] restore --path with a relative --to through ..: lands where the shell would put it, and --json says the absolute path', () => {
  const dir = folder('rel/sub');
  const r = cliIn(dir, ['restore', s.data, '--path', 'dir/a', '--to', '../a-copy', '--json', '--config', s.config]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(readFileSync(join(other.mountPoint, 'rel', 'a-copy'), 'utf8'), 'in dir');
  assert.equal(json(r).restored.to, join(other.mountPoint, 'rel', 'a-copy'));
});

test('[paths we are given] restore --path --overwrite --to "" (an unset shell variable): refused, the current folder is not moved away', () => {
  const dir = folder('cwd-empty');
  writeFileSync(join(dir, 'keep'), 'k');
  const r = cliIn(dir, ['restore', s.data, '--path', 'f.txt', '--overwrite', '--to', '', '--config', s.config]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(readFileSync(join(dir, 'keep'), 'utf8'), 'k');
  assert.ok(!existsSync(`${dir}.before-restore`));
});

test('[paths we are given] restore --path --to a name longer than 255 bytes: bad input (exit 2) with the reason, not a raw mv error; no temporary left', () => {
  const dir = folder('long-name');
  const r = s.cli(['restore', s.data, '--path', 'f.txt', '--to', join(dir, 'n'.repeat(300)), '--config', s.config]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /command failed|mv:|cp:/);
  assert.match(r.stdout + r.stderr, /255/);
  assert.deepEqual(readdirSync(dir), []);
});

test('[paths we are given] restore --path --to a path longer than PATH_MAX (4096+ bytes): exit 2, no internal error', () => {
  const long = join(other.mountPoint, ...Array.from({ length: 18 }, () => 'd'.repeat(250)), 'x');
  const r = s.cli(['restore', s.data, '--path', 'f.txt', '--to', long, '--config', s.config]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /internal error|\n\s+at /);
});

test('[paths we are given] restore --path --to a name with a newline: the exact name on disk, shown escaped on one line', () => {
  const dir = folder('newline');
  const r = s.cli(['restore', s.data, '--path', 'f.txt', '--to', join(dir, 'new\nline.txt'), '--config', s.config]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(readdirSync(dir), ['new\nline.txt']);
  assert.ok(
    r.stdout.split('\n').some((l) => l.startsWith('restored ') && l.includes('new\\nline.txt')),
    r.stdout,
  );
});

test('[paths we are given] restore --path onto tmpfs (a copy needs no btrfs): restored', () => {
  const r = s.cli([
    'restore',
    s.data,
    '--path',
    'f.txt',
    '--from',
    b1,
    '--to',
    join(tmpfs, 'f.txt'),
    '--config',
    s.config,
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(readFileSync(join(tmpfs, 'f.txt'), 'utf8'), 'v1');
});

test('[paths we are given] a whole restore --to a tmpfs folder: exit 2 naming btrfs, nothing written', () => {
  const before = readdirSync(tmpfs);
  const r = s.cli(['restore', s.data, '--to', tmpfs, '--config', s.config]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr + r.stdout, /tmpfs.*not btrfs/);
  assert.deepEqual(readdirSync(tmpfs), before);
});

test('[paths we are given] restore --path of a symlink in the backup that points at /etc/hostname: restored as that link, never the file it points to', () => {
  const dir = folder('esc');
  const r = s.cli(['restore', s.data, '--path', 'esc', '--to', join(dir, 'esc'), '--config', s.config]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(lstatSync(join(dir, 'esc')).isSymbolicLink());
  assert.equal(readlinkSync(join(dir, 'esc')), '/etc/hostname');
});

test('[paths we are given] restore --path /etc/passwd (outside the source): exit 2, nothing written', () => {
  const dir = folder('outside');
  const r = s.cli(['restore', s.data, '--path', '/etc/passwd', '--to', join(dir, 'passwd'), '--config', s.config]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.deepEqual(readdirSync(dir), []);
});

// ---------------------------------------------------------------- signals and power

test("[signals and power] SIGKILL while restore --path copies a folder: nothing at --to; the next restore into that folder removes the dead run's temporary, and works", async () => {
  const dir = folder('killed-path');
  const k = await killWhen(
    ['restore', s.data, '--path', 'many', '--to', join(dir, 'many'), '--config', s.config],
    () => temporaries(dir).length > 0,
    'SIGKILL',
  );
  assert.ok(k.caught, 'killed while copying');
  assert.equal(k.signal, 'SIGKILL');
  assert.ok(!existsSync(join(dir, 'many')), 'no partial at --to');
  const r = s.cli(['restore', s.data, '--path', 'dir', '--to', join(dir, 'dir'), '--config', s.config]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(temporaries(dir), [], 'the temporary of the killed run is gone');
  assert.match(r.stdout + r.stderr, /\.btrfs-vault-restoring\.\d+/, 'and the run says it removed it');
});

test("[what we delete] temporaries in the folder that are not a dead run's (a live process's, a user's file of that prefix): left alone by a restore there", () => {
  const dir = folder('not-ours');
  const live = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    mkdirSync(join(dir, `.btrfs-vault-restoring.${live.pid}`));
    writeFileSync(join(dir, `.btrfs-vault-restoring.${live.pid}`, 'busy'), 'b');
    writeFileSync(join(dir, '.btrfs-vault-restoring.notes'), 'mine');
    const r = s.cli(['restore', s.data, '--path', 'f.txt', '--to', join(dir, 'f.txt'), '--config', s.config]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(readFileSync(join(dir, `.btrfs-vault-restoring.${live.pid}`, 'busy'), 'utf8'), 'b');
    assert.equal(readFileSync(join(dir, '.btrfs-vault-restoring.notes'), 'utf8'), 'mine');
  } finally {
    live.kill('SIGKILL');
  }
});

test('[signals and power] SIGINT while restore --path --overwrite copies a folder: exit 130, the original where it was, no temporary', async () => {
  const dir = folder('int-path');
  mkdirSync(join(dir, 'many'));
  writeFileSync(join(dir, 'many', 'orig'), 'o');
  const k = await killWhen(
    ['restore', s.data, '--path', 'many', '--overwrite', '--to', join(dir, 'many'), '--config', s.config],
    () => temporaries(dir).length > 0,
    'SIGINT',
  );
  assert.ok(k.caught);
  assert.equal(k.code, 130, k.stderr);
  assert.deepEqual(readdirSync(join(dir, 'many')), ['orig']);
  assert.ok(!existsSync(join(dir, 'many.before-restore')));
  assert.deepEqual(temporaries(dir), []);
});

test('[signals and power] SIGHUP (the terminal closed) while restore --path copies: the run stops, nothing at --to, no temporary', async () => {
  const dir = folder('hup-path');
  const k = await killWhen(
    ['restore', s.data, '--path', 'many', '--to', join(dir, 'many'), '--config', s.config],
    () => temporaries(dir).length > 0,
    'SIGHUP',
  );
  assert.ok(k.caught);
  assert.notEqual(k.code, 0);
  assert.ok(!existsSync(join(dir, 'many')));
  assert.deepEqual(temporaries(dir), []);
});

test('[signals and power] SIGKILL during a whole restore: the next restore names the half-received subvolume as the killed run\'s incomplete copy, with the delete command, not "move it away"', async () => {
  let dir = '';
  let partial = '';
  for (let attempt = 0; attempt < 4 && !partial; attempt++) {
    dir = folder(`killed-whole-${attempt}`);
    const k = await killWhen(
      ['restore', s.data, '--to', dir, '--config', s.config],
      () => readdirSync(dir).length > 0,
      'SIGKILL',
    );
    const made = readdirSync(dir);
    if (
      k.caught &&
      made.length === 1 &&
      sh('btrfs', ['property', 'get', join(dir, made[0]!), 'ro']).trim() === 'ro=false'
    )
      partial = join(dir, made[0]!);
  }
  assert.ok(partial, 'a partial was caught');
  const r = s.cli(['restore', s.data, '--to', dir, '--config', s.config]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /incomplete/);
  assert.match(
    r.stdout + r.stderr,
    new RegExp(`btrfs subvolume delete -- ${partial.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
  );
  assert.ok(existsSync(partial), 'the run itself deletes nothing it cannot prove it made');
});

// ---------------------------------------------------------------- two of us at once

test('[two of us at once] two restore --path --overwrite onto one file at once: one runs, the other is refused (exit 4); the original survives as .before-restore', async () => {
  const dir = folder('two-at-once');
  writeFileSync(join(dir, 'big.bin'), 'orig');
  const args = [
    'restore',
    s.data,
    '--path',
    'big.bin',
    '--overwrite',
    '--to',
    join(dir, 'big.bin'),
    '--config',
    s.config,
  ];
  const run = () =>
    new Promise<number | null>((res) => {
      const c = spawn('node', [BIN, ...args], { stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } });
      c.on('exit', (code) => res(code));
    });
  const codes = (await Promise.all([run(), run()])).sort();
  assert.deepEqual(codes, [0, 4]);
  assert.equal(readFileSync(join(dir, 'big.bin.before-restore'), 'utf8'), 'orig');
  assert.equal(lstatSync(join(dir, 'big.bin')).size, 80 * 1024 * 1024);
  assert.deepEqual(temporaries(dir), []);
});

// ---------------------------------------------------------------- dry-run: nothing changes

test('[ordering and agreement] restore --path --overwrite --dry-run: nothing changes anywhere (every name, size, mode, mtime and ctime; every subvolume generation)', () => {
  const dir = folder('dry-path');
  writeFileSync(join(dir, 'f.txt'), 'orig');
  const before = state(s.src.mountPoint, s.dst.mountPoint, other.mountPoint);
  const r = s.cli([
    'restore',
    s.data,
    '--path',
    'f.txt',
    '--overwrite',
    '--to',
    join(dir, 'f.txt'),
    '--dry-run',
    '--config',
    s.config,
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /would restore f\.txt/);
  assert.equal(state(s.src.mountPoint, s.dst.mountPoint, other.mountPoint), before);
});

test('[ordering and agreement] a whole restore --dry-run: nothing changes anywhere', () => {
  const dir = folder('dry-whole');
  const before = state(s.src.mountPoint, s.dst.mountPoint, other.mountPoint);
  const r = s.cli(['restore', s.data, '--to', dir, '--dry-run', '--config', s.config]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(state(s.src.mountPoint, s.dst.mountPoint, other.mountPoint), before);
});

test('[ordering and agreement] backup --dry-run of a changed source: nothing changes anywhere', () => {
  writeFileSync(join(s.data, 'dry.txt'), 'changed');
  try {
    const before = state(s.src.mountPoint, s.dst.mountPoint);
    const r = s.cli(['backup', '--dry-run', '--config', s.config]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(state(s.src.mountPoint, s.dst.mountPoint), before);
  } finally {
    rmSync(join(s.data, 'dry.txt'));
  }
});

test('[ordering and agreement] --json is one valid JSON document for list, status, files, verify, prune --dry-run, restore and backup when the backup disk is not there', () => {
  const cfg = join(s.configDir, 'missing.toml');
  writeFileSync(
    cfg,
    readFileSync(s.config, 'utf8').replace(
      /mountpoint = ".*"/,
      `mountpoint = ${JSON.stringify(join(s.dir, 'not-there'))}`,
    ),
    { mode: 0o600 },
  );
  const runs: [string[], boolean][] = [
    [['list'], true],
    [['status'], true],
    [['files', s.data, 'f.txt'], false],
    [['verify'], false],
    [['prune', '--dry-run'], false],
    [['restore', s.data, '--to', folder('json-missing')], false],
    [['backup'], false],
  ];
  for (const [args, ok] of runs) {
    const r = s.cli([...args, '--json', '--config', cfg]);
    assert.doesNotThrow(() => JSON.parse(r.stdout), `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    if (!ok) assert.notEqual(r.code, 0, args.join(' '));
  }
});

test('[time] --before with a date that does not exist (Feb 30, month 13, hour 25, offset +25:00): bad input, never rolled over into another day', () => {
  const dir = folder('before-bad');
  for (const v of ['2026-02-30', '2026-13-01', '2026-12-06T25:00', '2026-12-06T04:48:00+25:00']) {
    const r = s.cli(['restore', s.data, '--before', v, '--to', dir, '--dry-run', '--config', s.config]);
    assert.equal(r.code, 2, `${v}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /is not a date and time/, v);
  }
  assert.deepEqual(readdirSync(dir), []);
});

test('[ordering and agreement] the newest version files --json lists is the one restore --path takes by default', () => {
  const files = json(s.cli(['files', s.data, 'f.txt', '--json', '--config', s.config]));
  const dir = folder('files-agree');
  const r = s.cli(['restore', s.data, '--path', 'f.txt', '--to', join(dir, 'f.txt'), '--json', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(json(r).restored.from, files.versions.at(-1).backup);
  assert.equal(readFileSync(join(dir, 'f.txt'), 'utf8'), 'v2');
});

// ---------------------------------------------------------------- schedule: config paths

test('[what we write into other formats] a config path of bytes that are not UTF-8 (a unit file must be UTF-8): refused as such with the fix, not "does not exist"; nothing written', () => {
  const dirBytes = Buffer.concat([Buffer.from(`${s.dir}/cf`), Buffer.from([0xff, 0xfe])]);
  mkdirSync(dirBytes, { mode: 0o700 });
  const fileBytes = Buffer.concat([dirBytes, Buffer.from('/config.toml')]);
  writeFileSync(fileBytes, readFileSync(s.config), { mode: 0o600 });
  const root = join(s.dir, 'root-bytes');
  const r = spawnSync(
    'bash',
    [
      '-c',
      `node ${BIN} schedule install --root ${root} --on-plug --config "$(printf '%s/cf\\xff\\xfe/config.toml' ${s.dir})"`,
    ],
    { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
  );
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.doesNotMatch(r.stderr, /does not exist/);
  assert.match(r.stderr, /UTF-8/);
  assert.match(r.stderr, /\\xff\\xfe/, 'the path shown escaped');
  assert.ok(!existsSync(root));
});

test("[what we write into other formats] a config path with é, ', *, ? and [ ]: units systemd-analyze accepts, ExecStart holds the exact path", () => {
  const dir = join(s.dir, "é'*?[x]");
  mkdirSync(dir, { mode: 0o700 });
  copyFileSync(join(s.configDir, 'token.sha512'), join(dir, 'token.sha512'));
  const config = join(dir, 'config.toml');
  writeFileSync(config, readFileSync(s.config), { mode: 0o600 });
  const root = join(s.dir, 'root-glob');
  const r = s.cli(['schedule', 'install', '--root', root, '--config', config]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const n = unitNames(config);
  const unit = (f: string) => join(root, 'etc/systemd/system', f);
  const verify = spawnSync('systemd-analyze', ['verify', unit(n.service), unit(n.timer)], { encoding: 'utf8' });
  assert.equal(verify.status, 0, verify.stderr);
  const line = readFileSync(unit(n.service), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ExecStart='))!;
  assert.ok(line.includes("é\\'*?[x]") || line.includes(`"${dir}/config.toml"`) || line.includes(dir), line);
});

test('[what we write into other formats] --every with a ; and a second command: refused before anything is written', () => {
  const root = join(s.dir, 'root-semicolon');
  const r = s.cli([
    'schedule',
    'install',
    '--root',
    root,
    '--every',
    'daily; /bin/touch /tmp/bv-pwned',
    '--config',
    s.config,
  ]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.ok(!existsSync(root));
});

// ---------------------------------------------------------------- scenarios of their own: prune, records, notify

/** a config beside s.config with more TOML before [target] */
function configWith(sc: Scenario, name: string, extra: string): string {
  const file = join(sc.configDir, name);
  writeFileSync(file, readFileSync(sc.config, 'utf8').replace('[target]', `${extra}\n[target]`), { mode: 0o600 });
  return file;
}

const KEEP_2 =
  '[retention.target]\nkeep_last = 2\nhourly = 0\ndaily = 0\nweekly = 0\nmonthly = 0\nyearly = 0\n[retention.source]\nkeep_last = 2\n';

/** n backups of a source whose f.txt says 1..n */
function backups(sc: Scenario, n: number): string[] {
  const names: string[] = [];
  for (let i = 1; i <= n; i++) {
    writeFileSync(join(sc.data, 'f.txt'), String(i));
    const r = sc.cli(['--json', '--config', sc.config]);
    assert.equal(r.code, 0, r.stderr);
    names.push(json(r).sources[0].snapshot);
  }
  return names;
}

describe('a read-only snapshot a user made of a backup, in our folder', () => {
  let f: Scenario;
  let names: string[];
  let folderOnTarget: string;
  let cfg: string;
  const userCopy = '2021-01-01_00-00-00';
  before(() => {
    f = makeScenario({ sizeMiB: 256 });
    names = backups(f, 3);
    folderOnTarget = join(
      f.dst.mountPoint,
      readdirSync(f.dst.mountPoint).find((n) => !n.startsWith('.'))!,
    );
    // btrfs copies the received UUID into a read-only snapshot: it looks like the first backup
    sh('btrfs', ['subvolume', 'snapshot', '-r', join(folderOnTarget, names[0]!), join(folderOnTarget, userCopy)]);
    cfg = configWith(f, 'keep2.toml', KEEP_2);
  });
  after(() => f?.dispose());

  test("[what we delete] a user's read-only snapshot of a backup (it carries the backup's received UUID): restore --path still takes the newest backup, not the user's old copy", () => {
    const dir = join(f.dir, 'out');
    mkdirSync(dir);
    const r = f.cli(['restore', f.data, '--path', 'f.txt', '--to', join(dir, 'f.txt'), '--json', '--config', f.config]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(json(r).restored.from, names[2]);
    assert.equal(readFileSync(join(dir, 'f.txt'), 'utf8'), '3');
  });

  test("[ordering and agreement] a user's read-only snapshot of a backup: status counts the backups list and prune see (3), not 4", () => {
    const r = f.cli(['status', '--json', '--config', f.config]);
    assert.equal(json(r).sources[0].snapshots.target, names.length, r.stdout);
  });

  test("[what we delete] a user's read-only snapshot of a backup: not one of keep_last's slots; prune keeps two real backups and never deletes the user's copy", () => {
    const dry = f.cli(['prune', '--dry-run', '--json', '--config', cfg]);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    const r = f.cli(['prune', '--config', cfg]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const left = readdirSync(folderOnTarget)
      .filter((n) => /^\d{4}-/.test(n))
      .sort();
    assert.deepEqual(left, [userCopy, names[1], names[2]].sort(), JSON.stringify(json(dry)));
  });
});

test("[ordering and agreement] a user's read-only snapshot of the newest backup: the next runs still pair with the real backup (unchanged, then incremental from it, no warning) and leave the user's copy alone", () => {
  const g = makeScenario({ sizeMiB: 256 });
  try {
    const names = backups(g, 2);
    const folder = join(
      g.dst.mountPoint,
      readdirSync(g.dst.mountPoint).find((n) => !n.startsWith('.'))!,
    );
    const userCopy = join(folder, 'mine');
    sh('btrfs', ['subvolume', 'snapshot', '-r', join(folder, names[1]!), userCopy]);
    const same = g.cli(['--json', '--config', g.config]);
    assert.equal(same.code, 0, same.stderr);
    assert.equal(json(same).sources[0].mode, 'unchanged', same.stdout);
    assert.deepEqual(json(same).sources[0].warnings ?? [], [], same.stdout);
    writeFileSync(join(g.data, 'f.txt'), 'changed');
    const next = g.cli(['--json', '--config', g.config]);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(json(next).sources[0].mode, 'incremental', next.stdout);
    assert.equal(json(next).sources[0].parent, names[1]);
    assert.deepEqual(json(next).sources[0].warnings ?? [], [], next.stdout);
    assert.ok(existsSync(userCopy), "the user's copy is still there");
  } finally {
    g.dispose();
  }
});

test('[ordering and agreement] the same config under another path (moved, or /var/lib lost): status gives the newest backup on the disk as the last one, never "has never been backed up"', () => {
  const moved = join(s.dir, 'moved-etc');
  mkdirSync(moved, { mode: 0o700 });
  copyFileSync(join(s.configDir, 'token.sha512'), join(moved, 'token.sha512'));
  writeFileSync(join(moved, 'config.toml'), readFileSync(s.config), { mode: 0o600 });
  const listed = json(s.cli(['list', '--json', '--config', join(moved, 'config.toml')]));
  assert.ok(listed.sources[0].snapshots.length >= 2, 'list sees the backups');
  const r = s.cli(['status', '--json', '--config', join(moved, 'config.toml')]);
  const st = json(r);
  assert.ok(!st.warnings.some((w: { code: string }) => w.code === 'no-backup'), JSON.stringify(st.warnings));
  assert.notEqual(st.sources[0].lastSuccess, null);
  assert.ok(st.sources[0].ageSeconds >= 0);
});

describe('prune with names of ours that are not ours', () => {
  let f: Scenario;
  let names: string[];
  let folderOnTarget: string;
  before(() => {
    f = makeScenario({ sizeMiB: 256 });
    names = backups(f, 3);
    folderOnTarget = join(
      f.dst.mountPoint,
      readdirSync(f.dst.mountPoint).find((n) => !n.startsWith('.'))!,
    );
  });
  after(() => f?.dispose());

  test('[what we delete] a user\'s writable subvolume, a plain folder and a plain file named like backups (one in 2099) in our folder: prune leaves all three, list says "left alone"', () => {
    sh('btrfs', ['subvolume', 'create', join(folderOnTarget, '2000-01-01_00-00-00')]);
    writeFileSync(join(folderOnTarget, '2000-01-01_00-00-00', 'mine'), 'm');
    mkdirSync(join(folderOnTarget, '2099-01-01_00-00-00'));
    writeFileSync(join(folderOnTarget, '2001-01-01_00-00-00'), 'plain');
    const cfg = configWith(f, 'k1.toml', KEEP_2.replace('keep_last = 2\nhourly', 'keep_last = 1\nhourly'));
    const list = f.cli(['list', '--config', cfg]);
    assert.match(list.stdout, /2000-01-01_00-00-00 .*left alone/);
    const r = f.cli(['prune', '--config', cfg]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(readFileSync(join(folderOnTarget, '2000-01-01_00-00-00', 'mine'), 'utf8'), 'm');
    assert.ok(existsSync(join(folderOnTarget, '2099-01-01_00-00-00')));
    assert.equal(readFileSync(join(folderOnTarget, '2001-01-01_00-00-00'), 'utf8'), 'plain');
    assert.ok(existsSync(join(folderOnTarget, names[2]!)), 'the newest backup kept');
  });

  test('[what we delete] a hand-edited latest link pointing outside (/etc): prune deletes nothing outside our folder and keeps the newest backup', () => {
    rmSync(join(folderOnTarget, 'latest'));
    symlinkSync('/etc', join(folderOnTarget, 'latest'));
    const etc = readdirSync('/etc').length;
    const cfg = configWith(f, 'k1b.toml', KEEP_2.replace('keep_last = 2\nhourly', 'keep_last = 1\nhourly'));
    const r = f.cli(['prune', '--config', cfg]);
    assert.equal(readdirSync('/etc').length, etc);
    assert.ok(existsSync(join(folderOnTarget, names[2]!)), `${r.stdout}${r.stderr}`);
    rmSync(join(folderOnTarget, 'latest'));
    symlinkSync(names[2]!, join(folderOnTarget, 'latest'));
  });
});

describe('prune: dry-run against the run', () => {
  let f: Scenario;
  let cfg: string;
  before(() => {
    f = makeScenario({ sizeMiB: 256 });
    backups(f, 5);
    cfg = configWith(f, 'keep2.toml', KEEP_2);
  });
  after(() => f?.dispose());

  test('[ordering and agreement] prune --dry-run: nothing changes on either filesystem (names, mtimes, ctimes, generations)', () => {
    const before = state(f.src.mountPoint, f.dst.mountPoint);
    const r = f.cli(['prune', '--dry-run', '--config', cfg]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(state(f.src.mountPoint, f.dst.mountPoint), before);
  });

  test('[ordering and agreement] what prune --dry-run --json says it would delete is exactly what prune then deletes, on both sides', () => {
    const dry = json(f.cli(['prune', '--dry-run', '--json', '--config', cfg]));
    const listing = () =>
      [f.src.mountPoint, f.dst.mountPoint].map((m) =>
        sh('btrfs', ['subvolume', 'list', m])
          .split('\n')
          .filter((l) => / path \S*\/\d{4}-\d\d-\d\d_[^/]*$/.test(l))
          .map((l) => l.replace(/.*\//, '')),
      );
    const [srcBefore, dstBefore] = listing();
    const r = f.cli(['prune', '--json', '--config', cfg]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [srcAfter, dstAfter] = listing();
    const gone = (a: string[], b: string[]) => a.filter((n) => !b.includes(n)).sort();
    const said = dry.sources[0].deleted as { source: string[]; target: string[] };
    assert.deepEqual(gone(srcBefore!, srcAfter!), [...said.source].sort(), 'source: deleted as the dry-run said');
    assert.deepEqual(gone(dstBefore!, dstAfter!), [...said.target].sort(), 'target: deleted as the dry-run said');
    assert.deepEqual(json(r).sources[0].deleted, said, 'and the run reports what the dry-run said');
    assert.equal(said.target.length, 3, 'keep_last 2 of 5: three go');
  });
});

describe('two of us at once: restore and prune', () => {
  let f: Scenario;
  let elsewhere: LoopFs;
  let names: string[];
  before(() => {
    f = makeScenario({ sizeMiB: 512 });
    elsewhere = makeLoopBtrfs(f.dir, 'elsewhere', 512);
    execFileSync('dd', ['if=/dev/urandom', `of=${join(f.data, 'big.bin')}`, 'bs=1M', 'count=120', 'status=none']);
    names = backups(f, 3);
  });
  after(() => {
    elsewhere?.dispose();
    f?.dispose();
  });

  test('[two of us at once] a prune started while a whole restore of the oldest backup runs: refused (exit 4) or run after it; the backup being restored is never deleted under it', async () => {
    const cfg = configWith(f, 'keep1.toml', KEEP_2.replace(/keep_last = 2/g, 'keep_last = 1'));
    const dir = join(elsewhere.mountPoint, 'restored');
    mkdirSync(dir);
    const restore = spawn('node', [BIN, 'restore', f.data, names[0]!, '--to', dir, '--config', f.config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    restore.stdout.resume();
    let err = '';
    restore.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let exited = false;
    const restored = new Promise<number | null>((res) => restore.on('exit', (c) => res(c)));
    void restored.then(() => (exited = true));
    while (readdirSync(dir).length === 0 && !exited) await new Promise((r) => setTimeout(r, 2));
    const prune = f.cli(['prune', '--config', cfg]);
    assert.equal(await restored, 0, err);
    assert.ok([0, 4].includes(prune.code), prune.stdout + prune.stderr);
    assert.equal(
      sh('btrfs', ['property', 'get', join(dir, names[0]!), 'ro']).trim(),
      'ro=true',
      'the restore completed',
    );
    assert.equal(readFileSync(join(dir, names[0]!, 'f.txt'), 'utf8'), '1');
  });
});

describe('notify: secrets and programs', () => {
  let f: Scenario;
  const KEY = 'b7c1e0d4-secret-ping-key';
  before(() => {
    f = makeScenario({ sizeMiB: 256 });
    backups(f, 1);
  });
  after(() => f?.dispose());

  test("[secrets] a notify URL with a key in its path and query: status --json, list --json, doctor --json and the notify command's report never hold the key", () => {
    const got = join(f.dir, 'report.json');
    const cfg = configWith(
      f,
      'notify.toml',
      `[notify]\non = ["success", "failure"]\nurl = "http://127.0.0.1:9/${KEY}?token=${KEY}"\ncommand = ["sh", "-c", "cat > ${got}"]\n`,
    );
    writeFileSync(join(f.data, 'f.txt'), 'notify');
    const run = f.cli(['--json', '--config', cfg]);
    assert.equal(run.code, 0, run.stderr);
    for (const args of [
      ['status', '--json'],
      ['list', '--json'],
      ['doctor', '--json'],
    ]) {
      const r = f.cli([...args, '--config', cfg]);
      assert.ok(!(r.stdout + r.stderr).includes(KEY), `${args[0]}: ${r.stdout}`);
    }
    assert.ok(!(run.stdout + run.stderr).includes(KEY));
    const report = readFileSync(got, 'utf8');
    assert.doesNotThrow(() => JSON.parse(report));
    assert.ok(!report.includes(KEY), 'the command is not given the URL');
  });

  test('[secrets] a notify URL whose host does not resolve: the failure names the cause (DNS), never the key', () => {
    const cfg = configWith(
      f,
      'notify-dns.toml',
      `[notify]\non = ["success", "failure"]\nurl = "https://nowhere.invalid/${KEY}?t=${KEY}"\n`,
    );
    writeFileSync(join(f.data, 'f.txt'), 'dns');
    const r = f.cli(['--json', '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!(r.stdout + r.stderr).includes(KEY), r.stderr);
    assert.match(r.stdout + r.stderr, /nowhere\.invalid.*(DNS|ENOTFOUND|EAI_AGAIN|resolve)/i);
  });

  test('[programs we run] a notify command that is a folder, not a program: one line naming it, the backup still succeeds', () => {
    const cfg = configWith(
      f,
      'notify-dir.toml',
      `[notify]\non = ["success", "failure"]\ncommand = [${JSON.stringify(f.dir)}]\n`,
    );
    writeFileSync(join(f.data, 'f.txt'), 'dir');
    const r = f.cli(['--config', cfg]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = (r.stdout + r.stderr).split('\n').filter((l) => l.includes('notify.command'));
    assert.equal(lines.length, 1, r.stdout + r.stderr);
  });
});
