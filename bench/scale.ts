// npm run bench:scale: how btrfs-vault scales with sources and history. btrfs-vault and btrbk 0.32 on the same
// layout (N sources, S snapshot pairs each, on filesystems of their own per tool):
// a no-change run with a short and with a long history, the programs each run starts,
// `list` with thousands of pairs, and where a no-change run's fixed cost goes. Not a test:
// it prints. Sizes from the environment (the full size, 50 sources × 2,000 pairs, is the default).
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../test/support/loop-disk.js';
import { sh } from '../test/support/sh.js';
import { tempDir } from '../test/support/scratch.js';

const N = Number(process.env.SCALE_SOURCES ?? 50);
const S = Number(process.env.SCALE_SNAPSHOTS ?? 2000);
const BASE = Number(process.env.SCALE_BASE ?? 10);
const LIST_PAIRS = Number(process.env.SCALE_LIST_PAIRS ?? 3000);
const RUNS = Number(process.env.SCALE_RUNS ?? 5);
/** fabrication pipelines at once: concurrent snapshots and receives share transaction commits */
const JOBS = Number(process.env.SCALE_JOBS ?? 4);
/** another build to interleave with this one in the runs, no-change and forced (before/after a change) */
const OTHER = process.env.SCALE_COMPARE;
/** SCALE_FORCED=0: no forced rounds (btrfs-vault --force, btrbk always: most of the bench's time at large sizes) */
const FORCED = process.env.SCALE_FORCED !== '0';
/** SCALE_TOOLS=vault: btrfs-vault alone (btrbk's history takes longer to make than ours) */
const BTRBK = (process.env.SCALE_TOOLS ?? 'vault,btrbk').split(',').includes('btrbk');
/**
 * SCALE_KEEP=1: once the long history is measured, keep its filesystems mounted (for
 * profiling), print their configs and a cleanup command, and wait: SIGUSR1 measures the
 * no-change runs again (a rebuilt bin/ and SCALE_COMPARE's build), SIGINT/SIGTERM cleans up.
 * `list` is not measured then.
 */
const KEEP = process.env.SCALE_KEEP === '1';
const BIN = join(process.cwd(), 'bin', 'btrfs-vault.js');
const run = promisify(execFile);

