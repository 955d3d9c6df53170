import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { json, withScenario, type Scenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { tree } from '../support/tree.js';
import { compareSnapshotNames, isSnapshotName, sourceName } from '../../src/core/naming.js';
import type { KillPoint } from '../../src/system/kill-point.js';
import { LOCK_DIR } from '../../src/system/lock.js';
import { sh } from '../support/sh.js';
import { waitFor } from '../support/wait.js';

// The fault suite on real btrfs: btrfs-vault killed with SIGKILL at every
// point of a run where it matters, then a normal run. Nothing may be lost, no child
// may outlive the killed run, and the next run sends from the newest common pair.

before(() => requireRoot());
let injected = 0;
let survived = 0;
after(() => process.stdout.write(`# host faults: injected ${injected}, survived ${survived}\n`));

const dirsOf = (s: Scenario) => ({
  src: join(s.src.mountPoint, 'snapshots', sourceName(s.data)),
  dst: join(s.dst.mountPoint, sourceName(s.data)),
});
const snapshots = (dir: string) =>
  existsSync(dir) ? readdirSync(dir).filter(isSnapshotName).sort(compareSnapshotNames) : [];
const mounted = (mp: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === mp);

/** btrfs processes of this scenario, and lock holders, still alive */
function survivors(s: Scenario): string[] {
  const r = spawnSync('pgrep', ['-af', '^btrfs (send|receive)'], { encoding: 'utf8' });
  const btrfs = r.stdout.split('\n').filter((l) => l.includes(s.dir));
  // a lock holder is found by the lock it still holds; only this scenario's locks (those a
  // note of a run of its config names): other runs on the machine hold theirs meanwhile
  const flocks = heldFlocks();
  const ours = new Set(
    (existsSync(LOCK_DIR) ? readdirSync(LOCK_DIR) : [])
      .filter((f) => /\.lock\.owner\.\d+$/.test(f) && readOr(join(LOCK_DIR, f)).includes(`\nconfig ${s.config}\n`))
      .map((f) => f.replace(/\.owner\.\d+$/, '')),
  );
  const held = [...ours].filter((f) => flocks.has(fileId(join(LOCK_DIR, f)))).map((f) => `lock held: ${f}`);
  return [...btrfs, ...held];
}

/**
 * The files someone holds a flock(2) on, as "major:minor:inode" (/proc/locks: hex device
 * numbers, decimal inode; waiters, marked "->", hold nothing). One read for the whole
 * folder: the lock folder keeps every lock file ever made (thousands on a machine that
 * ran the tests often), and a `flock -n` per file cost seconds each time it was asked.
 */
function heldFlocks(): Set<string> {
  const held = new Set<string>();
  for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
    const m = /^\d+: FLOCK\s+\S+\s+\S+\s+-?\d+\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (m) held.add(`${parseInt(m[1]!, 16)}:${parseInt(m[2]!, 16)}:${m[3]}`);
  }
  return held;
}

