import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { OWNER_FILE } from '../../src/btrfs/folders.js';
import { join } from 'node:path';
import { backupSource, type BackupSourceDeps } from '../../src/flows/backup/backup-source.js';
import { subvolumeInfoArgv } from '../../src/btrfs/subvolume-info.js';
import { runExitCode } from '../../src/flows/session/target-session.js';
import { InterruptedError, TargetError } from '../../src/core/errors.js';
import type { CheckedSource } from '../../src/flows/backup/source-check.js';
import type { MountEntry } from '../../src/core/mountinfo.js';
import { FakeRunner } from '../support/fake-runner.js';
import { DryRunRunner } from '../../src/system/dry-run-runner.js';
import { bootId, RECEIVE_RECORD } from '../../src/btrfs/receive-record.js';
import { scratchDir } from '../support/scratch.js';

// One source's backup with the fake runner on real folders: what runs, in which order,
// what is written, and that a refusal changes nothing.

const NOW = new Date(Date.UTC(2026, 10, 27, 12, 0, 0));
const NEW = '2026-11-27_12-00-00';

interface World {
  root: string;
  source: CheckedSource;
  srcMount: MountEntry;
  dstMount: MountEntry;
  snapDir: string;
  targetDir: string;
}

function world(): World {
  const root = scratchDir('bsrc');
  const mount = (name: string, device: string): MountEntry => {
    mkdirSync(join(root, name));
    return {
      device,
      root: '/',
      mountPoint: join(root, name),
      fsType: 'btrfs',
      source: `/dev/${name}`,
      options: 'rw',
      readOnly: false,
    };
  };
  const srcMount = mount('src', '0:50');
  const dstMount = mount('dst', '0:51');
  mkdirSync(join(root, 'src', 'data'));
  const source: CheckedSource = {
    path: join(root, 'src', 'data'),
    name: 'data',
    snapshotDir: join(root, 'src', 'snapshots', 'data'),
    real: join(root, 'src', 'data'),
    mount: srcMount,
  };
  return {
    root,
    source,
    srcMount,
    dstMount,
    snapDir: source.snapshotDir,
    targetDir: join(dstMount.mountPoint, 'data'),
  };
}

type Row = { path: string; uuid: string; received?: string; gen?: number; cgen?: number; ro?: boolean };
const ids = new Map<string, number>();
/** `btrfs subvolume list -a -c -u -q -R` lines; paths relative to the filesystem's top; one ID per path */
const listing = (rows: Row[]) =>
  rows
    .map((r) => {
      if (!ids.has(r.path)) ids.set(r.path, 256 + ids.size);
      return `ID ${ids.get(r.path)} gen ${r.gen ?? 9} cgen ${r.cgen ?? 5} top level 5 parent_uuid - received_uuid ${r.received ?? '-'} uuid ${r.uuid} path ${r.path}`;
    })
    .join('\n');

/** after deleting a partial copy: a commit, the wait for btrfs's cleaner on its ID, a commit (the space is back before the transfer) */
const freed = (w: World, r: FakeRunner, path: string) =>
  r
    .on(['btrfs', ['filesystem', 'sync', '--', w.dstMount.mountPoint]])
    .on(['btrfs', ['subvolume', 'sync', '--', w.dstMount.mountPoint, String(ids.get(path))]]);

/** what the subvolume-info program says of one subvolume: ID, read-only, UUID, parent, received UUID */
const info = (uuid: string, received = '-', ro = true) => `300 ${ro ? 1 : 0} ${uuid} - ${received}\n`;

