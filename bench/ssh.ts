// The bench's ssh phase: btrfs-vault backing up to a backup server (`btrfs-vault serve`
// behind a real sshd on 127.0.0.1, as the host tier runs it) against raw
// `btrfs send | ssh … btrfs receive` and btrbk's ssh target, to the same server
// filesystem through the same sshd: a full and then an incremental run each, the tools
// alternating within a round (BENCH_SSH_REPS rounds, default 3; medians), of
// BENCH_SSH_MIB MiB of incompressible data (default 512; 0 skips). Then compressed vs
// not on compressible data: bytes on the wire and seconds. Run by bench.ts at its end,
// or alone with BENCH_ONLY=ssh.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeLoopBtrfs } from '../test/support/loop-disk.js';
import { sh } from '../test/support/sh.js';
import { tempDir } from '../test/support/scratch.js';
import { authorize, makeSshd, targetAddArgs } from '../test/support/sshd.js';
import { hostRecordFile } from '../src/system/host-record.js';

const TOOLS = ['btrfs-vault', 'raw', 'btrbk'] as const;
type Tool = (typeof TOOLS)[number];
type Times = Record<Tool, number>;
export type SshResult = Record<
  'full' | 'incremental',
  Times & { ratioToRaw: number; ratioToBtrbk: number; rounds: Record<Tool, number[]> }
> & {
  mib: number;
  /** compressible data: each way's seconds and the bytes that went over ssh */
  compressed: { mib: number; rows: { way: string; seconds: number; bytes: number }[] };
};

/** btrbk's filter on the server, as its documentation has it for a target (ssh_filter_btrbk(1)) */
const BTRBK_FILTER = '/usr/share/btrbk/scripts/ssh_filter_btrbk.sh';