requireRoot();
const dir = tempDir('scale');
const disks: LoopFs[] = [];
/** the fabrication pipelines running (each its own process group): stopped before the filesystems go */
const pipelines = new Set<number>();
process.on('exit', () => {
  for (const pgid of pipelines) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* ended */
    }
  }
  if (pipelines.size > 0) execFileSync('sleep', ['1']); // their btrfs processes let go of the mounts
  let left = 0;
  for (const d of disks.reverse()) {
    try {
      d.dispose();
    } catch {
      left++; // still mounted: its files must not go with the folder
    }
  }
  if (left === 0) rmSync(dir, { recursive: true, force: true });
  else console.error(`scale: ${left} filesystem(s) under ${dir} could not be unmounted; left as they are`);
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
const disk = (name: string) => {
  // sparse; a received pair costs ~100 KiB of metadata (DUP) over both filesystems
  const d = makeLoopBtrfs(dir, name, 65536);
  disks.push(d);
  return d;
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
function timed(fn: () => void): number {
  sh('sync', []);
  const t = process.hrtime.bigint();
  fn();
  sh('sync', []);
  return Number(process.hrtime.bigint() - t) / 1e9;
}
const quiet = (file: string, args: string[]) => execFileSync(file, args, { stdio: 'ignore', maxBuffer: 1 << 28 });

/** Names an hour apart, going back from the hour before the first real run. */
const t0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
const hoursAgo = (k: number) => new Date(t0 - k * 3_600_000);
const vaultName = (d: Date) => d.toISOString().slice(0, 19).replace('T', '_').replaceAll(':', '-');
const btrbkName = (sub: string, d: Date) =>
  `${sub}.${d.toISOString().slice(0, 19).replaceAll('-', '').replaceAll(':', '')}+0000`;

type Tool = 'vault' | 'btrbk';
interface Layout {
  tool: Tool;
  src: LoopFs;
  dst: LoopFs;
  subs: string[];
  snapDir(i: number): string;
  targetDir(i: number): string;
  name(i: number, when: Date): string;
  /** pairs per source made so far (the real runs' included) */
  pairs: number;
  /** the untimed fabricated pairs, seconds and count */
  fabricated: { seconds: number; pairs: number }[];
  /** one real default run of the tool */
  settle(): void;
}

// One pipeline per source: read-only snapshots in a shell loop (one `btrfs` each, no
// sync between), then one `btrfs send -p` of many of them at once (each unchanged
// against the parent, so each stream is a few hundred bytes) into one `btrfs receive`:
// real received subvolumes, each with its snapshot's UUID as received UUID.
const FABRICATE = [
  'set -euo pipefail',
  'sub=$1 snaps=$2 target=$3 parent=$4 names=$5',
  'while IFS= read -r n; do btrfs -q subvolume snapshot -r "$sub" "$snaps/$n" >/dev/null; done < "$names"',
  'mapfile -t all < "$names"',
  'for ((i = 0; i < ${#all[@]}; i += 500)); do',
  '  chunk=("${all[@]:i:500}")',
  '  btrfs send -q -p "$parent" "${chunk[@]/#/$snaps/}" | btrfs receive -q "$target" >/dev/null',
  'done',
].join('\n');

async function fabricate(l: Layout, upTo: number): Promise<void> {
  const count = upTo - 1 - l.pairs;
  if (count <= 0) return;
  // no cache flushes while fabricating (measured 1.4× faster here); every timed run is with them again
  const barrier = (on: boolean) => {
    for (const fs of [l.src, l.dst]) sh('mount', ['-o', `remount,${on ? 'barrier' : 'nobarrier'}`, fs.mountPoint]);
  };
  barrier(false);
  const start = process.hrtime.bigint();
  const queue = l.subs.map((sub, i) => async () => {
    const names = Array.from({ length: count }, (_, k) => l.name(i, hoursAgo(l.pairs + k)));
    const file = join(dir, `names-${l.tool}-${i}`);
    writeFileSync(file, `${names.join('\n')}\n`);
    // its own session (setsid execs in place: the pid is the process group's), so the exit handler can stop it whole
    const pipeline = run(
      'setsid',
      ['bash', '-c', FABRICATE, 'bash', sub, l.snapDir(i), l.targetDir(i), newestOf(l, i), file],
      { maxBuffer: 1 << 26 },
    );
    const pid = pipeline.child.pid!;
    pipelines.add(pid);
    await pipeline.finally(() => pipelines.delete(pid));
  });
  await pool(queue, JOBS);
  sh('sync', []);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  barrier(true);
  l.fabricated.push({ seconds, pairs: count * l.subs.length });
  console.log(
    `${l.tool}: fabricated ${count * l.subs.length} pairs (${count} per source) in ${seconds.toFixed(1)} s, ${((count * l.subs.length) / seconds).toFixed(1)} pairs/s`,
  );
  // a snapshot moves its source's generation, so each source now looks changed since its
  // newest snapshot: one real run makes a last pair, and the next runs have nothing to do
  l.settle();
  l.pairs = upTo;
}

async function pool(jobs: (() => Promise<void>)[], width: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, jobs.length) }, async () => {
      while (next < jobs.length) await jobs[next++]!();
    }),
  );
}

/** The newest snapshot of source i that the real runs made (the parent of every fabricated send). */
function newestOf(l: Layout, i: number): string {
  if (l.tool === 'vault') return join(l.snapDir(i), readlinkSync(join(l.snapDir(i), 'latest')));
  const mine = readdirSync(l.snapDir(i))
    .filter((n) => n.startsWith(`${l.subs[i]!.split('/').at(-1)}.`))
    .sort();
  return join(l.snapDir(i), mine.at(-1)!);
}

function makeSources(fs: LoopFs, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const p = join(fs.mountPoint, `s${i}`);
    sh('btrfs', ['-q', 'subvolume', 'create', p]);
    writeFileSync(join(p, 'file'), randomBytes(4096));
    return p;
  });
}

