// The bench's memory phase ("a 10 GiB transfer does not grow the process's
// memory"): one full backup each by btrfs-vault, btrbk and raw send|receive of 1 GiB and
// of BENCH_MEMORY_GIB GiB (default 10; 0 skips) of incompressible data, with the peak
// memory of each beside its seconds. Run by bench.ts at its end, or alone with
// BENCH_ONLY=memory.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeLoopBtrfs, type LoopFs } from '../test/support/loop-disk.js';
import { sh } from '../test/support/sh.js';
import { tempDir } from '../test/support/scratch.js';
import { hostRecordFile } from '../src/system/host-record.js';

type Tool = 'btrfs-vault' | 'btrbk' | 'raw';
const TOOLS: Tool[] = ['btrfs-vault', 'btrbk', 'raw'];

export interface MemoryRun {
  gib: number;
  seconds: number;
  /** the largest resident set of the process tree's largest process, KiB (GNU time %M: node, perl, btrfs send or receive) */
  treePeakKiB: number;
  /** btrfs-vault only: VmHWM of its own Node process, read by that process as it exits, KiB */
  nodeHwmKiB?: number;
}
export type MemoryResult = Record<Tool, MemoryRun[]>;

// Preloaded (CommonJS, as the bin file, so no ES module loader is added to the process)
// into btrfs-vault's Node: at exit, after all its work, the kernel's high-water mark of
// that one process's resident set.
const HWM_HOOK = `const { readFileSync, writeFileSync } = require('node:fs');
process.on('exit', () => {
  const m = /^VmHWM:\\s+(\\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  writeFileSync(process.env.BENCH_HWM_FILE, m ? m[1] : 'none');
});
`;

