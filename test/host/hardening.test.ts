import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { allSubvolumes, json, withScenario, type Scenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { tree } from '../support/tree.js';
import { sourceName } from '../../src/core/naming.js';
import { lockFile } from '../../src/system/lock.js';
import { BIN } from '../support/cli.js';
import { sh } from '../support/sh.js';
import { waitFor } from '../support/wait.js';
import { VERSION } from '../../src/core/version.js';

// Issue 8: a run must never destroy or misplace what it did not make. Each test here
// failed before the change it guards.
before(() => requireRoot());

const dirsOf = (s: Scenario) => ({
  src: join(s.src.mountPoint, 'snapshots', sourceName(s.data)),
  dst: join(s.dst.mountPoint, sourceName(s.data)),
});
const big = (s: Scenario, mib: number, name = 'big.bin') =>
  execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, name)}`, 'bs=1M', `count=${mib}`, 'status=none']);
const exited = (child: ReturnType<Scenario['spawnCli']>) => new Promise<number | null>((r) => child.on('close', r));
const mounted = (mp: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === mp);

test(
  "[what we delete] only a receive btrfs-vault recorded is deleted: a user's writable snapshot and a backup once made writable are left alone and reported",
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), '1');
    const a = json(s.cli(['--json', '--config', s.config])).sources[0].snapshot;
    writeFileSync(join(s.data, 'f'), '2');
    assert.equal(s.cli(['--config', s.config]).code, 0);
    const { dst } = dirsOf(s);
    sh('btrfs', ['subvolume', 'snapshot', join(dst, 'latest'), join(dst, 'restore-test')]);
    writeFileSync(join(dst, 'restore-test', 'mine.txt'), 'my work');
    sh('btrfs', ['property', 'set', '-f', '-ts', join(dst, a), 'ro', 'false']);
    sh('btrfs', ['property', 'set', '-ts', join(dst, a), 'ro', 'true']);
    assert.match(
      sh('btrfs', ['subvolume', 'show', join(dst, a)]),
      /Received UUID:\s+-/,
      'precondition: the flip cleared the received UUID',
    );

    const r = s.cli(['--json', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    const out = json(r).sources[0];
    assert.deepEqual(out.cleaned, []);
    assert.equal(readFileSync(join(dst, 'restore-test', 'mine.txt'), 'utf8'), 'my work');
    assert.ok(existsSync(join(dst, a, 'f')), 'the once-writable backup is still there');
    assert.match(out.warnings.join('\n'), /restore-test is not a complete backup made by btrfs-vault.*left alone/);
    assert.match(out.warnings.join('\n'), new RegExp(`${a} is not a complete backup`));
    const listed = json(s.cli(['list', '--json', '--config', s.config])).sources[0];
    assert.deepEqual(listed.incomplete, []);
    assert.deepEqual([...listed.foreign].sort(), [a, 'restore-test'].sort());
  }),
);

test(
  "a backup made writable behind btrfs-progs' back (received UUID kept) is not trusted as a parent: its data may have changed",
  withScenario((s) => {
    writeFileSync(join(s.data, 'a'), 'hi');
    const first = json(s.cli(['--json', '--config', s.config])).sources[0].snapshot;
    const { dst } = dirsOf(s);
    // BTRFS_IOC_SUBVOL_SETFLAGS with no flags: writable, received UUID untouched (old btrfs-progs did this)
    const setflags = `import fcntl, os, struct; fd = os.open(${JSON.stringify(join(dst, first))}, os.O_RDONLY); fcntl.ioctl(fd, 0x4008941a, struct.pack('Q', 0))`;
    execFileSync('python3', ['-c', setflags]);
    assert.match(
      sh('btrfs', ['subvolume', 'show', join(dst, first)]),
      /Received UUID:\s+[0-9a-f-]{36}/,
      'precondition: the received UUID is still there',
    );
    writeFileSync(join(dst, first, 'a'), 'TAMPER');
    writeFileSync(join(s.data, 'b'), 'new');
    const r = s.cli(['--json', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr);
    const out = json(r).sources[0];
    assert.equal(out.mode, 'full', 'not incremental on top of the changed copy');
    assert.match(out.warnings.join('\n'), new RegExp(`${first} is not a complete backup`));
    assert.equal(readFileSync(join(dst, 'latest', 'a'), 'utf8'), 'hi', 'the new backup holds the real data');
    assert.ok(json(s.cli(['list', '--json', '--config', s.config])).sources[0].foreign.includes(first));
  }),
);

test(
  '[paths we are given] a backup folder that is a symlink is refused, not followed: nothing lands on the source disk',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), 'x');
    const elsewhere = join(s.src.mountPoint, 'elsewhere');
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, dirsOf(s).dst);
    const before = allSubvolumes(s);
    const r = s.cli(['--config', s.config]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /is a symlink, not a folder/);
    assert.match(r.stderr, /fix: remove the link/);
    assert.deepEqual(readdirSync(elsewhere), []);
    assert.equal(allSubvolumes(s), before, 'no snapshot, no receive');

    // the snapshot side too: a per-source snapshot folder that links off the source filesystem
    sh('rm', [dirsOf(s).dst]);
    // (on the same filesystem, so only the link itself is wrong: it could lead into the data)
    const outside = join(s.src.mountPoint, 'outside');
    mkdirSync(outside);
    mkdirSync(join(s.src.mountPoint, 'snapshots'));
    symlinkSync(outside, dirsOf(s).src);
    const r2 = s.cli(['--config', s.config]);
    assert.equal(r2.code, 2, r2.stderr);
    assert.match(r2.stderr, /is a symlink, not a folder/);
    assert.deepEqual(readdirSync(outside), []);
    assert.equal(allSubvolumes(s), before);
  }),
);

test(
  '[two of us at once] locks are on what is shared: a config through a symlinked folder, or a second config for the same target, waits its turn; a stale owner file does not block',
  withScenario(async (s) => {
    big(s, 300);
    const linked = join(s.dir, 'etc-link');
    symlinkSync(s.configDir, linked);
    const other = join(s.dir, 'etc2');
    cpSync(s.configDir, other, { recursive: true });
    writeFileSync(
      join(other, 'config.toml'),
      readFileSync(s.config, 'utf8').replace(
        /^snapshot_dir = .*$/m,
        `snapshot_dir = ${JSON.stringify(join(s.src.mountPoint, 'other-snaps'))}`,
      ),
    );
    const first = s.spawnCli(['--config', s.config]);
    const { dst } = dirsOf(s);
    await waitFor(() => existsSync(dst) && readdirSync(dst).some((n) => /^\d{4}-/.test(n)));
    for (const config of [join(linked, 'config.toml'), join(other, 'config.toml')]) {
      const r = s.cli(['--config', config]);
      assert.equal(r.code, 4, `${config}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /another btrfs-vault run \(pid \d+, config .*\) is working with the (backup target|source)/,
      );
    }
    assert.equal(await exited(first), 0);
    assert.equal(readdirSync(dst).filter((n) => /^\d{4}-/.test(n)).length, 1, "the first run's copy was not disturbed");

    // a lock whose owner file names a live process (pid 1) but that nobody holds is free
    writeFileSync(`${lockFile(`target ${s.dst.mountPoint}`)}.owner`, `1\nconfig /elsewhere\nthe backup target\n`);
    // (through the linked folder: the other config, a second chain for this backup folder, is refused)
    const r = s.cli(['--config', join(linked, 'config.toml')]);
    assert.equal(r.code, 0, r.stderr);
  }),
);