function vaultLayout(
  tag: string,
  count: number,
): Layout & { config: string; retention: string; proven: string; config1: string } {
  const src = disk(`${tag}-src`);
  const dst = disk(`${tag}-dst`);
  const subs = makeSources(src, count);
  const etc = join(dir, `${tag}-etc`);
  mkdirSync(etc, { mode: 0o700 });
  const token = randomBytes(64);
  writeFileSync(join(dst.mountPoint, '.token'), token);
  writeFileSync(
    join(etc, 'token.sha512'),
    `${createHash('sha512').update(token).digest('hex')}  ${join(dst.mountPoint, '.token')}\n`,
    { mode: 0o600 },
  );
  const conf = (list: string[]) =>
    `host = "bench"\nsources = [\n${list.map((p) => `  { path = "${p}", name = "${p.split('/').at(-1)}" },`).join('\n')}\n]\n` +
    `snapshot_dir = "${join(src.mountPoint, 'snaps')}"\n[target]\nmountpoint = "${dst.mountPoint}"\n`;
  writeFileSync(join(etc, 'config.toml'), conf(subs));
  // retention that keeps the whole fabricated history (names an hour apart). The real
  // runs here put two snapshots in one hour, kept on the source by keep_last, which names
  // cannot prove (it counts by creation): such a run lists and plans. With the source's
  // keep_last "all", the names prove it for both sides and nothing is listed.
  const keepAll = `hourly = ${S + 100}\n`;
  writeFileSync(
    join(etc, 'retention.toml'),
    `${conf(subs)}[retention.source]\n${keepAll}[retention.target]\n${keepAll}`,
  );
  writeFileSync(
    join(etc, 'proven.toml'),
    `${conf(subs)}[retention.source]\nkeep_last = "all"\n${keepAll}[retention.target]\n${keepAll}`,
  );
  writeFileSync(join(etc, 'one.toml'), conf(subs.slice(0, 1)));
  const l = {
    tool: 'vault' as const,
    src,
    dst,
    subs,
    snapDir: (i: number) => join(src.mountPoint, 'snaps', `s${i}`),
    targetDir: (i: number) => join(dst.mountPoint, `s${i}`),
    name: (_i: number, d: Date) => vaultName(d),
    pairs: 0,
    fabricated: [],
    config: join(etc, 'config.toml'),
    retention: join(etc, 'retention.toml'),
    proven: join(etc, 'proven.toml'),
    config1: join(etc, 'one.toml'),
    settle: () => quiet('node', [BIN, 'backup', '--config', join(etc, 'config.toml')]),
  };
  l.settle();
  l.pairs = 1;
  return l;
}

function btrbkLayout(tag: string, count: number): Layout & { onchange: string; always: string } {
  const src = disk(`${tag}-src`);
  const dst = disk(`${tag}-dst`);
  const subs = makeSources(src, count);
  mkdirSync(join(src.mountPoint, 'btrbk-snaps'));
  mkdirSync(join(dst.mountPoint, 'btrbk'));
  const conf = (create: string) =>
    `timestamp_format long-iso\nsnapshot_preserve_min all\ntarget_preserve_min all\nsnapshot_create ${create}\nlockfile ${join(dir, `${tag}.lock`)}\n` +
    `volume ${src.mountPoint}\n  snapshot_dir btrbk-snaps\n  target ${join(dst.mountPoint, 'btrbk')}\n${subs.map((p) => `  subvolume ${p.split('/').at(-1)}\n`).join('')}`;
  writeFileSync(join(dir, `${tag}-always.conf`), conf('always'));
  writeFileSync(join(dir, `${tag}-onchange.conf`), conf('onchange'));
  const l = {
    tool: 'btrbk' as const,
    src,
    dst,
    subs,
    snapDir: () => join(src.mountPoint, 'btrbk-snaps'),
    targetDir: () => join(dst.mountPoint, 'btrbk'),
    name: (i: number, d: Date) => btrbkName(`s${i}`, d),
    pairs: 0,
    fabricated: [],
    always: join(dir, `${tag}-always.conf`),
    onchange: join(dir, `${tag}-onchange.conf`),
    settle: () => quiet('btrbk', ['-c', join(dir, `${tag}-onchange.conf`), '-q', 'run']),
  };
  l.settle();
  l.pairs = 1;
  return l;
}

const subvolumeCount = (m: string) =>
  execFileSync('btrfs', ['subvolume', 'list', m], { encoding: 'utf8', maxBuffer: 1 << 28 })
    .split('\n')
    .filter(Boolean).length;

