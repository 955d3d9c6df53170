// npm run bench: btrfs-vault against raw `btrfs send | btrfs receive` and btrbk on
// the same loop devices, interleaved, with medians and ratios. Not a test: it prints.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../test/support/loop-disk.js';
import { sh } from '../test/support/sh.js';
import { tempDir } from '../test/support/scratch.js';
import { COMPILE_CACHE_DIR } from '../src/cli/launch.js';
import { memoryPhase } from './memory.js';
import { sshPhase } from './ssh.js';
import { twoDisksLines, twoDisksPhase } from './two-disks.js';

const REPS = Number(process.env.BENCH_REPS ?? 3);
const BIG_MIB = Number(process.env.BENCH_BIG_MIB ?? 900);
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 30000);
const BIN = join(process.cwd(), 'bin', 'btrfs-vault.js');

type Tool = 'btrfs-vault' | 'raw' | 'btrbk';
type Phase = 'full' | 'incremental' | 'no-change' | 'no-change-warm' | 'no-change-kept';
const WARM_RUNS = Number(process.env.BENCH_WARM_RUNS ?? 5);
/** snapshots each tool keeps before the last phase, as an hourly schedule would after four days */
const KEPT = Number(process.env.BENCH_KEPT ?? 100);
const TOOLS: Tool[] = ['btrfs-vault', 'raw', 'btrbk'];
/** the memory phase's large transfer, GiB (0 skips the phase) */
const MEMORY_GIB = Number(process.env.BENCH_MEMORY_GIB ?? 10);
const RESULT_FILE = join(process.cwd(), 'dist', 'bench-result.json');

requireRoot();
if (!Number.isInteger(MEMORY_GIB) || MEMORY_GIB < 0)
  throw new Error(`BENCH_MEMORY_GIB=${process.env.BENCH_MEMORY_GIB}: a whole number of GiB (0 skips the memory phase)`);
const ONLY = process.env.BENCH_ONLY;
if (ONLY !== undefined && ONLY !== 'memory' && ONLY !== 'ssh' && ONLY !== 'two-disks')
  throw new Error(
    `BENCH_ONLY=${ONLY}: the phases that run alone are memory, ssh and two-disks (BENCH_ONLY=memory, BENCH_ONLY=ssh, BENCH_ONLY=two-disks)`,
  );
/** the ssh phase's data, MiB (0 skips the phase) */
const SSH_MIB = Number(process.env.BENCH_SSH_MIB ?? 512);
/** the two-disk phase's data set, MiB */
const TWO_DISKS_MIB = Number(process.env.BENCH_TWO_DISKS_MIB ?? 300);
// the first run compiles btrfs-vault's code (and on Node >= 22.1 caches it), as the first run after an install does
rmSync(COMPILE_CACHE_DIR, { recursive: true, force: true });
if (ONLY === 'ssh') {
  if (SSH_MIB === 0) throw new Error('BENCH_ONLY=ssh with BENCH_SSH_MIB=0: nothing to run');
  const ssh = await sshPhase(SSH_MIB, BIN);
  // an earlier full run's figures stay; this phase's replace its own
  const earlier = existsSync(RESULT_FILE) ? JSON.parse(readFileSync(RESULT_FILE, 'utf8')) : {};
  writeFileSync(RESULT_FILE, JSON.stringify({ ...earlier, result: { ...earlier.result, ssh } }, null, 2));
  process.exit(0);
}
if (ONLY === 'two-disks') {
  const twoDisks = twoDisksPhase(BIN, REPS, TWO_DISKS_MIB);
  for (const line of twoDisksLines(twoDisks)) console.log(line);
  // an earlier full run's figures stay; this phase's replace its own
  const earlier = existsSync(RESULT_FILE) ? JSON.parse(readFileSync(RESULT_FILE, 'utf8')) : {};
  writeFileSync(RESULT_FILE, JSON.stringify({ ...earlier, result: { ...earlier.result, twoDisks } }, null, 2));
  process.exit(0);
}
if (ONLY === 'memory') {
  if (MEMORY_GIB === 0) throw new Error('BENCH_ONLY=memory with BENCH_MEMORY_GIB=0: nothing to run');
  const memory = memoryPhase(MEMORY_GIB, BIN);
  // an earlier full run's figures stay; this phase's replace its own
  const earlier = existsSync(RESULT_FILE) ? JSON.parse(readFileSync(RESULT_FILE, 'utf8')) : {};
  writeFileSync(RESULT_FILE, JSON.stringify({ ...earlier, result: { ...earlier.result, memory } }, null, 2));
  process.exit(0);
}
const dir = tempDir('bench');
const src = makeLoopBtrfs(dir, 'src', 8192);
const dst = makeLoopBtrfs(dir, 'dst', 24576);
/** filesystems made later on, still mounted when the bench stops half-way */
const later: LoopFs[] = [];
let cleaned = false;
const cleanup = () => {
  if (cleaned) return;
  cleaned = true;
  // before the folder goes: a mounted one would be emptied through its mount, then leaked
  for (const f of later.splice(0).reverse()) f.dispose();
  dst.dispose();
  src.dispose();
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', () => {
  try {
    cleanup();
  } catch {
    /* already gone */
  }
});