/** "major:minor:inode" of a file, as /proc/locks names it (dev_t as glibc encodes it) */
function fileId(file: string): string {
  const { dev, ino } = statSync(file, { bigint: true });
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}:${ino}`;
}

async function assertNoOrphans(s: Scenario): Promise<void> {
  // pdeathsig is delivered at once, but a process killed inside a btrfs call ends only
  // when the call returns, and a loaded machine may take long to finish a write
  let left: string[] = [];
  await waitFor(() => (left = survivors(s)).length === 0, 60_000).catch(() => {
    const states = left.map((l) => {
      const pid = l.split(' ')[0]!;
      const state = /^State:\s+(.*)$/m.exec(readOr(`/proc/${pid}/status`))?.[1];
      return `${l}  [state ${state ?? 'gone'}, ppid ${/^PPid:\s+(\d+)/m.exec(readOr(`/proc/${pid}/status`))?.[1] ?? '?'}, wchan ${readOr(`/proc/${pid}/wchan`) || '?'}]`;
    });
    throw new Error(`children outlived the killed run by a minute:\n${states.join('\n')}`);
  });
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The complete backups on the target, by name (received UUID set). */
function complete(s: Scenario): string[] {
  const { dst } = dirsOf(s);
  return snapshots(dst).filter((n) => !/Received UUID:\s+-/.test(sh('btrfs', ['subvolume', 'show', join(dst, n)])));
}

const CASES: { point: KillPoint; bytes: number; expect: 'old-pair' | 'killed-run-pair'; cleans: boolean }[] = [
  { point: 'before-snapshot', bytes: 1, expect: 'old-pair', cleans: false },
  { point: 'during-send', bytes: 200 * 1024 * 1024, expect: 'old-pair', cleans: true },
  { point: 'after-receive', bytes: 1, expect: 'killed-run-pair', cleans: false },
  { point: 'after-sync', bytes: 1, expect: 'killed-run-pair', cleans: false },
  { point: 'between-links', bytes: 1, expect: 'killed-run-pair', cleans: false },
];

test(
  '[signals and power] kill -9 at five points of a run, each followed by a normal run: nothing lost, no orphan, incremental from the newest common pair',
  withScenario(async (s) => {
    writeFileSync(join(s.data, 'seed'), 'seed');
    assert.equal(s.cli(['--config', s.config]).code, 0);
    const { src, dst } = dirsOf(s);
    for (const c of CASES) {
      injected++;
      const keptBefore = complete(s);
      const latestBefore = readlinkSync(join(dst, 'latest'));
      if (c.bytes > 1)
        execFileSync('dd', [
          'if=/dev/urandom',
          `of=${join(s.data, `${c.point}.bin`)}`,
          `bs=1M`,
          `count=${c.bytes / 1024 / 1024}`,
          'status=none',
        ]);
      else appendFileSync(join(s.data, 'seed'), `${c.point}\n`);
      const killed = s.cli(['--config', s.config], { BTRFS_VAULT_TEST_KILL_AT: c.point });
      assert.equal(killed.code, -1, `${c.point}: the run was killed (${killed.stderr})`);
      await assertNoOrphans(s);
      const killedSnapshot = snapshots(src).at(-1)!;

      const r = s.cli(['--json', '--config', s.config]);
      assert.equal(r.code, 0, `${c.point}: ${r.stderr}`);
      const out = json(r).sources[0];
      assert.equal(out.mode, 'incremental', c.point);
      assert.equal(
        out.parent,
        c.expect === 'old-pair' ? latestBefore : killedSnapshot,
        `${c.point}: the newest common pair is the parent`,
      );
      assert.equal(out.cleaned.length, c.cleans ? 1 : 0, `${c.point}: ${JSON.stringify(out.cleaned)}`);
      for (const name of keptBefore) assert.ok(complete(s).includes(name), `${c.point}: ${name} is still there`);
      for (const dir of [src, dst])
        assert.equal(readlinkSync(join(dir, 'latest')), out.snapshot, `${c.point}: ${dir}/latest`);
      assert.deepEqual(tree(join(dst, 'latest')), tree(s.data), `${c.point}: the backup equals the data`);
      const listed = json(s.cli(['list', '--json', '--config', s.config])).sources[0];
      assert.deepEqual([listed.incomplete, listed.foreign, listed.dangling], [[], [], []], c.point);
      survived++;
    }
  }),
);

test(
  '[signals and power] SIGHUP mid-transfer is handled like SIGTERM: exit 129, the partial copy deleted, the lock free',
  withScenario(async (s) => {
    injected++;
    writeFileSync(join(s.data, 'seed'), 'seed');
    assert.equal(s.cli(['--config', s.config]).code, 0);
    const { dst } = dirsOf(s);
    const latest = readlinkSync(join(dst, 'latest'));
    execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, 'big.bin')}`, 'bs=1M', 'count=300', 'status=none']);
    const child = s.spawnCli(['--config', s.config]);
    await waitFor(() => snapshots(dst).length > 1);
    child.kill('SIGHUP');
    const code = await new Promise((r) => child.on('close', r));
    assert.equal(code, 129);
    await assertNoOrphans(s);
    assert.deepEqual(snapshots(dst), [latest]);
    const next = s.cli(['--json', '--config', s.config]);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(json(next).sources[0].parent, latest);
    survived++;
  }),
);

test(
  '[signals and power] kill -9 of a run that opened the target itself: the next run closes what it left open',
  withScenario(async (s) => {
    injected++;
    sh('umount', [s.dst.mountPoint]);
    writeFileSync(
      s.config,
      readFileSync(s.config, 'utf8').replace('[target]\n', `[target]\ndevice = ${JSON.stringify(s.dst.device)}\n`),
    );
    // large enough that the first progress sample (when the kill point fires) comes well before the end
    execFileSync('dd', ['if=/dev/urandom', `of=${join(s.data, 'big.bin')}`, 'bs=1M', 'count=300', 'status=none']);
    const killed = s.cli(['--config', s.config], { BTRFS_VAULT_TEST_KILL_AT: 'during-send' });
    assert.equal(killed.code, -1);
    await assertNoOrphans(s);
    assert.ok(mounted(s.dst.mountPoint), 'the killed run left the disk mounted');
    const next = s.cli(['--json', '--config', s.config]);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(json(next).sources[0].cleaned.length, 1);
    assert.ok(!mounted(s.dst.mountPoint), 'and the next run closed it');
    survived++;
  }),
);

test(
  '[signals and power] SIGTERM while the target is being opened: exit 143, not a success; nothing written, the disk not left mounted',
  withScenario(async (s) => {
    injected++;
    sh('umount', [s.dst.mountPoint]);
    writeFileSync(
      s.config,
      readFileSync(s.config, 'utf8').replace('[target]\n', `[target]\ndevice = ${JSON.stringify(s.dst.device)}\n`),
    );
    writeFileSync(join(s.data, 'f'), 'x');
    // a slow mount, as a disk spinning up makes it
    const shim = join(s.dir, 'shim');
    mkdirSync(shim);
    writeFileSync(join(shim, 'mount'), '#!/bin/sh\nsleep 2\nexec /usr/bin/mount "$@"\n', { mode: 0o755 });
    const child = s.spawnCli(['--json', '--config', s.config], { PATH: `${shim}:${process.env.PATH}` });
    let stdout = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    // the slow mount is running (our shim, by its own path: nothing else on the machine matches)
    await waitFor(() => spawnSync('pgrep', ['-f', `${shim}/mount`]).status === 0);
    child.kill('SIGTERM');
    assert.equal(await new Promise((r) => child.on('close', r)), 143);
    const report = JSON.parse(stdout);
    assert.equal(report.ok, false);
    assert.equal(report.exitCode, 143);
    assert.match(report.error, /interrupted by SIGTERM/);
    await assertNoOrphans(s);
    assert.ok(!mounted(s.dst.mountPoint), 'what the run opened was closed again, or never opened');
    assert.deepEqual(snapshots(dirsOf(s).src), []);
    survived++;
  }),
);
