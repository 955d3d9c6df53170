import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Subvolume } from '../../src/btrfs/subvolumes.js';
import { makeRoom, parseDf, parseDu } from '../../src/flows/retention/min-free.js';
import { DryRunRunner } from '../../src/system/dry-run-runner.js';
import { FakeRunner } from '../support/fake-runner.js';
import { scratchDir } from '../support/scratch.js';

// min_free's decisions with the fake runner: what it refuses before deleting, what it keeps.

const MiB = 2 ** 20;
const name = (d: number) => `2026-11-${String(d).padStart(2, '0')}_12-00-00`;

function world(days: number[]) {
  const dir = join(scratchDir('minfree'), 'backups');
  mkdirSync(dir, { recursive: true });
  const backups: Subvolume[] = days.map((d, i) => {
    mkdirSync(join(dir, name(d)));
    return {
      path: join(dir, name(d)),
      name: name(d),
      id: 300 + i,
      uuid: `c${d}`,
      receivedUuid: `u${d}`,
      gen: 9,
      cgen: 10 + i,
      readonly: true,
    };
  });
  symlinkSync(name(days.at(-1)!), join(dir, 'latest'));
  symlinkSync(name(days.at(-2)!), join(dir, 'previous'));
  return { dir, backups };
}

const df = (dataMiB: number, metaMiB = 1) =>
  `Data, single: total=${900 * MiB}, used=${dataMiB * MiB}\nSystem, DUP: total=8388608, used=16384\nMetadata, DUP: total=${64 * MiB}, used=${metaMiB * MiB}\nGlobalReserve, single: total=5767168, used=0\n`;
const du = (rows: [string, number, number][]) =>
  `     Total   Exclusive  Set shared  Filename\n${rows.map(([p, ex, sh]) => `${(ex + sh) * MiB} ${ex * MiB} ${sh * MiB} ${p}`).join('\n')}\n`;

test('parsers: df counts metadata copies; du gives each path its distinct data', () => {
  assert.deepEqual(parseDf(df(100, 2)), { data: 100 * MiB, metadata: 4 * MiB });
  assert.deepEqual(parseDf('Data+Metadata, single: total=1, used=5000\n'), { data: 5000, metadata: 0 });
  assert.deepEqual([...parseDu(du([['/b/x y', 3, 4]]))], [['/b/x y', 7 * MiB]]);
});

test('min_free larger than the filesystem: refused, nothing run, nothing deleted', async () => {
  const w = world([1, 2, 3]);
  const r = new FakeRunner();
  await assert.rejects(
    makeRoom({
      runner: r,
      targetDir: w.dir,
      mountPoint: w.dir,
      minFree: { bytes: 5 * 2 ** 40 },
      backups: w.backups,
      keep: new Set([name(3)]),
      keepLast: 1,
      step: () => {},
      measure: () => ({ free: 10 * MiB, size: 1024 * MiB }),
    }),
    (err: Error & { exitCode: number; fix: string }) =>
      err.exitCode === 3 &&
      /whole backup filesystem is 1\.00 GiB/.test(err.message) &&
      /lower target\.min_free/.test(err.fix),
  );
  assert.deepEqual(r.changes, []);
});

test('min_free no deletion can meet (the kept newest backup holds the data): refused before deleting', async () => {
  const w = world([1, 2, 3, 4]);
  const [a, b, c, d] = w.backups.map((s) => s.path) as [string, string, string, string];
  // keep_last 2: 3 and 4 stay; 1 and 2 could go, but the data is 4's too
  const r = new FakeRunner()
    .on(['btrfs', ['filesystem', 'df', '-b', '--', w.dir]], { stdout: df(300) })
    .on(['btrfs', ['filesystem', 'du', '-s', '--raw', '--', w.dir, a, b, d]], {
      stdout: du([
        [w.dir, 0, 300],
        [a, 1, 299],
        [b, 1, 299],
        [d, 1, 299],
      ]),
    });
  await assert.rejects(
    makeRoom({
      runner: r,
      targetDir: w.dir,
      mountPoint: w.dir,
      minFree: { bytes: 200 * MiB },
      backups: w.backups,
      keep: new Set([name(4)]),
      keepLast: 2,
      step: () => {},
      measure: () => ({ free: 100 * MiB, size: 1024 * MiB }),
    }),
    /deleting all 2 backup\(s\) that may go \(kept: latest and the next parent, the 2 newest \(keep_last\)\) would free at most 2\.00 MiB: nothing was deleted/,
  );
  assert.deepEqual(r.changes, [], 'nothing deleted');
  assert.ok(!r.calls.some((x) => x.includes(c)), 'the third newest is kept by keep_last: not even measured');
});

test("min_free on a disk shared with other sources: the bound is what this source's folder holds, not the whole disk's data; refused before deleting", async () => {
  const w = world([1, 2, 3]);
  const [a, b, c] = w.backups.map((s) => s.path) as [string, string, string];
  // 300 MiB of data on the disk, but this source's folder holds 40 MiB, 30 of them the newest's
  const r = new FakeRunner()
    .on(['btrfs', ['filesystem', 'df', '-b', '--', w.dir]], { stdout: df(300) })
    .on(['btrfs', ['filesystem', 'du', '-s', '--raw', '--', w.dir, a, b, c]], {
      stdout: du([
        [w.dir, 10, 30],
        [a, 5, 25],
        [b, 5, 25],
        [c, 0, 30],
      ]),
    });
  await assert.rejects(
    makeRoom({
      runner: r,
      targetDir: w.dir,
      mountPoint: w.dir,
      minFree: { bytes: 150 * MiB },
      backups: w.backups,
      keep: new Set([name(3)]),
      keepLast: 1,
      step: () => {},
      measure: () => ({ free: 100 * MiB, size: 1024 * MiB }),
    }),
    /would free at most 12\.0 MiB: nothing was deleted/,
  );
  assert.deepEqual(r.changes, [], 'nothing deleted');
});