/** What one listing of a filesystem costs: btrfs-vault's own listing commands, medians. */
function listingCost(fs: LoopFs, readonly: boolean): number {
  const args = ['subvolume', 'list', ...(readonly ? ['-r'] : []), '-a', '-c', '-u', '-q', '-R', fs.mountPoint];
  return median(
    Array.from({ length: 3 }, () =>
      timed(() => execFileSync('btrfs', args, { stdio: ['ignore', 'ignore', 'ignore'] })),
    ),
  );
}

type Variant =
  | 'vault'
  | 'vault, retention'
  | 'vault, retention by names'
  | 'vault --force'
  | 'vault (other build)'
  | 'vault, retention (other build)'
  | 'vault, retention by names (other build)'
  | 'vault --force (other build)'
  | 'btrbk onchange'
  | 'btrbk always';
function runVariant(v: Variant, vault: ReturnType<typeof vaultLayout>, btrbk?: ReturnType<typeof btrbkLayout>): void {
  const bin = v.endsWith('(other build)') ? OTHER! : BIN;
  if (v.startsWith('btrbk'))
    quiet('btrbk', ['-c', v === 'btrbk onchange' ? btrbk!.onchange : btrbk!.always, '-q', 'run']);
  else if (v.startsWith('vault --force')) quiet('node', [bin, 'backup', '--force', '--config', vault.config]);
  else if (v.startsWith('vault, retention by names')) quiet('node', [bin, 'backup', '--config', vault.proven]);
  else if (v.startsWith('vault, retention')) quiet('node', [bin, 'backup', '--config', vault.retention]);
  else quiet('node', [bin, 'backup', '--config', vault.config]);
}

/** No-change runs, interleaved: the default ones first, then those that make a snapshot each. */
function noChange(
  vault: ReturnType<typeof vaultLayout>,
  btrbk: ReturnType<typeof btrbkLayout> | undefined,
  forced = FORCED,
): Partial<Record<Variant, number>> {
  const times: Partial<Record<Variant, number[]>> = {};
  const rounds = (variants: Variant[]) => {
    for (let r = 0; r < RUNS; r++) {
      for (const v of variants.map((_, i) => variants[(i + r) % variants.length]!))
        (times[v] ??= []).push(timed(() => runVariant(v, vault, btrbk)));
    }
  };
  const other = (vs: Variant[]) => (OTHER ? vs : []);
  rounds([
    'vault',
    'vault, retention',
    'vault, retention by names',
    ...(btrbk ? ['btrbk onchange' as const] : []),
    ...other(['vault (other build)', 'vault, retention (other build)', 'vault, retention by names (other build)']),
  ]);
  if (forced)
    rounds(['vault --force', ...(btrbk ? ['btrbk always' as const] : []), ...other(['vault --force (other build)'])]);
  return Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, median(xs)]));
}