export function memoryPhase(gib: number, bin: string): MemoryResult {
  const sizes = gib > 1 ? [1, gib] : [gib];
  // the source holds `gib` GiB, one tool's copy as much again; the loop files are sparse
  const needGiB = 2 * gib + 4;
  const st = statfsSync(tmpdir());
  const freeGiB = (st.bavail * st.bsize) / 2 ** 30;
  if (freeGiB < needGiB)
    throw new Error(
      `memory phase: needs ~${needGiB} GiB free under ${tmpdir()}, has ${freeGiB.toFixed(1)}; set BENCH_MEMORY_GIB lower (0 skips it)`,
    );

  const dir = tempDir('bench-memory');
  const fsSize = (gib + 2) * 1024;
  const src = makeLoopBtrfs(dir, 'src', fsSize);
  let dst: LoopFs | undefined;
  const etc = join(dir, 'etc');
  const config = join(etc, 'config.toml');
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    // before the folder goes: a mounted one would be emptied through its mount, then leaked
    dst?.dispose();
    src.dispose();
    rmSync(dir, { recursive: true, force: true });
    rmSync(hostRecordFile(config), { force: true });
  };
  const onExit = () => {
    try {
      cleanup();
    } catch {
      /* already gone */
    }
  };
  // stopped half-way (an error, Ctrl-C, kill): the loop devices still go
  process.on('exit', onExit);
  const onSignal = (signal: NodeJS.Signals) => process.exit(signal === 'SIGINT' ? 130 : 143);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const data = join(src.mountPoint, 'data');
    sh('btrfs', ['subvolume', 'create', data]);
    mkdirSync(etc, { mode: 0o700 });
    const token = randomBytes(64);
    const dstMount = join(dir, 'dst');
    writeFileSync(
      join(etc, 'token.sha512'),
      `${createHash('sha512').update(token).digest('hex')}  ${join(dstMount, '.token')}\n`,
      { mode: 0o600 },
    );
    writeFileSync(
      config,
      `host = "bench"\nsources = [{ path = "${data}", name = "data" }]\nsnapshot_dir = "${join(src.mountPoint, 'vault-snaps')}"\n[target]\nmountpoint = "${dstMount}"\n`,
    );
    writeFileSync(
      join(etc, 'btrbk.conf'),
      `timestamp_format long-iso\nsnapshot_preserve_min all\ntarget_preserve_min all\nlockfile ${join(dir, 'btrbk.lock')}\n` +
        `volume ${src.mountPoint}\n  snapshot_dir btrbk-snaps\n  subvolume data\n    target ${join(dstMount, 'btrbk')}\n`,
    );
    // where each tool keeps its snapshots of the source
    const snapDirs: Record<Tool, string> = {
      'btrfs-vault': join(src.mountPoint, 'vault-snaps', 'data'),
      btrbk: join(src.mountPoint, 'btrbk-snaps'),
      raw: join(src.mountPoint, 'raw-snaps'),
    };
    for (const d of Object.values(snapDirs)) mkdirSync(d, { recursive: true });
    writeFileSync(join(dir, 'hwm-hook.cjs'), HWM_HOOK);

    // a filesystem of its own for each copy, gone before the next tool's run: the real
    // usage stays at the source plus one copy, and every run is a full one
    const withTarget = (tool: Tool, fn: (mountPoint: string) => void) => {
      dst = makeLoopBtrfs(dir, 'dst', fsSize);
      writeFileSync(join(dst.mountPoint, '.token'), token);
      if (tool !== 'btrfs-vault') mkdirSync(join(dst.mountPoint, tool));
      fn(dst.mountPoint);
      dst.dispose();
      dst = undefined;
      for (const name of sh('ls', ['-A', snapDirs[tool]]).split('\n').filter(Boolean)) {
        const path = join(snapDirs[tool], name);
        // a subvolume has inode number 256; anything else there (the `latest` link) is a plain entry
        if (lstatSync(path).ino === 256) sh('btrfs', ['-q', 'subvolume', 'delete', path]);
        else rmSync(path, { recursive: true });
      }
    };
    // an untimed backup of the empty source first: Node's compile cache (bench.ts empties
    // it) is then in the same state for both sizes
    withTarget('btrfs-vault', () => execFileSync('node', [bin, 'backup', '--config', config], { stdio: 'ignore' }));

    // 1 GiB of random data written once, then plain copies (no reflink: each copy's extents
    // are its own, so every GiB is sent); the filesystem has no compression
    execFileSync('dd', ['if=/dev/urandom', `of=${join(data, 'f1.bin')}`, 'bs=1M', 'count=1024', 'status=none']);
    const result: MemoryResult = { 'btrfs-vault': [], btrbk: [], raw: [] };
    let files = 1;
    for (const size of sizes) {
      for (; files < size; files++)
        execFileSync('cp', ['--reflink=never', join(data, 'f1.bin'), join(data, `f${files + 1}.bin`)]);
      sh('sync', []);
      const bytes = Number(sh('du', ['-sb', data]).split('\t')[0]);
      console.log(`memory phase: ${(bytes / 2 ** 30).toFixed(2)} GiB of random data, one full backup by each tool`);
      for (const tool of TOOLS) {
        withTarget(tool, (mountPoint) => {
          const run = fullBackup(tool, size, {
            dir,
            config,
            bin,
            data,
            dst: mountPoint,
            btrbkConf: join(etc, 'btrbk.conf'),
            rawSnaps: snapDirs.raw,
          });
          // the copy arrived whole: the largest subvolume on the target holds the source's bytes
          const received = Number(
            sh('bash', ['-c', 'du -sb "$1"/*/* | sort -n | tail -1', 'bash', mountPoint]).split('\t')[0],
          );
          if (received < bytes - 2 ** 20)
            throw new Error(`memory phase: ${tool} received ${received} bytes of ${bytes}`);
          result[tool].push(run);
          const hwm = run.nodeHwmKiB === undefined ? '' : `, its Node's VmHWM ${mib(run.nodeHwmKiB)} MiB`;
          console.log(`  ${tool}: ${run.seconds.toFixed(1)} s, tree peak ${mib(run.treePeakKiB)} MiB${hwm}`);
        });
      }
    }
    printTable(result, sizes);
    return result;
  } finally {
    cleanup();
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const mib = (kib: number) => (kib / 1024).toFixed(0);

interface Paths {
  dir: string;
  config: string;
  bin: string;
  data: string;
  dst: string;
  btrbkConf: string;
  rawSnaps: string;
}

/** one full backup, timed as the bench times the others (page cache dropped before, `sync` of what was received included) */
function fullBackup(tool: Tool, gib: number, p: Paths): MemoryRun {
  const rss = join(p.dir, 'rss');
  const hwm = join(p.dir, 'hwm');
  rmSync(hwm, { force: true });
  let argv: string[];
  if (tool === 'btrfs-vault') {
    argv = ['node', '--require', join(p.dir, 'hwm-hook.cjs'), p.bin, 'backup', '--config', p.config];
  } else if (tool === 'btrbk') {
    argv = ['btrbk', '-c', p.btrbkConf, '-q', 'run'];
  } else {
    const snap = join(p.rawSnaps, 's');
    sh('btrfs', ['-q', 'subvolume', 'snapshot', '-r', p.data, snap]);
    argv = [
      'bash',
      '-c',
      'set -o pipefail; btrfs send -q "$1" | btrfs receive -q "$2"',
      'bash',
      snap,
      join(p.dst, 'raw'),
    ];
  }
  sh('sync', []);
  writeFileSync('/proc/sys/vm/drop_caches', '3');
  const t = process.hrtime.bigint();
  // progress on (stdout a pipe): the plain-line renderer a cron job gets, over the whole transfer
  execFileSync('/usr/bin/time', ['-f', '%M', '-o', rss, ...argv], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, BENCH_HWM_FILE: hwm },
    maxBuffer: 64 * 2 ** 20,
  });
  sh('sync', []);
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  const run: MemoryRun = { gib, seconds, treePeakKiB: Number(readFileSync(rss, 'utf8').trim()) };
  if (tool === 'btrfs-vault') {
    const v = existsSync(hwm) ? Number(readFileSync(hwm, 'utf8')) : NaN;
    if (!Number.isFinite(v)) throw new Error("memory phase: btrfs-vault's Node wrote no VmHWM at exit");
    run.nodeHwmKiB = v;
  }
  return run;
}