function runner(
  w: World,
  src: Row[],
  dst: Row[],
  parent?: string,
  live: Row = { path: 'data', uuid: 'u-data' },
): FakeRunner {
  const snap = join(w.snapDir, NEW);
  return new FakeRunner()
    .on(['btrfs', ['filesystem', 'sync', '--', w.srcMount.mountPoint]])
    .on(['btrfs', ['subvolume', 'list', '-a', '-c', '-u', '-q', '-R', '--', w.srcMount.mountPoint]], {
      stdout: listing([live, ...src]),
    })
    .on(['btrfs', ['subvolume', 'list', '-a', '-c', '-u', '-q', '-R', '--', w.dstMount.mountPoint]], {
      stdout: listing(dst),
    })
    .on(['btrfs', ['subvolume', 'list', '-r', '-a', '-c', '-u', '-q', '-R', '--', w.dstMount.mountPoint]], {
      stdout: listing(dst.filter((d) => d.received && d.ro !== false)),
    })
    .on(['btrfs', ['subvolume', 'snapshot', '-r', '--', w.source.real, snap]])
    .on(subvolumeInfoArgv([snap]), { stdout: info('u-new') })
    .on(
      [
        ['btrfs', ['send', '-q', ...(parent ? ['-p', join(w.snapDir, parent)] : []), '--', snap]],
        ['btrfs', ['receive', '--', w.targetDir]],
      ],
      () => {
        mkdirSync(join(w.targetDir, NEW));
        return { bytes: 4321 };
      },
    )
    .on(subvolumeInfoArgv([join(w.targetDir, NEW)]), { stdout: info('u-copy', 'u-new') })
    .on(['btrfs', ['filesystem', 'sync', '--', w.targetDir]])
    .on(['btrfs', ['subvolume', 'create', '--', w.snapDir]], () => {
      mkdirSync(w.snapDir);
      return {};
    });
}

function deps(w: World, r: FakeRunner | DryRunRunner, steps: string[] = []): BackupSourceDeps {
  return {
    runner: r,
    host: 'testhost',
    targetMount: w.dstMount,
    mounts: [w.srcMount, w.dstMount],
    now: () => NOW,
    step: (t) => steps.push(t),
    progress: () => {},
  };
}

test('first backup: snapshot, full send, sync, then the links; the receive record is gone at the end', async () => {
  const w = world();
  const r = runner(w, [], []);
  const out = await backupSource(w.source, deps(w, r));
  assert.deepEqual(
    { snapshot: out.snapshot, mode: out.mode, bytes: out.bytes },
    { snapshot: NEW, mode: 'full', bytes: 4321 },
  );
  assert.deepEqual(r.changes, [
    `btrfs subvolume create -- ${w.snapDir}`,
    `btrfs subvolume snapshot -r -- ${w.source.real} ${w.snapDir}/${NEW}`,
    `btrfs send -q -- ${w.snapDir}/${NEW} | btrfs receive -- ${w.targetDir}`,
    `btrfs filesystem sync -- ${w.targetDir}`,
  ]);
  for (const dir of [w.snapDir, w.targetDir]) assert.equal(readlinkSync(join(dir, 'latest')), NEW);
  assert.ok(!existsSync(join(w.targetDir, RECEIVE_RECORD)));
  // the file changes, in the order each crash point is recovered from: record, synced record, target links, source links, record cleared
  const made = [
    `write ${w.targetDir}/${RECEIVE_RECORD} (receiving ${NEW}, mode`,
    `write ${w.targetDir}/${RECEIVE_RECORD} (receiving ${NEW}, synced, mode`,
    `ln -sfT ${NEW} ${w.targetDir}/`,
    `ln -sfT ${NEW} ${w.snapDir}/`,
    `rm -f ${w.targetDir}/${RECEIVE_RECORD}`,
  ].map((c) => r.fileChanges.findIndex((f) => f.startsWith(c)));
  assert.ok(
    made.every((i, k) => i >= 0 && (k === 0 || i > made[k - 1]!)),
    r.fileChanges.join('\n'),
  );
  // generations move at a commit: the source is synced before it is listed, or fresh writes would look like no change
  const at = (c: string) => r.calls.indexOf(c);
  assert.ok(at(`btrfs filesystem sync -- ${w.srcMount.mountPoint}`) >= 0);
  assert.ok(
    at(`btrfs filesystem sync -- ${w.srcMount.mountPoint}`) <
      at(`btrfs subvolume list -a -c -u -q -R -- ${w.srcMount.mountPoint}`),
  );
});

