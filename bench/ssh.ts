// The bench's ssh phase: btrfs-vault backing up to a backup server (`btrfs-vault serve`
// behind a real sshd on 127.0.0.1, as the host tier runs it) against raw
// `btrfs send | ssh … btrfs receive` to the same server filesystem, full and then
// incremental, BENCH_SSH_MIB MiB of incompressible data (default 512; 0 skips). Run by
// bench.ts at its end, or alone with BENCH_ONLY=ssh.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeLoopBtrfs } from '../test/support/loop-disk.js';
import { sh } from '../test/support/sh.js';
import { tempDir } from '../test/support/scratch.js';
import { authorize, makeSshd } from '../test/support/sshd.js';
import { hostRecordFile } from '../src/system/host-record.js';

export interface SshRun {
  seconds: number;
}
export type SshResult = Record<'full' | 'incremental', { vault: number; raw: number; ratioToRaw: number }> & {
  mib: number;
};

export async function sshPhase(mib: number, bin: string): Promise<SshResult> {
  const dir = tempDir('bench-ssh');
  const size = Math.max(1024, mib * 3);
  const src = makeLoopBtrfs(dir, 'src', size);
  const srv = makeLoopBtrfs(dir, 'srv', size * 2);
  const sshd = await makeSshd(join(dir, 'sshd'));
  const etc = join(dir, 'etc');
  const config = join(etc, 'config.toml');
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
    mkdirSync(rawDir);
    mkdirSync(etc, { mode: 0o700 });
    writeFileSync(
      config,
      `host = "benchhost"\nsources = [{ path = ${JSON.stringify(data)}, name = "data" }]\nsnapshot_dir = ${JSON.stringify(join(src.mountPoint, 'snaps'))}\n`,
      { mode: 0o600 },
    );
    const add = execFileSync(
      'node',
      [
        bin,
        'target',
        'add',
        'srv',
        '--ssh',
        'root@127.0.0.1',
        '--port',
        String(sshd.port),
        '--fingerprint',
        sshd.fingerprint(),
        '--serve-root',
        root,
        '--config',
        config,
      ],
      { encoding: 'utf8' },
    );
    const line = add.split('\n').find((l) => l.startsWith('restrict,'))!;
    authorize(sshd, line, `${process.execPath} ${bin}`);
    // raw: a key of its own without a forced command, the same known_hosts
    const rawKey = join(etc, 'raw_id');
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', rawKey]);
    writeFileSync(
      sshd.authorizedKeys,
      // root logs in with forced commands only: raw's is `btrfs receive` into its folder
      `${readFileSync(sshd.authorizedKeys, 'utf8')}restrict,command="btrfs receive ${rawDir}" ${readFileSync(`${rawKey}.pub`, 'utf8')}`,
    );
    const ssh = [
      '-F',
      '/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      `UserKnownHostsFile=${join(etc, 'ssh', 'known_hosts')}`,
      '-o',
      `IdentityFile=${rawKey}`,
      '-o',
      'IdentitiesOnly=yes',
      '-p',
      String(sshd.port),
      '--',
      'root@127.0.0.1',
    ];
    const vault = () => timed(() => execFileSync('node', [bin, 'backup', '--config', config], { stdio: 'ignore' }));
    let n = 0;
    const raw = (parent?: string) =>
      timed(() => {
        const snap = join(src.mountPoint, 'raw-snaps', `s${++n}`);
        sh('btrfs', ['subvolume', 'snapshot', '-r', data, snap]);
        const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
        const cmd = `btrfs send -q ${parent ? `-p ${q(parent)} ` : ''}-- ${q(snap)} | ssh ${ssh.map(q).join(' ')} receive`;
        execFileSync('sh', ['-c', cmd], { stdio: 'ignore' });
        return snap;
      });
    const full = { vault: vault().seconds, raw: 0 };
    const first = raw();
    full.raw = first.seconds;
    // the incremental: a tenth of the data new
    writeBig(join(data, 'new'), Math.max(1, Math.round(mib / 10)));
    const incremental = { vault: vault().seconds, raw: raw(first.value).seconds };
    const result: SshResult = {
      mib,
      full: { ...full, ratioToRaw: full.raw / full.vault },
      incremental: { ...incremental, ratioToRaw: incremental.raw / incremental.vault },
    };
    console.log(`ssh phase: ${mib} MiB of random data over ssh to 127.0.0.1 (sshd, serve), one run each`);
    console.log('| phase | btrfs-vault | raw send / ssh / receive | vault speed / raw |');
    console.log('|---|---|---|---|');
    for (const p of ['full', 'incremental'] as const)
      console.log(
        `| ${p} | ${result[p].vault.toFixed(2)} | ${result[p].raw.toFixed(2)} | ${result[p].ratioToRaw.toFixed(3)} |`,
      );
    return result;
  } finally {
    await sshd.stop();
    srv.dispose();
    src.dispose();
    rmSync(hostRecordFile(config), { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeBig(path: string, mib: number): void {
  const chunk = 1024 * 1024;
  for (let i = 0; i < mib; i++) writeFileSync(path, randomBytes(chunk), { flag: i === 0 ? 'w' : 'a' });
  sh('sync', []);
}

function timed<T>(fn: () => T): { seconds: number; value: T } {
  sh('sync', []);
  const t0 = process.hrtime.bigint();
  const value = fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, value };
}
