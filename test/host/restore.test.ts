import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { join } from 'node:path';
import { json, withScenario, type Scenario } from '../support/scenario.js';
import { makeLoopBtrfs, requireRoot } from '../support/loop-disk.js';
import { metaTree } from '../support/meta-tree.js';
import { sourceName } from '../../src/core/naming.js';
import { BIN } from '../support/cli.js';
import { drivePty } from '../support/pty.js';
import { sh } from '../support/sh.js';

// Whole backups back, on real btrfs: to a new filesystem (full), next to older data
// (incremental), where the same data is (a snapshot); the chain survives a restore.
before(() => requireRoot());

/** owners, modes, xattrs, hard links, a sparse file, symlinks, an empty folder */
function richData(s: Scenario): void {
  mkdirSync(join(s.data, 'etc/deep'), { recursive: true });
  writeFileSync(join(s.data, 'etc/deep/conf'), 'key = value\n');
  chownSync(join(s.data, 'etc/deep/conf'), 1234, 5678);
  chmodSync(join(s.data, 'etc/deep/conf'), 0o640);
  chmodSync(join(s.data, 'etc'), 0o750);
  sh('setfattr', ['-n', 'user.tag', '-v', 'precious', join(s.data, 'etc/deep/conf')]);
  execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, 'big.bin')}`, 'bs=1M', 'count=24', 'status=none']);
  linkSync(join(s.data, 'big.bin'), join(s.data, 'big-hardlink.bin'));
  sh('truncate', ['-s', '1G', join(s.data, 'sparse.img')]);
  writeFileSync(join(s.data, 'sparse-with-data.img'), 'x');
  sh('truncate', ['-s', '100M', join(s.data, 'sparse-with-data.img')]);
  symlinkSync('etc/deep/conf', join(s.data, 'link'));
  symlinkSync('/nowhere', join(s.data, 'dangling'));
  mkdirSync(join(s.data, 'empty'));
}

test(
  'restore to a new btrfs filesystem: a full send equal to the backup in every detail; an existing path is refused; the dry-run changes nothing',
  withScenario((s) => {
    richData(s);
    const b = json(s.cli(['--json', '--config', s.config])).sources[0];
    const other = makeLoopBtrfs(s.dir, 'new');
    try {
      const dry = s.cli(['restore', s.data, '--to', other.mountPoint, '--dry-run', '--config', s.config]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /would run: btrfs send -q .* \| btrfs receive /);
      assert.deepEqual(readdirSync(other.mountPoint), []);

      const r = s.cli(['restore', s.data, '--to', other.mountPoint, '--json', '--config', s.config]);
      assert.equal(r.code, 0, r.stderr);
      const out = json(r);
      assert.deepEqual([out.backup, out.how, out.restored], [b.snapshot, 'full', join(other.mountPoint, b.snapshot)]);
      assert.ok(out.bytes > 24 * 1024 * 1024);
      assert.match(sh('btrfs', ['subvolume', 'show', out.restored]), /Flags:\s+readonly/);
      assert.deepEqual(
        metaTree(out.restored),
        metaTree(join(s.src.mountPoint, 'snapshots', sourceName(s.data), b.snapshot)),
      );

      const again = s.cli(['restore', sourceName(s.data), '--to', other.mountPoint, '--config', s.config]);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /exists already; nothing is ever overwritten/);
      // the backup named: refused before the disk is opened
      const named = s.cli(['restore', sourceName(s.data), b.snapshot, '--to', other.mountPoint, '--config', s.config]);
      assert.equal(named.code, 2, named.stderr);
      assert.match(
        named.stderr,
        new RegExp(`${b.snapshot} exists already; nothing is ever overwritten, and the backup disk was not opened`),
      );
    } finally {
      other.dispose();
    }
  }),
);

test(
  'restore next to older data: only the delta is sent; where the same data is, a snapshot; --before and a named backup pick the backup',
  withScenario((s) => {
    richData(s);
    const first = json(s.cli(['--json', '--config', s.config])).sources[0];
    execFileSync('sleep', ['1.1']); // the second backup gets a later second in its name
    writeFileSync(join(s.data, 'new.txt'), 'written after the first backup');
    const second = json(s.cli(['--json', '--config', s.config])).sources[0];
    const snaps = join(s.src.mountPoint, 'snapshots', sourceName(s.data));
    const to = join(s.src.mountPoint, 'restores');
    mkdirSync(to);

    // the same data on this filesystem: the source snapshot of the second backup
    const local = json(s.cli(['restore', s.data, '--to', to, '--json', '--config', s.config]));
    assert.deepEqual([local.backup, local.how, local.bytes], [second.snapshot, 'local', 0]);
    sh('btrfs', ['subvolume', 'delete', local.restored]);

    // that snapshot gone: sent from the first backup's data, which is still here
    sh('btrfs', ['subvolume', 'delete', join(snaps, second.snapshot)]);
    const incr = json(s.cli(['restore', s.data, second.snapshot, '--to', to, '--json', '--config', s.config]));
    assert.deepEqual([incr.how, incr.parent], ['incremental', first.snapshot]);
    assert.ok(incr.bytes < 1024 * 1024, `only the delta: ${incr.bytes} bytes`);
    assert.deepEqual(metaTree(incr.restored), metaTree(s.data));

    const beforeSecond = second.snapshot.replace(/^(\d{4}-\d{2}-\d{2})_(\d{2})-(\d{2})-(\d{2}).*$/, '$1T$2:$3:$4Z');
    const older = json(
      s.cli([
        'restore',
        s.data,
        '--before',
        beforeSecond,
        '--to',
        join(s.dst.mountPoint),
        '--json',
        '--config',
        s.config,
      ]),
    );
    assert.deepEqual(
      [older.backup, older.how],
      [first.snapshot, 'local'],
      '--before: the newest backup older than that (on the backup disk itself: a snapshot of it)',
    );
    const notBtrfs = json(s.cli(['restore', s.data, '--to', s.dir, '--json', '--config', s.config]));
    assert.deepEqual([notBtrfs.exitCode, /not btrfs/.test(notBtrfs.error)], [2, true]);
    const named = s.cli(['restore', s.data, 'no-such-backup', '--to', to, '--config', s.config]);
    assert.equal(named.code, 2);
    assert.match(named.stderr, /no complete backup named no-such-backup/);
  }),
);

test(
  'the chain survives a restore: the restored data put in place, the next backup is incremental from the restored subvolume, and small',
  withScenario((s) => {
    richData(s);
    json(s.cli(['--json', '--config', s.config]));
    const snaps = join(s.src.mountPoint, 'snapshots', sourceName(s.data));
    // a lost machine: the source and all its snapshots gone
    for (const n of readdirSync(snaps).filter((x) => /^\d{4}-/.test(x)))
      sh('btrfs', ['subvolume', 'delete', join(snaps, n)]);
    sh('btrfs', ['subvolume', 'delete', s.data]);
    const to = join(s.src.mountPoint, 'restores');
    mkdirSync(to);
    const r = json(s.cli(['restore', sourceName(s.data), '--to', to, '--writable', '--json', '--config', s.config]));
    assert.equal(r.how, 'full');
    assert.ok(existsSync(r.writable));
    assert.match(r.nextSteps.join('\n'), new RegExp(`mv ${r.writable} ${s.data}`));
    sh('mv', [r.writable, s.data]); // what the printed steps say
    writeFileSync(join(s.data, 'after-restore.txt'), 'life goes on');
    const next = json(s.cli(['--json', '--config', s.config])).sources[0];
    assert.equal(next.mode, 'incremental');
    assert.equal(next.parent, r.restored);
    assert.ok(next.bytes < 1024 * 1024, `a small stream: ${next.bytes} bytes`);
    assert.match(next.warnings.join('\n'), /sent incrementally from the restored/);
    const again = json(s.cli(['--json', '--force', '--config', s.config])).sources[0];
    assert.equal(again.parent, next.snapshot, 'then the usual pairs again');
  }),
);

test(
  'restore from a foreign disk is refused; nothing is written',
  withScenario((s) => {
    writeFileSync(join(s.data, 'f'), 'x');
    json(s.cli(['--json', '--config', s.config]));
    writeFileSync(join(s.dst.mountPoint, '.token'), 'someone else');
    const to = join(s.src.mountPoint, 'restores');
    mkdirSync(to);
    const r = s.cli(['restore', s.data, '--to', to, '--config', s.config]);
    assert.equal(r.code, 3);
    assert.match(r.stderr + r.stdout, /refusing the backup filesystem/);
    assert.deepEqual(readdirSync(to), []);
  }),
);

test(
  'files lists exactly the backups that hold a path and where it changed; restore --path brings one version back with its metadata, never through a symlink, never overwriting unasked',
  withScenario((s) => {
    const note = join(s.data, 'notes', 'todo.txt');
    mkdirSync(join(s.data, 'notes'));
    const runs: string[] = [];
    const backup = () => runs.push(json(s.cli(['--json', '--force', '--config', s.config])).sources[0].snapshot);
    writeFileSync(note, 'v1');
    chownSync(note, 1234, 5678);
    chmodSync(note, 0o604);
    sh('setfattr', ['-n', 'user.tag', '-v', 'keep', note]);
    sh('setfacl', ['-m', 'u:4321:r', note]);
    backup(); // 0: v1
    backup(); // 1: unchanged
    writeFileSync(note, 'version two');
    backup(); // 2: v2
    sh('rm', [note]);
    backup(); // 3: gone
    writeFileSync(note, 'v3');
    symlinkSync('/etc', join(s.data, 'escape'));
    backup(); // 4: v3, and a symlink out of the backup
    const listed = json(s.cli(['files', s.data, note, '--json', '--config', s.config]));
    assert.deepEqual(
      listed.versions.map((v: { backup: string; changed: boolean }) => [v.backup, v.changed]),
      [
        [runs[0], true],
        [runs[1], false],
        [runs[2], true],
        [runs[4], true],
      ],
    );
    assert.match(
      s.cli(['files', sourceName(s.data), 'notes/todo.txt', '--config', s.config]).stdout,
      /\* \S+ {2}file +2 /,
    );

    const out = join(s.src.mountPoint, 'todo-v1.txt');
    const r = json(
      s.cli(['restore', s.data, runs[0]!, '--path', 'notes/todo.txt', '--to', out, '--json', '--config', s.config]),
    );
    assert.deepEqual(r.restored, { from: runs[0], to: out });
    const inBackup = join(s.dst.mountPoint, sourceName(s.data), runs[0]!, 'notes', 'todo.txt');
    assert.equal(metaTreeOf(out), metaTreeOf(inBackup), 'owner, mode, times, xattrs (ACL included) kept');
    assert.match(metaTreeOf(out), /system\.posix_acl_access/, 'the ACL is among them');

    const again = s.cli(['restore', s.data, '--path', 'notes/todo.txt', '--to', out, '--config', s.config]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exists; nothing is overwritten/);
    const over = json(
      s.cli([
        'restore',
        s.data,
        '--path',
        'notes/todo.txt',
        '--to',
        out,
        '--overwrite',
        '--json',
        '--config',
        s.config,
      ]),
    );
    assert.deepEqual([over.restored.from, over.restored.kept], [runs[4], `${out}.before-restore`]);
    assert.equal(readFileSync(out, 'utf8'), 'v3');
    assert.equal(readFileSync(`${out}.before-restore`, 'utf8'), 'v1');

    for (const path of ['escape/passwd', '../../../etc/passwd', '/etc/passwd']) {
      const bad = s.cli(['restore', s.data, '--path', path, '--to', join(s.src.mountPoint, 'x'), '--config', s.config]);
      assert.equal(bad.code, 2, `${path}: ${bad.stderr}`);
      assert.match(bad.stderr, /symlink in the backup|is not inside the source/);
      assert.ok(!existsSync(join(s.src.mountPoint, 'x')));
    }
  }),
);

/** one path's metadata as metaTree sees it (name aside) */
function metaTreeOf(path: string): string {
  const dir = join(path, '..');
  const name = path.slice(dir.length + 1);
  return metaTree(dir)[name]!;
}

test(
  'restore without arguments on a terminal: choose the source, a file and where it goes, then (the disk open) the backup, newest first with its age',
  withScenario(async (s) => {
    writeFileSync(join(s.data, 'f'), 'old');
    json(s.cli(['--json', '--config', s.config]));
    execFileSync('sleep', ['1.1']);
    writeFileSync(join(s.data, 'f'), 'new');
    const newest = json(s.cli(['--json', '--config', s.config])).sources[0].snapshot;
    const out = join(s.src.mountPoint, 'picked');
    const { code, screen } = await drivePty(
      ['node', BIN, 'restore', '--config', s.config],
      [
        [/Which source\?/, '\r'],
        [/Which file or folder/, 'f\r'],
        [/Copy it to which path/, `${out}\r`],
        [new RegExp(`Which backup\\?[\\s\\S]*${newest}  \\(\\d`), '\x1b[B\r'], // the second: the older one
      ],
      120_000,
    );
    assert.equal(code, 0, screen.slice(-2000));
    assert.equal(readFileSync(out, 'utf8'), 'old', 'the older version, as chosen');
  }),
);