test(
  '[signals and power] durable before reported: the target is synced after the receive and before latest moves; the folders after',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), 'x');
    const trace = join(s.dir, 'trace');
    execFileSync(
      'strace',
      [
        '-f',
        '-qq',
        '-s',
        '512',
        '-e',
        'trace=execve,rename,renameat,renameat2,fsync',
        '-o',
        trace,
        'node',
        BIN,
        '--config',
        s.config,
      ],
      { stdio: 'ignore' },
    );
    const lines = readFileSync(trace, 'utf8').split('\n');
    const { dst, src } = dirsOf(s);
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    const receive = at(/execve\("[^"]*setpriv", \[.*"btrfs", "receive"/);
    const sync = at(new RegExp(`execve\\(.*"btrfs", "filesystem", "sync", "--", "${dst}"`));
    const latestTarget = at(new RegExp(`rename(at2?)?\\(.*"${dst}/latest"`));
    const latestSource = at(new RegExp(`rename(at2?)?\\(.*"${src}/latest"`));
    assert.ok(receive >= 0 && sync > receive, `sync (${sync}) after receive (${receive})`);
    assert.ok(latestTarget > sync, `latest moves (${latestTarget}) only after the sync (${sync})`);
    assert.ok(latestSource > latestTarget);
    const fsyncs = lines.slice(latestTarget).filter((l) => /fsync\(/.test(l)).length;
    assert.ok(fsyncs >= 2, `both folders synced after their links moved (${fsyncs} fsyncs)`);
  }),
);