export async function sshPhase(
  mib: number,
  bin: string,
  reps = Number(process.env.BENCH_SSH_REPS ?? 3),
): Promise<SshResult> {
  const dir = tempDir('bench-ssh');
  const size = Math.max(1024, mib * 3);
  const src = makeLoopBtrfs(dir, 'src', size);
  // every round's copies of every tool stay (sparse file: only what is written is used)
  const srv = makeLoopBtrfs(dir, 'srv', Math.max(2048, Math.ceil(mib * 1.2) * 4 * (reps + 1)));
  const sshd = await makeSshd(join(dir, 'sshd'));
  const etc = join(dir, 'etc');
  const configs: string[] = [];
  const disposers: (() => void)[] = [];
  try {
    await sshd.start();
    const data = join(src.mountPoint, 'data');
    sh('btrfs', ['subvolume', 'create', data]);
    writeBig(join(data, 'big'), mib);
    mkdirSync(join(src.mountPoint, 'raw-snaps'));
    const root = join(srv.mountPoint, 'vault');
    execFileSync('node', [bin, 'serve', '--init', root], { stdio: 'ignore' });
    mkdirSync(join(root, 'benchhost'), { mode: 0o700 });
    const rawDir = join(srv.mountPoint, 'raw');
    // btrbk takes any snapshot of the source whose copy is on the target's filesystem as a
    // parent (raw's too): its copies go to a filesystem of their own, the same size
    const btrbkFs = makeLoopBtrfs(dir, 'srv-btrbk', Math.max(2048, Math.ceil(mib * 1.2) * 2 * (reps + 1)));
    disposers.push(() => btrbkFs.dispose());
    const btrbkDir = join(btrbkFs.mountPoint, 'btrbk');
    mkdirSync(rawDir);
    mkdirSync(btrbkDir);
    mkdirSync(etc, { mode: 0o700 });
    // one config (and host record) per round, each its own source name (server folder):
    // each round's full run starts from nothing; the first round's target table for all
    const config = (round: number) => join(etc, `config-${round}.toml`);
    const sourceTable = (round: number) =>
      `host = "benchhost"\nsources = [{ path = ${JSON.stringify(data)}, name = "data${round}" }]\nsnapshot_dir = ${JSON.stringify(join(src.mountPoint, `snaps-${round}`))}\n`;
    writeFileSync(config(1), sourceTable(1), { mode: 0o600 });
    configs.push(config(1));
    const add = execFileSync('node', [bin, ...targetAddArgs(sshd, 'srv', root), '--config', config(1)], {
      encoding: 'utf8',
    });
    const line = add.split('\n').find((l) => l.startsWith('restrict,'))!;
    const first = readFileSync(config(1), 'utf8');
    // what target add appended (its comments name `[targets.…]` before the table does)
    const targetTable = first.slice(sourceTable(1).length);
    for (let round = 2; round <= reps; round++) {
      writeFileSync(config(round), `${sourceTable(round)}\n${targetTable}`, { mode: 0o600 });
      configs.push(config(round));
    }
    authorize(sshd, line, `${process.execPath} ${bin}`);
    const knownHosts = join(etc, 'ssh', 'known_hosts');
    // raw: a key of its own whose forced command is `btrfs receive` into its folder (root
    // logs in with forced commands only), the same known_hosts
    const rawKey = join(etc, 'raw_id');
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', rawKey]);
    // btrbk: its own key, behind the filter btrbk ships and documents for a target
    // (--target --info, restricted to its folder): sshd lets root in with a forced
    // command only, and a key without one would be a root shell for anyone holding it
    const btrbkKey = join(etc, 'btrbk_id');
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', btrbkKey]);
    writeFileSync(
      sshd.authorizedKeys,
      `${readFileSync(sshd.authorizedKeys, 'utf8')}restrict,command="btrfs receive ${rawDir}" ${readFileSync(`${rawKey}.pub`, 'utf8')}` +
        `restrict,command="${BTRBK_FILTER} --target --info -p ${btrbkDir}" ${readFileSync(`${btrbkKey}.pub`, 'utf8')}`,
    );
    const sshArgs = (key: string, extra: string[] = []) => [
      '-F',
      '/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      `UserKnownHostsFile=${knownHosts}`,
      '-o',
      `IdentityFile=${key}`,
      '-o',
      'IdentitiesOnly=yes',
      ...extra,
      '-p',
      String(sshd.port),
      '--',
      'root@127.0.0.1',
    ];
    // btrbk runs `ssh` from PATH with the account's ssh_config: ours says which known_hosts
    const btrbkBin = join(etc, 'btrbk-bin');
    mkdirSync(btrbkBin);
    const sshConfig = join(etc, 'btrbk_ssh_config');
    writeFileSync(
      sshConfig,
      `BatchMode yes\nUserKnownHostsFile ${knownHosts}\nGlobalKnownHostsFile /dev/null\nStrictHostKeyChecking yes\nIdentitiesOnly yes\n`,
    );
    writeFileSync(join(btrbkBin, 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F ${q(sshConfig)} "$@"\n`, { mode: 0o755 });
    // one btrbk config; before each round its snapshots and copies are deleted (untimed),
    // so its round starts from nothing as the others' do
    const btrbkSnaps = join(src.mountPoint, 'btrbk-snaps');
    mkdirSync(btrbkSnaps);
    writeFileSync(
      join(etc, 'btrbk.conf'),
      `timestamp_format long-iso\nsnapshot_preserve_min all\ntarget_preserve_min all\nlockfile ${join(dir, 'btrbk.lock')}\n` +
        `ssh_identity ${btrbkKey}\nssh_user root\n` +
        `volume ${src.mountPoint}\n  snapshot_dir btrbk-snaps\n  subvolume data\n    target ssh://127.0.0.1:${sshd.port}${btrbkDir}\n`,
    );
    const btrbkAfresh = () => {
      const subvolumes = [btrbkSnaps, btrbkDir].flatMap((d) => readdirSync(d).map((e) => join(d, e)));
      if (subvolumes.length > 0) sh('btrfs', ['subvolume', 'delete', '--commit-after', '--', ...subvolumes]);
    };
    let n = 0;
    const rawSnaps: Record<number, string> = {};
    const run: Record<Tool, (round: number, incremental: boolean) => void> = {
      'btrfs-vault': (round) => execFileSync('node', [bin, 'backup', '--config', config(round)], { stdio: 'ignore' }),
      raw: (round, incremental) => {
        const snap = join(src.mountPoint, 'raw-snaps', `s${++n}`);
        sh('btrfs', ['subvolume', 'snapshot', '-r', data, snap]);
        const parent = incremental ? rawSnaps[round] : undefined;
        const cmd = `btrfs send -q ${parent ? `-p ${q(parent)} ` : ''}-- ${q(snap)} | ssh ${sshArgs(rawKey).map(q).join(' ')} receive`;
        execFileSync('sh', ['-c', cmd], { stdio: 'ignore' });
        rawSnaps[round] = snap;
      },
      btrbk: () =>
        execFileSync('btrbk', ['-c', join(etc, 'btrbk.conf'), '-q', 'run'], {
          stdio: ['ignore', 'ignore', 'pipe'], // its complaint, should it fail
          env: { ...process.env, PATH: `${btrbkBin}:${process.env.PATH}` },
        }),
    };
    const rounds: Record<'full' | 'incremental', Record<Tool, number[]>> = {
      full: { 'btrfs-vault': [], raw: [], btrbk: [] },
      incremental: { 'btrfs-vault': [], raw: [], btrbk: [] },
    };
    for (let round = 1; round <= reps; round++) {
      // each tool leads a round in turn
      const order = TOOLS.map((_, i) => TOOLS[(i + round - 1) % TOOLS.length]!);
      if (round > 1) rmSync(join(data, 'new'), { force: true });
      btrbkAfresh();
      for (const tool of order) rounds.full[tool].push(timedOrNot(tool, () => run[tool](round, false)));
      // the incremental: a tenth of the data new
      writeBig(join(data, 'new'), Math.max(1, Math.round(mib / 10)));
      for (const tool of order) rounds.incremental[tool].push(timedOrNot(tool, () => run[tool](round, true)));
    }
    const phase = (p: 'full' | 'incremental') => {
      const m = Object.fromEntries(TOOLS.map((t) => [t, median(rounds[p][t])])) as Times;
      return {
        ...m,
        ratioToRaw: m.raw / m['btrfs-vault'],
        ratioToBtrbk: m.btrbk / m['btrfs-vault'],
        rounds: rounds[p],
      };
    };
    const compressed = compressedRows(bin, dir, targetTable, etc, rawKey, sshArgs);
    const result: SshResult = { mib, full: phase('full'), incremental: phase('incremental'), compressed };
    console.log(
      `ssh phase: ${mib} MiB of random data over ssh to 127.0.0.1 (sshd, serve), ${reps} rounds, the tools alternating; medians, s`,
    );
    console.log(
      '| phase | btrfs-vault | raw send / ssh / receive | btrbk (ssh target) | vault speed / raw | vault speed / btrbk |',
    );
    console.log('|---|---|---|---|---|---|');
    for (const p of ['full', 'incremental'] as const)
      console.log(
        `| ${p} | ${result[p]['btrfs-vault'].toFixed(2)} | ${result[p].raw.toFixed(2)} | ${result[p].btrbk.toFixed(2)} | ${result[p].ratioToRaw.toFixed(2)} | ${result[p].ratioToBtrbk.toFixed(2)} |`,
      );
    for (const p of ['full', 'incremental'] as const)
      console.log(
        `${p} rounds: ${TOOLS.map((t) => `${t} ${rounds[p][t].map((s) => s.toFixed(2)).join(' ')}`).join('; ')}`,
      );
    console.log(`\ncompressible data (${compressed.mib} MiB of text on a compress=zstd source), full, one run each:`);
    console.log('| way | seconds | bytes over ssh |');
    console.log('|---|---|---|');
    for (const r of compressed.rows)
      console.log(`| ${r.way} | ${r.seconds.toFixed(2)} | ${(r.bytes / 1e6).toFixed(1)} MB |`);
    return result;
  } finally {
    await sshd.stop();
    for (const d of disposers) d();
    srv.dispose();
    src.dispose();
    for (const c of configs) rmSync(hostRecordFile(c), { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Compressed vs not, on text (logs) on a source mounted compress=zstd: btrfs-vault (which
 * sends compressed extents as they are, send protocol 2), raw plain, raw with ssh's own
 * compression (-C), raw with --compressed-data. Bytes over ssh: what ssh -v reports it
 * sent for raw; btrfs-vault's own count of its stream for it.
 */
function compressedRows(
  bin: string,
  dir: string,
  targetTable: string,
  etc: string,
  rawKey: string,
  sshArgs: (key: string, extra?: string[]) => string[],
): SshResult['compressed'] {
  const mib = Math.max(16, Math.round(Number(process.env.BENCH_SSH_TEXT_MIB ?? 128)));
  const src = makeLoopBtrfs(dir, 'text', Math.max(1024, mib * 3));
  const cfg = join(etc, 'config-text.toml');
  try {
    sh('mount', ['-o', 'remount,compress=zstd', src.mountPoint]);
    const data = join(src.mountPoint, 'logs');
    sh('btrfs', ['subvolume', 'create', data]);
    writeText(join(data, 'app.log'), mib);
    writeFileSync(
      cfg,
      `host = "benchhost"\nsources = [{ path = ${JSON.stringify(data)}, name = "logs" }]\nsnapshot_dir = ${JSON.stringify(join(src.mountPoint, 'snaps'))}\n\n${targetTable}`,
      { mode: 0o600 },
    );
    const rows: SshResult['compressed']['rows'] = [];
    let vaultBytes = 0;
    const vault = timed(() => {
      const out = execFileSync('node', [bin, 'backup', '--json', '--config', cfg], { encoding: 'utf8' });
      const report = JSON.parse(out) as { targets: { sources: { bytes?: number }[] }[] };
      vaultBytes = report.targets[0]!.sources[0]!.bytes ?? 0;
    });
    rows.push({
      way: 'btrfs-vault (compressed extents as they are, send protocol 2)',
      seconds: vault,
      bytes: vaultBytes,
    });
    let k = 0;
    for (const [way, send, extra] of [
      ['raw, plain stream', [], []],
      ['raw, ssh -C (zlib on the wire)', [], ['-C']],
      ['raw, btrfs send --compressed-data', ['--compressed-data'], []],
    ] as [string, string[], string[]][]) {
      const snap = join(src.mountPoint, `raw-${++k}`);
      sh('btrfs', ['subvolume', 'snapshot', '-r', data, snap]);
      const log = join(dir, `ssh-${k}.log`);
      const cmd = `btrfs send -q ${send.join(' ')} -- ${q(snap)} | ssh -v ${sshArgs(rawKey, extra).map(q).join(' ')} receive 2>${q(log)}`;
      const seconds = timed(() => execFileSync('sh', ['-c', cmd], { stdio: 'ignore' }));
      const m = /Transferred: sent (\d+), received (\d+) bytes/.exec(readFileSync(log, 'utf8'));
      rows.push({ way, seconds, bytes: m ? Number(m[1]) : NaN });
    }
    return { mib, rows };
  } finally {
    src.dispose();
    rmSync(hostRecordFile(cfg), { force: true });
  }
}

function q(a: string): string {
  return `'${a.replace(/'/g, `'\\''`)}'`;
}

function median(all: number[]): number {
  const xs = all.filter((x) => !Number.isNaN(x));
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function writeBig(path: string, mib: number): void {
  const chunk = 1024 * 1024;
  for (let i = 0; i < mib; i++) writeFileSync(path, randomBytes(chunk), { flag: i === 0 ? 'w' : 'a' });
  sh('sync', []);
}

/** log-like text: compresses to about a tenth, as logs do */
function writeText(path: string, mib: number): void {
  const words = ['GET', 'POST', '/api/v1/items', '/login', '200', '404', '503', 'user', 'session', 'ms', 'ok', 'retry'];
  let i = 0;
  for (let m = 0; m < mib; m++) {
    const lines: string[] = [];
    let size = 0;
    while (size < 1024 * 1024) {
      const l = `2026-12-06T11:${String(i % 60).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}Z host${i % 17} ${words[i % words.length]} ${words[(i * 5) % words.length]} id=${(i * 2654435761) % 1000003} ${words[(i * 3) % words.length]} ${i % 997}ms\n`;
      lines.push(l);
      size += l.length;
      i++;
    }
    writeFileSync(path, lines.join(''), { flag: m === 0 ? 'w' : 'a' });
  }
  sh('sync', []);
}

/** a run that fails counts as no figure (NaN), with its complaint printed */
function timedOrNot(tool: string, fn: () => void): number {
  try {
    return timed(fn);
  } catch (err) {
    const e = err as { stderr?: Buffer | string; message?: string };
    console.log(
      `${tool} failed: ${(e.stderr?.toString() || e.message || String(err)).trim().split('\n').slice(0, 6).join(' / ')}`,
    );
    return NaN;
  }
}

function timed(fn: () => void): number {
  sh('sync', []);
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