/** The programs a command starts (strace), counted by what they are. */
function programsOf(file: string, args: string[]): Map<string, number> {
  // one trace file per process (-ff): the lines of programs running at once never interleave
  const traces = join(dir, `strace-${Date.now()}`);
  mkdirSync(traces);
  execFileSync(
    'strace',
    ['-ff', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-o', join(traces, 't'), file, ...args],
    { stdio: 'ignore' },
  );
  const counts = new Map<string, number>();
  for (const line of readdirSync(traces).flatMap((f) => readFileSync(join(traces, f), 'utf8').split('\n'))) {
    const m = /execve\("[^"]*", \[(.*?)\]/.exec(line);
    if (!m || !/= 0$/.test(line)) continue;
    const argv = [...m[1]!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]!);
    const key = argv[0]!.endsWith('btrfs')
      ? `btrfs ${argv
          .slice(1)
          .filter((a) => !a.startsWith('-') && !a.startsWith('/'))
          .slice(0, 2)
          .join(' ')}${argv.includes('-r') ? ' -r' : ''}`
      : argv[0]!.split('/').at(-1)!;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
const countsText = (c: Map<string, number>) =>
  [...c]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ×${v}`)
    .join(', ');

/**
 * One run's programs on a time line (strace -ttt), ms from the start of node. A process
 * that execs a chain (the lock: setpriv, then one flock per lock, then cat) is one row,
 * with the time its last program started (for the lock: when it holds every lock).
 */
function timeline(args: string[]): { program: string; start: number; last: number; end: number }[] {
  const out = join(dir, 'timeline.out');
  execFileSync(
    'strace',
    [
      '-f',
      '-q',
      '-ttt',
      '--seccomp-bpf',
      '-e',
      'trace=execve,exit_group',
      '-e',
      'signal=none',
      '-o',
      out,
      'node',
      BIN,
      ...args,
    ],
    { stdio: 'ignore' },
  );
  const procs = new Map<string, { chain: string[]; program: string; start: number; last: number; end: number }>();
  let zero = NaN;
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const m = /^(\d+) +([\d.]+) (.*)$/.exec(line);
    if (!m) continue;
    const [pid, t, rest] = [m[1]!, Number(m[2]) * 1000, m[3]!];
    if (Number.isNaN(zero)) zero = t;
    const exec = /^execve\("[^"]*", \[(.*?)\]/.exec(rest);
    if (exec && rest.endsWith('= 0')) {
      const argv = [...exec[1]!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]!);
      const p = procs.get(pid) ?? { chain: [], program: '', start: t - zero, last: t - zero, end: NaN };
      p.chain.push(argv[0]!.split('/').at(-1)!);
      p.last = t - zero;
      p.program = argv
        .map((a) => (a.startsWith(dir) ? '…' : a))
        .join(' ')
        .slice(0, 60);
      procs.set(pid, p);
    } else if (/^\+\+\+ (exited|killed)/.test(rest) && procs.has(pid)) procs.get(pid)!.end = t - zero;
  }
  return [...procs.values()]
    .sort((a, b) => a.start - b.start)
    .map(({ chain, program, start, last, end }) => {
      const counts = [...new Set(chain)].map(
        (c) => `${c}${chain.filter((x) => x === c).length > 1 ? ` ×${chain.filter((x) => x === c).length}` : ''}`,
      );
      return {
        program: chain.length > 1 ? `${counts.join(' → ')} (the last from ${last.toFixed(0)} ms)` : program,
        start,
        last,
        end,
      };
    });
}

// ---------------------------------------------------------------------------------------
console.log(
  `scale: ${N} sources, ${BASE} then ${S} snapshot pairs each, per tool on filesystems of its own; ${RUNS} warm runs each, interleaved, medians`,
);
const vault = vaultLayout('vault', N);
const btrbk = BTRBK ? btrbkLayout('btrbk', N) : undefined;
const layouts = btrbk ? [vault, btrbk] : [vault];
const result: Record<string, unknown> = { sources: N, base: BASE, snapshots: S };

for (const l of layouts) await fabricate(l, BASE);

// 3. the fixed cost, at the short history: the programs of one no-change run on a time line
const startup = {
  nodeStart: median(Array.from({ length: 11 }, () => timed(() => quiet('node', ['-e', '0'])))),
  help: median(Array.from({ length: 11 }, () => timed(() => quiet('node', [BIN, '--version'])))),
};
console.log(`\nfixed cost: node -e 0 ${ms(startup.nodeStart)}, btrfs-vault --version ${ms(startup.help)}`);
const fixed: Record<string, unknown> = { ...startup };
for (const [label, config] of [
  ['1 source', vault.config1],
  [`${N} sources`, vault.config],
] as const) {
  const runs: number[] = [];
  const other: number[] = [];
  for (let r = 0; r < 2 * RUNS + 1; r++) {
    runs.push(timed(() => quiet('node', [BIN, 'backup', '--config', config])));
    if (OTHER) other.push(timed(() => quiet('node', [OTHER, 'backup', '--config', config])));
  }
  const line = timeline(['backup', '--config', config]);
  const end = line[0]!.end; // node's own
  const vs = OTHER ? `, the other build ${ms(median(other))} (interleaved)` : '';
  console.log(
    `\n${label}: no-change run ${ms(median(runs))} (median of ${runs.length})${vs}; one run under strace, ms from node's start:`,
  );
  for (const p of line)
    console.log(
      `  ${p.start.toFixed(0).padStart(5)} → ${p.end.toFixed(0).padStart(5)}  (${(p.end - p.start).toFixed(0).padStart(4)} ms)  ${p.program}`,
    );
  console.log(`  (node exits at ${end.toFixed(0)} ms)`);
  fixed[label] = { seconds: median(runs), other: OTHER ? median(other) : undefined, timeline: line };
}
result.fixed = fixed;