test(
  '[programs we run] honest reports: a killed receive is named with its signal; a full disk says so with the fix, leaving nothing half-written',
  withScenario(
    async (s) => {
      big(s, 300);
      const { dst } = dirsOf(s);
      const child = s.spawnCli(['--config', s.config]);
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      await waitFor(() => existsSync(dst) && readdirSync(dst).some((n) => /^\d{4}-/.test(n)));
      execFileSync('pkill', ['-KILL', '-f', `btrfs receive -- ${dst}`]);
      assert.equal(await exited(child), 1);
      assert.match(stderr, /command killed by SIGKILL: btrfs receive/);
      assert.doesNotMatch(stderr, /command (failed|killed)[^:]*: btrfs send/);
      assert.deepEqual(
        readdirSync(dst).filter((n) => /^\d{4}-/.test(n)),
        [],
        'the partial copy is gone',
      );
    },
    { sizeMiB: 1024 },
  ),
);

test(
  '[space] a full backup disk: exit 3 with the fix, the incomplete copy deleted, latest untouched',
  withScenario(
    (s) => {
      writeFileSync(join(s.data, 'small'), 'x');
      assert.equal(s.cli(['--config', s.config]).code, 0);
      const { dst } = dirsOf(s);
      const latest = readlinkSync(join(dst, 'latest'));
      big(s, 400);
      const r = s.cli(['--json', '--config', s.config]);
      assert.equal(r.code, 3, r.stderr);
      const out = json(r).sources[0];
      assert.match(out.error, /backup filesystem is full/);
      assert.match(out.error, /No space left on device/);
      assert.match(out.fix, /free space on the backup disk/);
      assert.equal(readlinkSync(join(dst, 'latest')), latest);
      assert.deepEqual(
        readdirSync(dst).filter((n) => /^\d{4}-/.test(n)),
        [latest],
      );
    },
    { targetMiB: 300 },
  ),
);

test(
  'a close that fails after the backup reaches the report and the exit code',
  withScenario(async (s) => {
    sh('umount', [s.dst.mountPoint]);
    writeFileSync(
      s.config,
      readFileSync(s.config, 'utf8').replace('[target]\n', `[target]\ndevice = ${JSON.stringify(s.dst.device)}\n`),
    );
    big(s, 200);
    const child = s.spawnCli(['--json', '--config', s.config]);
    let stdout = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    await waitFor(() => mounted(s.dst.mountPoint));
    const holder = spawn('sleep', ['120'], { cwd: s.dst.mountPoint, stdio: 'ignore' });
    try {
      assert.equal(await exited(child), 3);
      const report = JSON.parse(stdout);
      assert.equal(report.sources[0].status, 'ok', 'the backup itself worked');
      assert.match(report.error, /could not be closed/);
      assert.match(report.error, /busy/);
      assert.match(report.fix, /btrfs-vault close/);
      assert.equal(report.exitCode, 3);
    } finally {
      holder.kill('SIGKILL');
    }
    await exited(holder);
    // the run that failed to close still owes it: the next run closes what it left open
    const next = s.cli(['--config', s.config]);
    assert.equal(next.code, 0, next.stderr);
    assert.ok(!mounted(s.dst.mountPoint), 'closed by the next run');
  }),
);