const data = join(src.mountPoint, 'data');
sh('btrfs', ['subvolume', 'create', data]);
console.log(`data set: one ${BIG_MIB} MiB file and ${SMALL_FILES} small files (4 KiB)`);
execFileSync('dd', ['if=/dev/urandom', `of=${join(data, 'big.bin')}`, 'bs=1M', `count=${BIG_MIB}`, 'status=none']);
for (let d = 0; d < SMALL_FILES / 1000; d++) {
  mkdirSync(join(data, `d${d}`));
  for (let i = 0; i < 1000; i++) writeFileSync(join(data, `d${d}`, `f${i}`), randomBytes(4096));
}
sh('sync', []);
const total = Number(sh('du', ['-sb', data]).split('\t')[0]);

// btrfs-vault: config, token
const etc = join(dir, 'etc');
mkdirSync(etc, { mode: 0o700 });
const token = randomBytes(64);
writeFileSync(join(dst.mountPoint, '.token'), token);
writeFileSync(
  join(etc, 'token.sha512'),
  `${createHash('sha512').update(token).digest('hex')}  ${join(dst.mountPoint, '.token')}\n`,
  { mode: 0o600 },
);
writeFileSync(
  join(etc, 'config.toml'),
  `host = "bench"\nsources = [{ path = "${data}", name = "data" }]\nsnapshot_dir = "${join(src.mountPoint, 'vault-snaps')}"\n[target]\nmountpoint = "${dst.mountPoint}"\n`,
);
// btrbk: the same job
writeFileSync(
  join(etc, 'btrbk.conf'),
  `timestamp_format long-iso\nsnapshot_preserve_min all\ntarget_preserve_min all\nlockfile ${join(dir, 'btrbk.lock')}\n` +
    `volume ${src.mountPoint}\n  snapshot_dir btrbk-snaps\n  subvolume data\n    target ${join(dst.mountPoint, 'btrbk')}\n`,
);
const dirs: Record<Tool, { snaps: string; target: string }> = {
  'btrfs-vault': { snaps: join(src.mountPoint, 'vault-snaps', 'data'), target: join(dst.mountPoint, 'data') },
  raw: { snaps: join(src.mountPoint, 'raw-snaps'), target: join(dst.mountPoint, 'raw') },
  btrbk: { snaps: join(src.mountPoint, 'btrbk-snaps'), target: join(dst.mountPoint, 'btrbk') },
};
let rawSeq = 0;
/** the largest resident set of each tool's process over all its runs, KiB (GNU time) */
const peakRss = { 'btrfs-vault': 0, btrbk: 0 };
let rawParent: string | undefined;

/** seconds of the send|receive itself, as each tool reports or as timed here (btrbk: none) */
let lastTransfer = NaN;