// 1. flat in history: no-change runs with BASE pairs, then with S pairs
const flat: Record<string, unknown> = {};
for (const size of [BASE, S]) {
  for (const l of layouts) await fabricate(l, size);
  const subvolumes = {
    vault: [subvolumeCount(vault.src.mountPoint), subvolumeCount(vault.dst.mountPoint)],
    btrbk: btrbk ? [subvolumeCount(btrbk.src.mountPoint), subvolumeCount(btrbk.dst.mountPoint)] : [],
  };
  const listing = {
    source: listingCost(vault.src, false),
    target: listingCost(vault.dst, false),
    targetReadonly: listingCost(vault.dst, true),
  };
  const t = noChange(vault, btrbk);
  flat[size] = { subvolumes, listing, times: t };
  console.log(
    `\n${size} pairs per source (btrfs-vault: ${subvolumes.vault.join(' / ')} subvolumes on source / target${btrbk ? `; btrbk: ${subvolumes.btrbk.join(' / ')}` : ''}): ` +
      `one listing of the source ${ms(listing.source)}, of the target ${ms(listing.target)} (read-only ones: ${ms(listing.targetReadonly)})`,
  );
  for (const [k, v] of Object.entries(t)) console.log(`  ${k}: ${v.toFixed(3)} s`);
}
result.flat = flat;

// what each run starts, at the long history
const programs = {
  vault: countsText(programsOf('node', [BIN, 'backup', '--config', vault.config])),
  vaultForce: countsText(programsOf('node', [BIN, 'backup', '--force', '--config', vault.config])),
  btrbkOnchange: btrbk ? countsText(programsOf('btrbk', ['-c', btrbk.onchange, '-q', 'run'])) : undefined,
};
console.log(
  `\nprograms of one run (${S} pairs per source, ${N} sources):\n  btrfs-vault: ${programs.vault}\n  btrfs-vault --force: ${programs.vaultForce}${btrbk ? `\n  btrbk onchange: ${programs.btrbkOnchange}` : ''}`,
);
result.programs = programs;

// the tables
const f = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(3));
const at = (size: number) => (flat[size] as { times: Partial<Record<Variant, number>> }).times;
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? '–' : (a / b).toFixed(2);
console.log(
  `\nbtrfs-vault scale benchmark: ${N} sources, no-change runs, warm, medians of ${RUNS} (seconds); ratios > 1: btrfs-vault faster`,
);
console.log(
  `| run | vault, ${BASE} pairs | vault, ${S} pairs | ${S} / ${BASE} | btrbk, ${S} pairs | btrbk / vault at ${S} |`,
);
console.log('|---|---|---|---|---|---|');
for (const [v, b] of [
  ['vault', 'btrbk onchange'],
  ['vault, retention', 'btrbk onchange'],
  ['vault, retention by names', 'btrbk onchange'],
  ...(FORCED ? [['vault --force', 'btrbk always'] as const] : []),
] as const) {
  console.log(
    `| ${v} vs ${b} | ${f(at(BASE)[v])} | ${f(at(S)[v])} | ${ratio(at(S)[v], at(BASE)[v])} | ${f(at(S)[b])} | ${ratio(at(S)[b], at(S)[v])} |`,
  );
}
console.log(
  `(btrbk at ${BASE} pairs: onchange ${f(at(BASE)['btrbk onchange'])} s${FORCED ? `, always ${f(at(BASE)['btrbk always'])} s` : ''})`,
);
if (OTHER) {
  console.log(
    `the other build (${OTHER}), no-change: ${f(at(BASE)['vault (other build)'])} s at ${BASE} pairs, ${f(at(S)['vault (other build)'])} s at ${S} pairs; with retention ${f(at(BASE)['vault, retention (other build)'])} s and ${f(at(S)['vault, retention (other build)'])} s, by names ${f(at(BASE)['vault, retention by names (other build)'])} s and ${f(at(S)['vault, retention by names (other build)'])} s`,
  );
  if (FORCED)
    console.log(
      `the other build, --force: ${f(at(BASE)['vault --force (other build)'])} s at ${BASE} pairs, ${f(at(S)['vault --force (other build)'])} s at ${S} pairs`,
    );
}
const fab = layouts.flatMap((l) => l.fabricated);
const rate = fab.reduce((a, x) => a + x.pairs, 0) / fab.reduce((a, x) => a + x.seconds, 0);
console.log(
  `fabrication: ${rate.toFixed(1)} pairs/s over ${fab.reduce((a, x) => a + x.pairs, 0)} pairs; 50 × 2,000 for both tools (200,000 pairs) would take ~${(200000 / rate / 60).toFixed(0)} min`,
);
result.fabricationPairsPerSecond = rate;
writeFileSync(join(process.cwd(), 'dist', 'scale-result.json'), JSON.stringify(result, null, 2));