test('the parent is the newest pair by UUID, whatever the links say; disagreeing links are repaired and reported', async () => {
  const w = world();
  mkdirSync(w.targetDir, { recursive: true });
  mkdirSync(w.snapDir, { recursive: true });
  symlinkSync('2026-11-01_00-00-00', join(w.targetDir, 'latest'));
  const src = [
    { path: 'snapshots/data/2026-11-01_00-00-00', uuid: 'u1' },
    { path: 'snapshots/data/2026-11-02_00-00-00', uuid: 'u2' },
  ];
  const dst = [
    { path: 'data/2026-11-01_00-00-00', uuid: 'c1', received: 'u1' },
    { path: 'data/2026-11-02_00-00-00', uuid: 'c2', received: 'u2' },
  ];
  const r = runner(w, src, dst, '2026-11-02_00-00-00');
  const out = await backupSource(w.source, deps(w, r));
  assert.equal(out.mode, 'incremental');
  assert.equal(out.parent, '2026-11-02_00-00-00');
  assert.match(out.warnings.join('\n'), /latest did not point at the newest pair/);
  assert.equal(readlinkSync(join(w.targetDir, 'previous')), '2026-11-01_00-00-00');
});

test('only the recorded receive is deleted; an unrecorded writable subvolume is reported and left alone', async () => {
  const w = world();
  mkdirSync(w.targetDir, { recursive: true });
  writeFileSync(
    join(w.targetDir, RECEIVE_RECORD),
    JSON.stringify({ name: '2026-11-02_00-00-00', run: 'host pid 9', started: 'then' }),
  );
  const dst = [
    { path: 'data/2026-11-02_00-00-00', uuid: 'c2' },
    { path: 'data/restore-test', uuid: 'c3' },
  ];
  const r = freed(
    w,
    runner(w, [], dst).on(['btrfs', ['subvolume', 'delete', '--', join(w.targetDir, '2026-11-02_00-00-00')]]),
    'data/2026-11-02_00-00-00',
  );
  const steps: string[] = [];
  const out = await backupSource(w.source, deps(w, r, steps));
  assert.deepEqual(out.cleaned, [join(w.targetDir, '2026-11-02_00-00-00')]);
  assert.equal(
    r.changes.find((c) => c.includes('delete')),
    `btrfs subvolume delete -- ${w.targetDir}/2026-11-02_00-00-00`,
  );
  assert.equal(r.changes.filter((c) => c.includes('delete')).length, 1, 'nothing else is deleted');
  assert.match(out.warnings.join('\n'), /restore-test is not a complete backup made by btrfs-vault.*left alone/);
  assert.match(steps.join('\n'), /left incomplete by an interrupted run \(host pid 9\)/);
});

test('unchanged since the newest snapshot, which the target has: nothing is made; --force makes one', async () => {
  const last = '2026-11-02_00-00-00';
  const attempt = async (liveGen: number, force = false) => {
    const w = world();
    mkdirSync(w.targetDir, { recursive: true });
    mkdirSync(w.snapDir, { recursive: true });
    for (const dir of [w.targetDir, w.snapDir]) symlinkSync(last, join(dir, 'latest'));
    const r = runner(
      w,
      [{ path: `snapshots/data/${last}`, uuid: 'u2', gen: 40, cgen: 40 }],
      [{ path: `data/${last}`, uuid: 'c2', received: 'u2' }],
      last,
      { path: 'data', uuid: 'u-data', gen: liveGen, cgen: 5 },
    );
    const out = await backupSource(w.source, { ...deps(w, r), force });
    return { mode: out.mode, snapshot: out.snapshot, changes: r.changes.length };
  };
  assert.deepEqual(await attempt(40), { mode: 'unchanged', snapshot: last, changes: 0 });
  assert.deepEqual(await attempt(40, true), { mode: 'incremental', snapshot: NEW, changes: 3 });
  assert.deepEqual(await attempt(41), { mode: 'incremental', snapshot: NEW, changes: 3 }, 'written to since');
});