/** `force`: btrfs-vault makes a snapshot even when nothing changed (as raw and btrbk always do) */
function runTool(tool: Tool, force = false): void {
  lastTransfer = NaN;
  if (tool === 'btrfs-vault') {
    // progress on: the plain-line renderer a cron job gets; its last line has the transfer time
    const rss = join(dir, 'rss');
    const out = execFileSync(
      '/usr/bin/time',
      [
        '-f',
        '%M',
        '-o',
        rss,
        'node',
        BIN,
        'backup',
        ...(force ? ['--force'] : []),
        '--config',
        join(etc, 'config.toml'),
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    peakRss['btrfs-vault'] = Math.max(peakRss['btrfs-vault'], Number(readFileSync(rss, 'utf8').trim()));
    const m = / ([\d.]+) s\n?$/m.exec(
      out
        .split('\n')
        .filter((l) => l.includes('✔'))
        .at(-1) ?? '',
    );
    lastTransfer = m ? Number(m[1]) : NaN;
  } else if (tool === 'btrbk') {
    const rss = join(dir, 'rss');
    execFileSync('/usr/bin/time', ['-f', '%M', '-o', rss, 'btrbk', '-c', join(etc, 'btrbk.conf'), '-q', 'run'], {
      stdio: 'ignore',
    });
    peakRss.btrbk = Math.max(peakRss.btrbk, Number(readFileSync(rss, 'utf8').trim()));
  } else {
    const snap = join(dirs.raw.snaps, `s${++rawSeq}`);
    sh('btrfs', ['subvolume', 'snapshot', '-r', data, snap]);
    const parent = rawParent ? `-p ${rawParent} ` : '';
    const t = process.hrtime.bigint();
    execFileSync('bash', ['-c', `btrfs send -q ${parent}${snap} | btrfs receive ${dirs.raw.target}`], {
      stdio: 'ignore',
    });
    lastTransfer = Number(process.hrtime.bigint() - t) / 1e9;
    rawParent = snap;
  }
}

function resetTool(tool: Tool): void {
  for (const d of [dirs[tool].snaps, dirs[tool].target]) {
    mkdirSync(d, { recursive: true });
    for (const name of sh('ls', ['-A', d]).split('\n').filter(Boolean)) {
      const p = join(d, name);
      try {
        sh('btrfs', ['subvolume', 'delete', p]);
      } catch {
        rmSync(p, { force: true });
      }
    }
  }
  sh('btrfs', ['subvolume', 'sync', src.mountPoint]);
  sh('btrfs', ['subvolume', 'sync', dst.mountPoint]);
  rawParent = undefined;
}

/** rewrites ~10% of the data in place: a tenth of the big file, a tenth of the small files */
function change10(): void {
  const fd = openSync(join(data, 'big.bin'), 'r+');
  const chunk = randomBytes(1024 * 1024);
  const start = Math.floor(Math.random() * BIG_MIB * 0.9);
  for (let i = 0; i < BIG_MIB / 10; i++) writeSync(fd, chunk, 0, chunk.length, (start + i) * 1024 * 1024);
  closeSync(fd);
  for (let d = 0; d < SMALL_FILES / 1000; d++)
    for (let i = 0; i < 100; i++) writeFileSync(join(data, `d${d}`, `f${(i * 10 + d) % 1000}`), randomBytes(4096));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function timed(fn: () => void, cold = true): number {
  sh('sync', []);
  if (cold) writeFileSync('/proc/sys/vm/drop_caches', '3');
  const t = process.hrtime.bigint();
  fn();
  sh('sync', []); // what was received is on disk
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const transfers: Record<'full' | 'incremental', { vault: number[]; raw: number[] }> = {
  full: { vault: [], raw: [] },
  incremental: { vault: [], raw: [] },
};
const record = (phase: Phase, tool: Tool) => {
  if ((phase !== 'full' && phase !== 'incremental') || tool === 'btrbk') return;
  transfers[phase][tool === 'raw' ? 'raw' : 'vault'].push(lastTransfer);
};
const times: Record<Phase, Record<Tool, number[]>> = {
  full: { 'btrfs-vault': [], raw: [], btrbk: [] },
  incremental: { 'btrfs-vault': [], raw: [], btrbk: [] },
  'no-change': { 'btrfs-vault': [], raw: [], btrbk: [] },
  'no-change-warm': { 'btrfs-vault': [], raw: [], btrbk: [] },
  'no-change-kept': { 'btrfs-vault': [], raw: [], btrbk: [] },
};
const forcedWarm: number[] = [];
for (let rep = 0; rep < REPS; rep++) {
  // interleaved, the order rotating each round so no tool always runs on a warm machine
  const order = TOOLS.map((_, i) => TOOLS[(i + rep) % TOOLS.length]!);
  for (const tool of order) {
    // btrbk takes any received copy on the target as a parent; with the others' copies
    // still there its "full" run would be incremental, so every tool starts from nothing
    for (const t of TOOLS) resetTool(t);
    times.full[tool].push(timed(() => runTool(tool)));
    record('full', tool);
    change10();
    times.incremental[tool].push(timed(() => runTool(tool)));
    record('incremental', tool);
    times['no-change'][tool].push(timed(() => runTool(tool)));
    // the same again with the programs (node, perl, btrfs) still in the page cache, as
    // for a run an hour after the last; several, as each is short
    for (let w = 0; w < WARM_RUNS; w++) times['no-change-warm'][tool].push(timed(() => runTool(tool), false));
    // btrfs-vault sees that nothing changed and makes no snapshot; forced, it works as the others do
    if (tool === 'btrfs-vault')
      for (let w = 0; w < WARM_RUNS; w++) forcedWarm.push(timed(() => runTool(tool, true), false));
    process.stdout.write(
      `round ${rep + 1}/${REPS} ${tool}: full ${times.full[tool].at(-1)!.toFixed(2)} s, incremental ${times.incremental[tool].at(-1)!.toFixed(2)} s, ` +
        `no-change ${times['no-change'][tool].at(-1)!.toFixed(3)} s, warm ${median(times['no-change-warm'][tool].slice(-WARM_RUNS)).toFixed(3)} s\n`,
    );
  }
}

// Restore, in the other direction: the first and the last backup of the last round onto a
// filesystem of their own (full, then incremental from the first), against raw
// btrfs send | btrfs receive of the same backups
const restoreFs = makeLoopBtrfs(dir, 'restore', 8192);
later.push(restoreFs);
// each round started every tool from nothing: make the two backups to restore
resetTool('btrfs-vault');
runTool('btrfs-vault');
change10();
runTool('btrfs-vault');
const vaultBackups = sh('ls', [dirs['btrfs-vault'].target])
  .split('\n')
  .filter((n) => /^\d{4}-/.test(n))
  .sort();
const [firstBackup, lastBackup] = [vaultBackups[0]!, vaultBackups.at(-1)!];
const restoreTimes: Record<'full' | 'incremental', { vault: number[]; raw: number[] }> = {
  full: { vault: [], raw: [] },
  incremental: { vault: [], raw: [] },
};
for (let rep = 0; rep < REPS; rep++) {
  for (const d of ['vault', 'raw']) {
    const folder = join(restoreFs.mountPoint, d);
    mkdirSync(folder, { recursive: true });
    for (const n of sh('ls', ['-A', folder]).split('\n').filter(Boolean))
      sh('btrfs', ['subvolume', 'delete', join(folder, n)]);
  }
  // the deletions committed, then their space freed: the cleaner must not run during a timed restore
  sh('btrfs', ['filesystem', 'sync', restoreFs.mountPoint]);
  sh('btrfs', ['subvolume', 'sync', restoreFs.mountPoint]);
  const vault = (name: string) =>
    execFileSync(
      'node',
      [BIN, 'restore', 'data', name, '--to', join(restoreFs.mountPoint, 'vault'), '--config', join(etc, 'config.toml')],
      { stdio: 'ignore' },
    );
  const raw = (name: string, parent?: string) => {
    const p = parent ? `-p ${join(dirs['btrfs-vault'].target, parent)} ` : '';
    execFileSync(
      'bash',
      [
        '-c',
        `set -o pipefail; btrfs send -q ${p}${join(dirs['btrfs-vault'].target, name)} | btrfs receive -q ${join(restoreFs.mountPoint, 'raw')}`,
      ],
      { stdio: 'ignore' },
    );
  };
  // the order turning each round: the first writer after the cleanup must not always be the same tool
  const tools = rep % 2 === 0 ? (['vault', 'raw'] as const) : (['raw', 'vault'] as const);
  for (const t of tools)
    restoreTimes.full[t].push(timed(() => (t === 'vault' ? vault(firstBackup) : raw(firstBackup))));
  if (lastBackup !== firstBackup) {
    for (const t of tools)
      restoreTimes.incremental[t].push(timed(() => (t === 'vault' ? vault(lastBackup) : raw(lastBackup, firstBackup))));
  }
}
later.splice(later.indexOf(restoreFs), 1);
restoreFs.dispose();

// Listing costs grow with the subvolumes on a filesystem: the same no-change run once
// every tool keeps KEPT snapshot pairs (the last round's state plus KEPT untimed runs each)
for (const tool of TOOLS) for (let i = 0; i < KEPT; i++) runTool(tool, true);
for (let w = 0; w < WARM_RUNS * REPS; w++) {
  for (const tool of TOOLS.map((_, i) => TOOLS[(i + w) % TOOLS.length]!))
    times['no-change-kept'][tool].push(timed(() => runTool(tool), false));
}
const subvolumes = (m: string) => sh('btrfs', ['subvolume', 'list', m]).split('\n').filter(Boolean).length;
console.log(
  `with ${KEPT} more snapshots each (${subvolumes(src.mountPoint)} subvolumes on the source, ${subvolumes(dst.mountPoint)} on the target): no-change ${TOOLS.map((t) => `${t} ${median(times['no-change-kept'][t]).toFixed(3)} s`).join(', ')}`,
);

const mib = (b: number) => (b / 1024 / 1024).toFixed(0);
console.log(
  `\nbtrfs-vault benchmark: ${mib(total)} MiB data set, ${REPS} interleaved rounds, medians (seconds). Page cache dropped before each run except: ` +
    `no-change-warm (${WARM_RUNS} runs a round) and no-change-kept (${WARM_RUNS * REPS} runs with ${KEPT} more snapshots kept by each tool)`,
);
console.log('| phase | btrfs-vault | raw send/receive | btrbk | vault speed / raw | vault speed / btrbk |');
console.log('|---|---|---|---|---|---|');
const result: Record<string, unknown> = {};
for (const phase of ['full', 'incremental', 'no-change', 'no-change-warm', 'no-change-kept'] as Phase[]) {
  const v = median(times[phase]['btrfs-vault']);
  const r = median(times[phase].raw);
  const b = median(times[phase].btrbk);
  const digits = phase.startsWith('no-change') ? 3 : 2;
  console.log(
    `| ${phase} | ${v.toFixed(digits)} | ${r.toFixed(digits)} | ${b.toFixed(digits)} | ${(r / v).toFixed(3)} | ${(b / v).toFixed(3)} |`,
  );
  result[phase] = { vault: v, raw: r, btrbk: b, ratioToRaw: r / v, ratioToBtrbk: b / v };
}
console.log(
  '\nthe send|receive alone (btrfs-vault: its own transfer time, with progress and the check of the received copy; raw: the pipeline):',
);
console.log('| phase | btrfs-vault | raw | vault throughput / raw |');
console.log('|---|---|---|---|');
for (const phase of ['full', 'incremental'] as const) {
  const v = median(transfers[phase].vault);
  const r = median(transfers[phase].raw);
  console.log(`| ${phase} | ${v.toFixed(2)} | ${r.toFixed(2)} | ${(r / v).toFixed(3)} |`);
  result[`${phase}-transfer`] = { vault: v, raw: r, ratioToRaw: r / v };
}
console.log('\nrestore (the backup disk to a filesystem of its own), end to end:');
console.log('| phase | btrfs-vault | raw send/receive | vault speed / raw |');
console.log('|---|---|---|---|');
for (const phase of ['full', 'incremental'] as const) {
  if (restoreTimes[phase].vault.length === 0) continue;
  const v = median(restoreTimes[phase].vault);
  const r = median(restoreTimes[phase].raw);
  console.log(`| ${phase} | ${v.toFixed(2)} | ${r.toFixed(2)} | ${(r / v).toFixed(3)} |`);
  result[`restore-${phase}`] = { vault: v, raw: r, ratioToRaw: r / v };
}
console.log(
  `\npeak memory (largest resident set of the process over all runs, the ${mib(total)} MiB full transfers included): btrfs-vault ${(peakRss['btrfs-vault'] / 1024).toFixed(0)} MiB, btrbk ${(peakRss.btrbk / 1024).toFixed(0)} MiB (the stream never passes through either)`,
);
result.peakRssKiB = peakRss;
console.log(
  `\nno change, warm, btrfs-vault --force (a snapshot and a transfer, as raw and btrbk make): ${median(forcedWarm).toFixed(3)} s`,
);
result['no-change-warm-forced'] = { vault: median(forcedWarm) };

// Retention at scale: PAIRS snapshot pairs (made with plain btrfs commands, names an hour
// apart), then a no-change run with all of them kept, and prune deleting all but a few
// against the same paths deleted with one plain `btrfs subvolume delete`.
const PAIRS = Number(process.env.BENCH_PAIRS ?? 1000);
for (const t of TOOLS) resetTool(t);
const fabricate = (tool: 'btrfs-vault' | 'raw') => {
  const names: string[] = [];
  let parent: string | undefined;
  const start = Date.now() - (PAIRS + 2) * 3_600_000;
  for (let i = 0; i < PAIRS; i++) {
    const name = new Date(start + i * 3_600_000).toISOString().slice(0, 19).replace('T', '_').replaceAll(':', '-');
    const snap = join(dirs[tool].snaps, name);
    sh('btrfs', ['-q', 'subvolume', 'snapshot', '-r', data, snap]);
    execFileSync('bash', [
      '-c',
      'btrfs send -q ${2:+-p "$2"} "$1" | btrfs receive -q "$3"',
      'bash',
      snap,
      parent ?? '',
      dirs[tool].target,
    ]);
    parent = snap;
    names.push(name);
  }
  return names;
};
const vaultNames = fabricate('btrfs-vault');
for (const d of [dirs['btrfs-vault'].snaps, dirs['btrfs-vault'].target])
  sh('ln', ['-sfn', vaultNames.at(-1)!, join(d, 'latest')]);
const keptRun: number[] = [];
for (let w = 0; w < WARM_RUNS; w++) keptRun.push(timed(() => runTool('btrfs-vault'), false));
const keptForced: number[] = [];
for (let w = 0; w < WARM_RUNS; w++) keptForced.push(timed(() => runTool('btrfs-vault', true), false));
console.log(
  `\nwith ${PAIRS} snapshot pairs kept: a no-change run ${median(keptRun).toFixed(3)} s, forced (snapshot and transfer) ${median(keptForced).toFixed(3)} s`,
);
// files: one path through all PAIRS backups (one lstat each)
const filesTimes: number[] = [];
for (let w = 0; w < WARM_RUNS; w++) {
  filesTimes.push(
    timed(
      () =>
        execFileSync('node', [BIN, 'files', 'data', 'd0/f1', '--json', '--config', join(etc, 'config.toml')], {
          stdio: 'ignore',
        }),
      false,
    ),
  );
}
console.log(`files: one path through ${PAIRS} backups: ${median(filesTimes).toFixed(3)} s (target: under 2 s)`);
result.files = { backups: PAIRS, seconds: median(filesTimes) };
writeFileSync(
  join(etc, 'config.toml'),
  `${readFileSync(join(etc, 'config.toml'), 'utf8')}\n[retention.source]\nkeep_last = 2\ndaily = 0\n[retention.target]\nkeep_last = 2\nhourly = 0\ndaily = 0\nweekly = 0\nmonthly = 0\n`,
);
const pruneTime = timed(
  () => execFileSync('node', [BIN, 'prune', '--config', join(etc, 'config.toml')], { stdio: 'ignore' }),
  false,
);
const rawNames = fabricate('raw');
const rawPrune = timed(() => {
  for (const side of [dirs.raw.target, dirs.raw.snaps])
    execFileSync('btrfs', ['subvolume', 'delete', ...rawNames.slice(0, -2).map((n) => join(side, n))], {
      stdio: 'ignore',
    });
}, false);
console.log(
  `prune of ${PAIRS} pairs down to 2: btrfs-vault ${pruneTime.toFixed(2)} s, plain btrfs subvolume delete of the same ${2 * (PAIRS - 2)} subvolumes ${rawPrune.toFixed(2)} s (ratio ${(rawPrune / pruneTime).toFixed(3)})`,
);
result.kept1000 = {
  pairs: PAIRS,
  noChange: median(keptRun),
  forced: median(keptForced),
  prune: pruneTime,
  rawDelete: rawPrune,
};

// Compressed send: compressible data (logs) on filesystems mounted with compress=zstd;
// btrfs-vault (which sends compressed extents as they are) against raw send with
// protocol 1 (decompressed on the way) and raw send --compressed-data
const LOG_MIB = Number(process.env.BENCH_LOG_MIB ?? 400);
for (const m of [src.mountPoint, dst.mountPoint]) sh('mount', ['-o', 'remount,compress=zstd', m]);
const logs = join(src.mountPoint, 'logs');
sh('btrfs', ['subvolume', 'create', logs]);
{
  const line = (i: number) =>
    `2026-11-27T12:00:${String(i % 60).padStart(2, '0')} host app[${i % 977}]: request ${i} served in ${i % 311} ms, status 200, bytes ${(i * 7) % 65536}\n`;
  const chunk = Array.from({ length: 20000 }, (_, i) => line(i)).join('');
  const fd = openSync(join(logs, 'app.log'), 'w');
  for (let written = 0; written < LOG_MIB * 1024 * 1024; written += chunk.length) writeSync(fd, chunk);
  closeSync(fd);
}
sh('sync', []);
const logsConfig = join(etc, 'logs.toml');
writeFileSync(
  logsConfig,
  `host = "bench"\nsources = [{ path = "${logs}", name = "logs" }]\nsnapshot_dir = "${join(src.mountPoint, 'vault-snaps')}"\n[target]\nmountpoint = "${dst.mountPoint}"\n`,
);
const rawLogs = join(src.mountPoint, 'raw-logs-snap');
sh('btrfs', ['-q', 'subvolume', 'snapshot', '-r', logs, rawLogs]);
const compressedRuns: Record<'vault' | 'raw1' | 'raw2', { seconds: number; bytes: number }[]> = {
  vault: [],
  raw1: [],
  raw2: [],
};
for (let rep = 0; rep < REPS; rep++) {
  for (const d of [
    join(dst.mountPoint, 'logs'),
    join(src.mountPoint, 'vault-snaps', 'logs'),
    join(dst.mountPoint, 'raw-logs'),
  ]) {
    mkdirSync(d, { recursive: true });
    for (const n of sh('ls', ['-A', d]).split('\n').filter(Boolean)) {
      try {
        sh('btrfs', ['subvolume', 'delete', join(d, n)]);
      } catch {
        rmSync(join(d, n), { force: true });
      }
    }
  }
  sh('btrfs', ['subvolume', 'sync', dst.mountPoint]);
  let out = '';
  const tv = timed(
    () => (out = execFileSync('node', [BIN, 'backup', '--json', '--config', logsConfig], { encoding: 'utf8' })),
  );
  compressedRuns.vault.push({ seconds: tv, bytes: JSON.parse(out).sources[0].bytes });
  for (const [key, flags] of [
    ['raw1', ['--proto', '1']],
    ['raw2', ['--compressed-data']],
  ] as const) {
    const target = join(dst.mountPoint, 'raw-logs');
    for (const n of sh('ls', ['-A', target]).split('\n').filter(Boolean))
      sh('btrfs', ['subvolume', 'delete', join(target, n)]);
    let bytes = 0;
    const t = timed(() => {
      bytes = Number(
        execFileSync(
          'bash',
          [
            '-c',
            `set -o pipefail; btrfs send -q ${flags.join(' ')} ${rawLogs} | tee >(btrfs receive -q ${target}) | wc -c`,
          ],
          { encoding: 'utf8' },
        ).trim(),
      );
    });
    compressedRuns[key].push({ seconds: t, bytes });
  }
}
const med = (xs: { seconds: number; bytes: number }[]) => ({
  seconds: median(xs.map((x) => x.seconds)),
  bytes: median(xs.map((x) => x.bytes)),
});
const cv = med(compressedRuns.vault);
const c1 = med(compressedRuns.raw1);
const c2 = med(compressedRuns.raw2);
console.log(`\ncompressed send: ${LOG_MIB} MiB of logs, compress=zstd on both sides, full backup, medians of ${REPS}:`);
console.log('| | btrfs-vault | raw, protocol 1 | raw, --compressed-data | vault vs protocol 1 |');
console.log('|---|---|---|---|---|');
console.log(
  `| bytes sent | ${mib(cv.bytes)} MiB | ${mib(c1.bytes)} MiB | ${mib(c2.bytes)} MiB | ${(c1.bytes / cv.bytes).toFixed(1)}× smaller |`,
);
console.log(
  `| seconds | ${cv.seconds.toFixed(2)} | ${c1.seconds.toFixed(2)} | ${c2.seconds.toFixed(2)} | ${(c1.seconds / cv.seconds).toFixed(2)}× faster |`,
);
result.compressed = { vault: cv, raw1: c1, raw2: c2 };

// Memory and two disks: their own filesystems, made once these are gone (the disk holds the large copies)
cleanup();
const twoDisks = twoDisksPhase(BIN, REPS, TWO_DISKS_MIB);
for (const line of twoDisksLines(twoDisks)) console.log(line);
result.twoDisks = twoDisks;
if (MEMORY_GIB > 0) result.memory = memoryPhase(MEMORY_GIB, BIN);
if (SSH_MIB > 0) result.ssh = await sshPhase(SSH_MIB, BIN);

writeFileSync(RESULT_FILE, JSON.stringify({ totalBytes: total, reps: REPS, result, times, transfers }, null, 2));