// kept for profiling: measured again on SIGUSR1, cleaned up on SIGINT/SIGTERM
if (KEEP) await keepForProfiling();
async function keepForProfiling(): Promise<void> {
  console.log(
    `\nkept (SCALE_KEEP=1): ${S} pairs per source\n  btrfs-vault backup --config ${vault.config}   (with [retention]: ${vault.retention}, ${vault.proven})` +
      `\n  measure again (bin/ as built now${OTHER ? ', and the other build' : ''}): kill -USR1 ${process.pid}` +
      `\n  clean up: kill ${process.pid}   (if it is gone: ${disks.map((d) => `umount ${d.mountPoint}; losetup -d ${d.device}`).join('; ')}; rm -rf ${dir})`,
  );
  process.on('SIGUSR1', () => {
    const t = noChange(vault, btrbk, false);
    console.log(
      `\nagain at ${S} pairs (${new Date().toISOString()}, load ${readFileSync('/proc/loadavg', 'utf8').trim()}):`,
    );
    for (const [k, v] of Object.entries(t)) console.log(`  ${k}: ${v.toFixed(3)} s`);
  });
  // until a signal ends the process (the timer keeps Node from ending with nothing to wait for)
  setInterval(() => {}, 1 << 30);
  await new Promise(() => {});
}

// 2. list with LIST_PAIRS pairs of one source
for (const d of disks.splice(0)) d.dispose();
const vaultList = vaultLayout('list-vault', 1);
const btrbkList = BTRBK ? btrbkLayout('list-btrbk', 1) : undefined;
for (const l of btrbkList ? [vaultList, btrbkList] : [vaultList]) await fabricate(l, LIST_PAIRS);
const listTimes: Record<'list' | 'list --json' | 'btrbk list all', number[]> = {
  list: [],
  'list --json': [],
  'btrbk list all': [],
};
for (let r = 0; r < RUNS; r++) {
  listTimes.list.push(timed(() => quiet('node', [BIN, 'list', '--config', vaultList.config])));
  listTimes['list --json'].push(timed(() => quiet('node', [BIN, 'list', '--json', '--config', vaultList.config])));
  if (btrbkList) listTimes['btrbk list all'].push(timed(() => quiet('btrbk', ['-c', btrbkList.always, 'list', 'all'])));
}
const listed = JSON.parse(
  execFileSync('node', [BIN, 'list', '--json', '--config', vaultList.config], { encoding: 'utf8', maxBuffer: 1 << 28 }),
) as { sources: { snapshots: { paired: boolean }[] }[] };
const pairsListed = listed.sources[0]!.snapshots.filter((s) => s.paired).length;
const listPrograms = countsText(programsOf('node', [BIN, 'list', '--config', vaultList.config]));
console.log(`\nlist, ${pairsListed} pairs of one source listed (programs: ${listPrograms}):`);
for (const [k, xs] of Object.entries(listTimes)) if (xs.length) console.log(`  ${k}: ${median(xs).toFixed(3)} s`);
result.list = {
  pairs: pairsListed,
  programs: listPrograms,
  times: Object.fromEntries(Object.entries(listTimes).flatMap(([k, xs]) => (xs.length ? [[k, median(xs)]] : []))),
};

console.log(
  `list of ${pairsListed} pairs: ${Object.entries(listTimes)
    .map(([k, xs]) => `${k} ${f(median(xs))} s`)
    .join(
      ', ',
    )}${btrbkList ? `; btrbk list all / list --json: ${(median(listTimes['btrbk list all']) / median(listTimes['list --json'])).toFixed(1)}` : ''}`,
);
writeFileSync(join(process.cwd(), 'dist', 'scale-result.json'), JSON.stringify(result, null, 2));