test(
  '[signals and power] stdout closed early (EPIPE) mid-backup: the run still finishes, cleans up and frees its locks',
  withScenario(async (s) => {
    big(s, 100);
    const child = spawn('node', [BIN, '--config', s.config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    child.stdout.destroy(); // the reader of our output goes away at once
    assert.equal(await exited(child), 0);
    const { src, dst } = dirsOf(s);
    assert.equal(readlinkSync(join(dst, 'latest')), readlinkSync(join(src, 'latest')));
    assert.deepEqual(tree(join(dst, 'latest')), tree(s.data));
    const again = s.cli(['--json', '--config', s.config]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(json(again).sources[0].mode, 'incremental');
  }),
);

test(
  '[what we write into other formats] every --json error has one shape: version, ok, error, fix, exitCode',
  withScenario((s) => {
    const missing = join(s.dir, 'nope.toml');
    for (const command of [
      ['backup'],
      ['list'],
      ['open'],
      ['close'],
      ['status'],
      ['verify'],
      ['prune'],
      ['files', 'x', 'y'],
      ['restore', 'x', '--to', s.dir],
      ['schedule', 'install'],
      ['schedule', 'remove'],
      ['schedule', 'status'],
      ['add-mirror', '--disk', '/dev/null'],
    ]) {
      const r = s.cli([...command, '--json', '--config', missing]);
      assert.equal(r.code, 2, `${command.join(' ')}: ${r.stderr}`);
      const out = json(r);
      assert.deepEqual(
        Object.keys(out),
        ['version', 'ok', 'error', 'fix', 'exitCode'],
        `${command.join(' ')}: ${r.stdout}`,
      );
      assert.equal(out.ok, false);
      assert.equal(out.exitCode, 2);
      assert.match(out.error, /does not exist/);
    }
    // a usage error too
    const usage = s.cli(['backup', '--json', '--bogus', '--config', s.config]);
    assert.equal(usage.code, 2);
    assert.deepEqual(json(usage), {
      version: VERSION,
      ok: false,
      error: "unknown option '--bogus'",
      fix: 'see: btrfs-vault backup --help',
      exitCode: 2,
    });
    // a failed backup run has the same fields (and its sources)
    writeFileSync(join(s.dst.mountPoint, '.token'), 'foreign');
    const r = s.cli(['backup', '--json', '--config', s.config]);
    const out = json(r);
    assert.equal(r.code, 3);
    assert.equal(out.ok, false);
    assert.equal(out.exitCode, 3);
    assert.match(out.error, /refusing the backup filesystem/);
    assert.match(out.fix, /attach this host's backup disk/);
  }),
);

test(
  'a read-only backup filesystem is refused before any snapshot, also in a dry-run',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), 'x');
    const before = allSubvolumes(s);
    sh('mount', ['-o', 'remount,ro', s.dst.mountPoint]);
    try {
      for (const args of [
        ['--config', s.config],
        ['--dry-run', '--config', s.config],
      ]) {
        const r = s.cli(args);
        assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /mounted read-only; nothing was written/);
      }
      assert.equal(allSubvolumes(s), before);
    } finally {
      sh('mount', ['-o', 'remount,rw', s.dst.mountPoint]);
    }
  }),
);

test(
  '[ordering and agreement] list pairs by UUID as backup does, never shows a latest that is gone; previous never copies a garbage latest',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), '1');
    const a = json(s.cli(['--json', '--config', s.config])).sources[0].snapshot;
    writeFileSync(join(s.data, 'f'), '2');
    const b = json(s.cli(['--json', '--config', s.config])).sources[0].snapshot;
    const { dst } = dirsOf(s);
    const renamed = '2000-01-01_00-00-00';
    renameSync(join(dst, b), join(dst, renamed));
    const listed = json(s.cli(['list', '--json', '--config', s.config])).sources[0];
    const row = listed.snapshots.find((r: { name: string }) => r.name === b);
    assert.equal(row.paired, true, JSON.stringify(listed.snapshots));
    assert.equal(row.targetName, renamed);
    assert.equal(row.latestTarget, false, 'target latest names a backup that is gone');
    assert.deepEqual(listed.dangling, [`${dst}/latest -> ${b}`]);
    const text = s.cli(['list', '--config', s.config]).stdout;
    assert.match(text, new RegExp(`${b}  both sides \\(pair\\) \\(on target: ${renamed}\\)  <- latest on source\\n`));

    writeFileSync(join(s.data, 'f'), '3');
    const c = json(s.cli(['--json', '--config', s.config])).sources[0];
    assert.equal(c.mode, 'incremental');
    assert.equal(c.parent, b, 'paired by UUID with the renamed copy');
    assert.equal(
      readlinkSync(join(dst, 'previous')),
      a,
      'previous kept its valid target rather than the dangling latest',
    );
    assert.equal(readlinkSync(join(dst, 'latest')), c.snapshot);
  }),
);

