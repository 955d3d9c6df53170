// The bench's two-disk phase (issue 22): a backup run with two attached disks against two
// runs of one disk each (`--target`), the same change each time. Either way the source's
// snapshot is taken once and sent to each disk; the two-disk run must not cost more than
// the two single runs. Run by bench.ts, or alone with BENCH_ONLY=two-disks.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeLoopBtrfs, type LoopFs } from '../test/support/loop-disk.js';
import { sh } from '../test/support/sh.js';
import { tempDir } from '../test/support/scratch.js';
import { hostRecordFile } from '../src/system/host-record.js';

export interface TwoDisksResult {
  /** the data set, MiB, and what each run changes of it */
  mib: number;
  changedMib: number;
  /** medians, seconds: one run to both disks; the two single-disk runs together; each of them */
  both: number;
  singles: number;
  first: number;
  second: number;
  /** singles / both: above 1, the two-disk run is the cheaper */
  ratio: number;
  /** every round's figures, seconds */
  rounds: { both: number; first: number; second: number }[];
  /** snapshots the source holds after each kind of run (one a run either way) */
  snapshotsPerRun: { both: number; singles: number };
}

const DISKS = ['one', 'two'] as const;

export function twoDisksPhase(bin: string, reps: number, mib: number): TwoDisksResult {
  const dir = tempDir('bench-two-disks');
  const src = makeLoopBtrfs(dir, 'src', 2 * mib + 1024);
  const disks: LoopFs[] = [];
  const etc = join(dir, 'etc');
  const config = join(etc, 'config.toml');
  try {
    for (const name of DISKS) disks.push(makeLoopBtrfs(dir, `disk-${name}`, 4 * mib + 1024));
    const data = join(src.mountPoint, 'data');
    sh('btrfs', ['subvolume', 'create', data]);
    execFileSync('dd', ['if=/dev/urandom', `of=${join(data, 'big.bin')}`, 'bs=1M', `count=${mib}`, 'status=none']);
    mkdirSync(join(data, 'small'));
    for (let i = 0; i < 5000; i++) writeFileSync(join(data, 'small', `f${i}`), randomBytes(4096));
    mkdirSync(etc, { mode: 0o700 });
    let targets = '';
    DISKS.forEach((name, i) => {
      const fs = disks[i]!;
      const token = randomBytes(64);
      writeFileSync(join(fs.mountPoint, '.token'), token, { mode: 0o600 });
      const hash = join(etc, `token-${name}.sha512`);
      writeFileSync(hash, `${createHash('sha512').update(token).digest('hex')}  ${join(fs.mountPoint, '.token')}\n`);
      chmodSync(hash, 0o600);
      targets += `\n[targets.${name}]\nmountpoint = ${JSON.stringify(fs.mountPoint)}\n`;
    });
    const snaps = join(src.mountPoint, 'snaps');
    writeFileSync(
      config,
      `host = "bench"\nsources = [{ path = ${JSON.stringify(data)}, name = "data" }]\nsnapshot_dir = ${JSON.stringify(snaps)}\n${targets}`,
    );
    const backup = (...args: string[]) =>
      execFileSync('node', [bin, 'backup', ...args, '--config', config], { stdio: 'ignore' });
    const snapshots = () =>
      sh('ls', [join(snaps, 'data')])
        .split('\n')
        .filter((n) => /^\d{4}-/.test(n)).length;
    // a tenth of the big file and of the small files, rewritten before every measured run
    const changedMib = Math.max(1, Math.floor(mib / 10));
    const change = () => {
      const fd = openSync(join(data, 'big.bin'), 'r+');
      const chunk = randomBytes(1024 * 1024);
      const start = Math.floor(Math.random() * (mib - changedMib));
      for (let i = 0; i < changedMib; i++) writeSync(fd, chunk, 0, chunk.length, (start + i) * 1024 * 1024);
      closeSync(fd);
      for (let i = 0; i < 500; i++) writeFileSync(join(data, 'small', `f${(i * 10) % 5000}`), randomBytes(4096));
    };
    const timed = (fn: () => void) => {
      sh('sync', []);
      writeFileSync('/proc/sys/vm/drop_caches', '3');
      const t = process.hrtime.bigint();
      fn();
      sh('sync', []); // what was received is on disk
      return Number(process.hrtime.bigint() - t) / 1e9;
    };
    backup(); // the full backups to both disks: every measured run is incremental
    const rounds: TwoDisksResult['rounds'] = [];
    const perRun = { both: 0, singles: 0 };
    for (let rep = 0; rep < reps; rep++) {
      const round = { both: 0, first: 0, second: 0 };
      // interleaved, the order turning each round
      for (const kind of rep % 2 === 0 ? ['both', 'singles'] : ['singles', 'both']) {
        change();
        const before = snapshots();
        if (kind === 'both') round.both = timed(() => backup());
        else {
          round.first = timed(() => backup('--target', 'one'));
          round.second = timed(() => backup('--target', 'two'));
        }
        perRun[kind as 'both' | 'singles'] = snapshots() - before;
      }
      rounds.push(round);
      console.log(
        `two disks, round ${rep + 1}/${reps}: one run to both ${round.both.toFixed(2)} s, two single runs ${(round.first + round.second).toFixed(2)} s (${round.first.toFixed(2)} + ${round.second.toFixed(2)})`,
      );
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const both = median(rounds.map((r) => r.both));
    const singles = median(rounds.map((r) => r.first + r.second));
    return {
      mib,
      changedMib,
      both,
      singles,
      first: median(rounds.map((r) => r.first)),
      second: median(rounds.map((r) => r.second)),
      ratio: singles / both,
      rounds,
      snapshotsPerRun: perRun,
    };
  } finally {
    // before the folder goes: a mounted one would be emptied through its mount, then leaked
    for (const fs of disks.reverse()) fs.dispose();
    src.dispose();
    rmSync(dir, { recursive: true, force: true });
    rmSync(hostRecordFile(config), { force: true });
  }
}

/** The phase's lines for the bench's output. */
export function twoDisksLines(r: TwoDisksResult): string[] {
  return [
    `\ntwo attached disks (${r.mib} MiB + 5,000 small files, ${r.changedMib} MiB and 500 files changed before each run), medians of ${r.rounds.length}:`,
    '| | seconds |',
    '|---|---|',
    `| one run to both disks | ${r.both.toFixed(2)} |`,
    `| two single-disk runs (--target one, then two) | ${r.singles.toFixed(2)} (${r.first.toFixed(2)} + ${r.second.toFixed(2)}) |`,
    `| two single runs / one run to both | ${r.ratio.toFixed(3)} (above 1: the run to both is the cheaper) |`,
    `snapshots made: ${r.snapshotsPerRun.both} by the run to both, ${r.snapshotsPerRun.singles} by the two single runs together`,
  ];
}