test('a backup folder that is a symlink: refused with nothing changed', async () => {
  const w = world();
  symlinkSync(w.srcMount.mountPoint, w.targetDir);
  const r = runner(w, [], []);
  await assert.rejects(
    backupSource(w.source, deps(w, r)),
    (err: Error & { exitCode?: number }) => err.exitCode === 3 && /is a symlink/.test(err.message),
  );
  assert.deepEqual(r.changes, []);
});

test('dry-run: the snapshot and the transfer are printed, nothing is made', async () => {
  const w = world();
  const printed: string[] = [];
  const inner = runner(w, [], []);
  const out = await backupSource(w.source, deps(w, new DryRunRunner(inner, (l) => printed.push(l))));
  assert.equal(out.mode, 'full');
  assert.deepEqual(inner.changes, []);
  assert.ok(
    printed.some((l) => l === `would run: btrfs subvolume snapshot -r -- ${w.source.real} ${w.snapDir}/${NEW}`),
    printed.join('\n'),
  );
  assert.ok(printed.some((l) => l.startsWith('would run: btrfs send -q')));
  assert.ok(!existsSync(w.targetDir) && !existsSync(w.snapDir), 'not even the folders');
});

test('a full disk: the partial copy deleted, the record cleared, latest untouched, exit 3 with the fix', async () => {
  const w = world();
  const partial = join(w.targetDir, NEW);
  const r = runner(w, [], [])
    .on(
      [
        ['btrfs', ['send', '-q', '--', join(w.snapDir, NEW)]],
        ['btrfs', ['receive', '--', w.targetDir]],
      ],
      () => {
        mkdirSync(partial);
        return { exitCode: 1, stderr: `ERROR: write ${NEW}/big.bin failed: No space left on device` };
      },
    )
    .on(['btrfs', ['subvolume', 'delete', '--', partial]], () => {
      rmdirSync(partial);
      return {};
    })
    .on(['btrfs', ['filesystem', 'sync', '--', w.targetDir]])
    .on(['btrfs', ['subvolume', 'sync', '--', w.targetDir]]);
  await assert.rejects(backupSource(w.source, deps(w, r)), (err: Error & { exitCode?: number; fix?: string }) => {
    assert.equal(err.exitCode, 3);
    assert.match(err.message, /backup filesystem is full/);
    assert.match(err.fix ?? '', /free space on the backup disk/);
    return true;
  });
  assert.ok(!existsSync(partial));
  assert.ok(!existsSync(join(w.targetDir, RECEIVE_RECORD)));
  assert.ok(!existsSync(join(w.targetDir, 'latest')));
  assert.ok(r.changes.includes(`btrfs subvolume sync -- ${w.targetDir}`), 'the freed space waited for');
});

test("a run's exit code: the whole run's failure first; a source's code only if nothing was written", () => {
  const ok = { status: 'ok' as const };
  const bad = (exitCode: number) => ({ status: 'failed' as const, exitCode });
  assert.equal(runExitCode([ok, ok]), 0);
  assert.equal(runExitCode([bad(2), ok]), 1, 'one bad source and one good: 1');
  assert.equal(runExitCode([bad(2)]), 2, 'nothing written: bad input');
  assert.equal(runExitCode([bad(2), bad(2)]), 2);
  assert.equal(runExitCode([bad(2), bad(3)]), 1, 'different failures: 1');
  assert.equal(runExitCode([ok], new TargetError('could not close')), 3, 'a failed close after good backups');
  assert.equal(runExitCode([bad(1)], new InterruptedError('SIGHUP')), 129);
  assert.equal(runExitCode([ok], new Error('bug')), 70);
});