test(
  '[two of us at once] two configs giving two sources one folder name: the second is refused, neither chain is mixed',
  withScenario((s) => {
    const other = join(s.src.mountPoint, 'other');
    sh('btrfs', ['subvolume', 'create', other]);
    writeFileSync(join(s.data, 'f'), '1');
    writeFileSync(join(other, 'g'), '2');
    const base = readFileSync(s.config, 'utf8');
    writeFileSync(
      s.config,
      base.replace(/^sources = .*$/m, `sources = [{ path = ${JSON.stringify(s.data)}, name = "shared" }]`),
    );
    assert.equal(s.cli(['--config', s.config]).code, 0);
    const second = join(s.dir, 'etc2');
    cpSync(s.configDir, second, { recursive: true });
    writeFileSync(
      join(second, 'config.toml'),
      base.replace(/^sources = .*$/m, `sources = [{ path = ${JSON.stringify(other)}, name = "shared" }]`),
    );
    const before = allSubvolumes(s);
    const r = s.cli(['--config', join(second, 'config.toml')]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /holds the backups of .*\/data on host testhost, not of .*\/other/);
    assert.equal(allSubvolumes(s), before, 'nothing written');
  }),
);

test(
  '[two of us at once] open and close take the target lock: a close during a backup is refused (exit 4); open after a killed run keeps the disk open for the user',
  withScenario(async (s) => {
    sh('umount', [s.dst.mountPoint]);
    writeFileSync(
      s.config,
      readFileSync(s.config, 'utf8').replace('[target]\n', `[target]\ndevice = ${JSON.stringify(s.dst.device)}\n`),
    );
    big(s, 200);
    const child = s.spawnCli(['--config', s.config]);
    await waitFor(
      () =>
        mounted(s.dst.mountPoint) &&
        existsSync(dirsOf(s).dst) &&
        readdirSync(dirsOf(s).dst).some((n) => /^\d{4}-/.test(n)),
    );
    const close = s.cli(['close', '--config', s.config]);
    assert.equal(close.code, 4, close.stderr);
    assert.match(close.stderr, /another btrfs-vault run .* is working with the backup target/);
    assert.equal(await exited(child), 0);
    assert.ok(!mounted(s.dst.mountPoint), 'the backup closed what it opened');

    // a run killed with the disk open owes a close; an open by hand takes that over
    writeFileSync(join(s.data, 'more'), 'x');
    assert.equal(s.cli(['--config', s.config], { BTRFS_VAULT_TEST_KILL_AT: 'after-sync' }).code, -1);
    assert.ok(mounted(s.dst.mountPoint));
    assert.equal(s.cli(['open', '--config', s.config]).code, 0);
    writeFileSync(join(s.data, 'more'), 'y');
    assert.equal(s.cli(['--config', s.config]).code, 0);
    assert.ok(mounted(s.dst.mountPoint), 'opened by hand: it stays open');
    assert.equal(s.cli(['close', '--config', s.config]).code, 0);
    assert.ok(!mounted(s.dst.mountPoint));
  }),
);

test(
  '[ordering and agreement] dry-run on a closed disk: every command it would run, the open and the backup, exit 0, nothing mounted or made',
  withScenario((s) => {
    sh('umount', [s.dst.mountPoint]);
    writeFileSync(
      s.config,
      readFileSync(s.config, 'utf8').replace('[target]\n', `[target]\ndevice = ${JSON.stringify(s.dst.device)}\n`),
    );
    writeFileSync(join(s.data, 'f'), 'x');
    sh('sync', []);
    const before = sh('btrfs', ['subvolume', 'list', s.src.mountPoint]);
    const r = s.cli(['backup', '--dry-run', '--config', s.config]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`would run: mount -t btrfs -- ${s.dst.device} ${s.dst.mountPoint}`));
    assert.match(r.stdout, /would run: btrfs subvolume snapshot -r /);
    assert.match(r.stdout, /would run: btrfs send -q .* \| btrfs receive /);
    assert.match(r.stdout, /would back up as \S+ \(full or incremental is decided once the disk is open\)/);
    assert.ok(!mounted(s.dst.mountPoint), 'nothing mounted');
    assert.equal(sh('btrfs', ['subvolume', 'list', s.src.mountPoint]), before, 'no snapshot');
  }),
);