test('min_free in a dry-run names the first backup that would go, not every one: a run measures again after each', async () => {
  const w = world([1, 2, 3, 4]);
  const [a, b, , d] = w.backups.map((s) => s.path) as [string, string, string, string];
  const inner = new FakeRunner()
    .on(['btrfs', ['filesystem', 'df', '-b', '--', w.dir]], { stdout: df(300) })
    .on(['btrfs', ['filesystem', 'du', '-s', '--raw', '--', w.dir, a, b, d]], {
      stdout: du([
        [w.dir, 240, 0],
        [a, 60, 0],
        [b, 60, 0],
        [d, 60, 0],
      ]),
    });
  const printed: string[] = [];
  const steps: string[] = [];
  const room = await makeRoom({
    runner: new DryRunRunner(inner, (l) => printed.push(l)),
    targetDir: w.dir,
    mountPoint: w.dir,
    minFree: { bytes: 110 * MiB },
    backups: w.backups,
    keep: new Set([name(4)]),
    keepLast: 2,
    step: (t) => steps.push(t),
    measure: () => ({ free: 100 * MiB, size: 1024 * MiB }),
  });
  assert.deepEqual(room.deleted, [name(1)]);
  assert.deepEqual(
    printed.filter((l) => l.includes('subvolume delete')),
    [`would run: btrfs subvolume delete --commit-after -- ${a}`],
  );
  assert.match(steps.join('\n'), /the next oldest \(a run measures the free space again after each deletion\)/);
  assert.deepEqual(inner.changes, []);
});

test('min_free deletion can meet: oldest first, each waited for, keep_last kept, previous repaired, and why', async () => {
  const w = world([1, 2, 3, 4]);
  const [a, b, , d] = w.backups.map((s) => s.path) as [string, string, string, string];
  let free = 100;
  const r = new FakeRunner()
    .on(['btrfs', ['filesystem', 'df', '-b', '--', w.dir]], { stdout: df(300) })
    .on(['btrfs', ['filesystem', 'du', '-s', '--raw', '--', w.dir, a, b, d]], {
      stdout: du([
        [w.dir, 240, 0],
        [a, 60, 0],
        [b, 60, 0],
        [d, 60, 0],
      ]),
    })
    .on(['btrfs', ['subvolume', 'delete', '--commit-after', '--', a]], () => {
      free += 60;
      return {};
    })
    .on(['btrfs', ['subvolume', 'delete', '--commit-after', '--', b]], () => {
      free += 60;
      return {};
    })
    .on(['btrfs', ['filesystem', 'sync', '--', w.dir]])
    .on(['btrfs', ['subvolume', 'sync', '--', w.dir, '300']])
    .on(['btrfs', ['subvolume', 'sync', '--', w.dir, '301']]);
  // previous points at 1, which goes
  unlinkSync(join(w.dir, 'previous'));
  symlinkSync(name(1), join(w.dir, 'previous'));
  const room = await makeRoom({
    runner: r,
    targetDir: w.dir,
    mountPoint: w.dir,
    minFree: { bytes: 200 * MiB },
    backups: w.backups,
    keep: new Set([name(4)]),
    keepLast: 2,
    step: () => {},
    measure: () => ({ free: free * MiB, size: 1024 * MiB }),
  });
  assert.deepEqual(room.deleted, [name(1), name(2)]);
  assert.match(
    room.why ?? '',
    /only 100\.0 MiB was free and min_free asks for 200\.0 MiB; kept: latest and the next parent, the 2 newest \(keep_last\)/,
  );
  assert.equal(readlinkSync(join(w.dir, 'previous')), name(3), 'previous names the newest kept one before latest');
  const waits = r.changes.filter((c) => c.startsWith('btrfs subvolume sync'));
  assert.deepEqual(waits, [`btrfs subvolume sync -- ${w.dir} 300`, `btrfs subvolume sync -- ${w.dir} 301`]);
});

test('min_free: when btrfs cannot measure the backups, the bound is lifted (deleting still stops at what must stay)', async () => {
  const w = world([1, 2]);
  const [a, b] = w.backups.map((s) => s.path) as [string, string];
  let free = 10;
  const r = new FakeRunner()
    .on(['btrfs', ['filesystem', 'df', '-b', '--', w.dir]], { stdout: df(300) })
    .on(['btrfs', ['filesystem', 'du', '-s', '--raw', '--', w.dir, a, b]], {
      exitCode: 1,
      stderr: 'ERROR: cannot check space of something',
    })
    .on(['btrfs', ['subvolume', 'delete', '--commit-after', '--', a]], () => {
      free += 60;
      return {};
    })
    .on(['btrfs', ['filesystem', 'sync', '--', w.dir]])
    .on(['btrfs', ['subvolume', 'sync', '--', w.dir, '300']]);
  const room = await makeRoom({
    runner: r,
    targetDir: w.dir,
    mountPoint: w.dir,
    minFree: { bytes: 50 * MiB },
    backups: w.backups,
    keep: new Set([name(2)]),
    keepLast: 1,
    step: () => {},
    measure: () => ({ free: free * MiB, size: 1024 * MiB }),
  });
  assert.deepEqual(room.deleted, [name(1)]);
});