function printTable(result: MemoryResult, sizes: number[]): void {
  const [small, big] = [sizes[0]!, sizes.at(-1)!];
  const two = sizes.length > 1;
  console.log(
    `\nmemory: one full backup of ${sizes.map((s) => `${s} GiB`).join(' and of ')} of random data each, page cache dropped before; peak resident set in MiB`,
  );
  console.log(
    two
      ? `| tool | measure | ${small} GiB | ${big} GiB | ${big} GiB / ${small} GiB |`
      : `| tool | measure | ${small} GiB |`,
  );
  console.log(two ? '|---|---|---|---|---|' : '|---|---|---|');
  const row = (tool: Tool, measure: string, xs: number[], fmt: (x: number) => string) =>
    console.log(
      `| ${tool} | ${measure} | ${xs.map(fmt).join(' | ')}${two ? ` | ${(xs.at(-1)! / xs[0]!).toFixed(2)}` : ''} |`,
    );
  for (const tool of TOOLS) {
    const runs = result[tool];
    row(
      tool,
      'seconds',
      runs.map((r) => r.seconds),
      (x) => x.toFixed(1),
    );
    row(
      tool,
      'MiB/s',
      runs.map((r) => (r.gib * 1024) / r.seconds),
      (x) => x.toFixed(0),
    );
    if (tool === 'btrfs-vault')
      row(
        tool,
        "its Node process's VmHWM",
        runs.map((r) => r.nodeHwmKiB!),
        (x) => mib(x),
      );
    row(
      tool,
      'largest process of the tree (GNU time %M)',
      runs.map((r) => r.treePeakKiB),
      (x) => mib(x),
    );
  }
}