test('after a restore, the newest restored subvolume still read-only with the same data is the parent; one gone or replaced since the listing is passed over', async () => {
  const w = world();
  const days = ['2026-11-01_00-00-00', '2026-11-02_00-00-00', '2026-11-03_00-00-00'];
  const dst = days.map((d, i) => ({ path: `data/${d}`, uuid: `c${i}`, received: `u${i}` }));
  // restored from each backup: no snapshot pairs with the target, so without them a full send
  const src = days.map((d, i) => ({ path: `restored/${d}`, uuid: `r${i}`, received: `u${i}` }));
  const [a, b, c] = days.map((d) => join(w.root, 'src', 'restored', d));
  const r = runner(w, src, dst, `../../restored/${days[0]}`)
    // newest first: c is gone, b is another subvolume now, a is the one
    .on(subvolumeInfoArgv([c!, b!, a!]), { stdout: `! No such file or directory\n302 1 r9 - u9\n300 1 r0 - u0\n` });
  const out = await backupSource(w.source, deps(w, r));
  assert.equal(out.parent, a);
  assert.ok(
    r.changes.includes(`btrfs send -q -p ${a} -- ${w.snapDir}/${NEW} | btrfs receive -- ${w.targetDir}`),
    r.changes.join('\n'),
  );
  assert.match(
    out.warnings.join('\n'),
    new RegExp(`sent incrementally from the restored ${a} \\(the data of backup ${days[0]}\\)`),
  );
});

test('a copy made writable (received UUID kept) is never a parent: it may have been changed', async () => {
  const w = world();
  const src = [{ path: 'snapshots/data/2026-11-02_00-00-00', uuid: 'u2' }];
  const dst = [{ path: 'data/2026-11-02_00-00-00', uuid: 'c2', received: 'u2', ro: false }];
  const out = await backupSource(w.source, deps(w, runner(w, src, dst)));
  assert.equal(out.mode, 'full');
  assert.match(out.warnings.join('\n'), /2026-11-02_00-00-00 is not a complete backup .*left alone/);
});

test('a recorded copy that was never synced, from before a reboot, is deleted and sent again; from this boot it is kept', async () => {
  const attempt = async (boot: string, synced: boolean) => {
    const w = world();
    mkdirSync(w.targetDir, { recursive: true });
    writeFileSync(
      join(w.targetDir, RECEIVE_RECORD),
      JSON.stringify({ name: '2026-11-02_00-00-00', run: 'x', started: 'then', boot, synced }),
    );
    const src = [{ path: 'snapshots/data/2026-11-02_00-00-00', uuid: 'u2' }];
    const dst = [{ path: 'data/2026-11-02_00-00-00', uuid: 'c2', received: 'u2' }];
    const r = freed(
      w,
      runner(w, src, dst, synced || boot === bootId() ? '2026-11-02_00-00-00' : undefined).on([
        'btrfs',
        ['subvolume', 'delete', '--', join(w.targetDir, '2026-11-02_00-00-00')],
      ]),
      'data/2026-11-02_00-00-00',
    );
    const out = await backupSource(w.source, deps(w, r));
    return [out.mode, out.cleaned.length];
  };
  assert.deepEqual(await attempt('another-boot', false), ['full', 1], 'its data may never have reached the disk');
  assert.deepEqual(await attempt('another-boot', true), ['incremental', 0], 'synced: on the disk');
  assert.deepEqual(await attempt(bootId(), false), ['incremental', 0], 'same boot: the data is there');
});

test('a per-source folder is claimed for one source of one host: another is refused before anything changes', async () => {
  const w = world();
  const first = runner(w, [], []);
  await backupSource(w.source, deps(w, first));
  assert.equal(JSON.parse(readFileSync(join(w.targetDir, OWNER_FILE), 'utf8')).source, w.source.real);
  const other = runner(w, [], []);
  await assert.rejects(
    backupSource({ ...w.source, real: join(w.root, 'src', 'other') }, deps(w, other)),
    (err: Error & { exitCode?: number; fix?: string }) => {
      assert.equal(err.exitCode, 3);
      assert.match(err.message, /holds the backups of .*\/src\/data on host testhost, not of .*\/src\/other/);
      assert.match(err.fix ?? '', /name = "data-2"/);
      return true;
    },
  );
  assert.deepEqual(other.changes, []);
});
