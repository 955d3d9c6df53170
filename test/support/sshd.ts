import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { sh } from './sh.js';

// A real OpenSSH server on 127.0.0.1 for the host tier: a throwaway host key and config,
// a random port, the test's own authorized_keys, root allowed with forced commands only.
// Never the machine's sshd or its keys.

export const SSHD = '/usr/sbin/sshd';

export interface Sshd {
  port: number;
  dir: string;
  authorizedKeys: string;
  /** the host key's fingerprint (SHA256:…) */
  fingerprint(): string;
  /** a new host key (the server "reinstalled"); restart to use it */
  newHostKey(): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Tests of remote targets need OpenSSH's server and client: a missing one fails, never skips. */
export function requireOpenSsh(): void {
  for (const tool of [SSHD, '/usr/bin/ssh', '/usr/bin/ssh-keygen', '/usr/bin/ssh-keyscan'])
    if (!existsSync(tool))
      throw new Error(
        `${tool} is missing: the remote target tests need openssh-server and openssh-client (scripts/deps.sh installs them)`,
      );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export async function makeSshd(dir: string): Promise<Sshd> {
  requireOpenSsh();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // sshd's privilege separation folder
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const hostKey = join(dir, 'host_ed25519');
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, '', { mode: 0o600 });
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'PermitRootLogin forced-commands-only',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // the test's folders are under /tmp (1777), which StrictModes refuses
      'StrictModes no',
      `PidFile ${join(dir, 'sshd.pid')}`,
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const newHostKey = () => {
    for (const f of [hostKey, `${hostKey}.pub`]) if (existsSync(f)) sh('rm', ['-f', f]);
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  };
  newHostKey();
  let child: ChildProcess | undefined;
  // sshd's log goes to a file: a pipe nobody reads while a test runs the CLI synchronously
  // fills up, and sshd then stops taking connections
  const logFile = join(dir, 'sshd.log');
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const sshd: Sshd = {
    port,
    dir,
    authorizedKeys,
    fingerprint: () => /(SHA256:\S+)/.exec(sh('ssh-keygen', ['-lf', `${hostKey}.pub`]))![1]!,
    newHostKey,
    async start() {
      const check = spawnSync(SSHD, ['-t', '-f', config], { encoding: 'utf8' });
      if (check.status !== 0) throw new Error(`sshd -t: ${check.stderr}`);
      const fd = openSync(logFile, 'w', 0o600);
      child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', fd] });
      closeSync(fd);
      const end = Date.now() + 10_000;
      while (!log().includes('Server listening')) {
        if (child.exitCode !== null || Date.now() > end) throw new Error(`sshd did not start: ${log()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await gone;
    },
  };
  return sshd;
}

/** The authorized_keys line for `key` (the line target add printed), its command made the test's `serve`. */
export function authorize(sshd: Sshd, line: string, serveCommand: string): void {
  const forced = line.replace(/command="btrfs-vault serve /, `command="${serveCommand} serve `);
  writeFileSync(sshd.authorizedKeys, `${readFileSync(sshd.authorizedKeys, 'utf8')}${forced}\n`, { mode: 0o600 });
}

/** `target add NAME` for a server behind the test sshd: its arguments after the program. */
export function targetAddArgs(sshd: Sshd, name: string, serveRoot: string): string[] {
  const port = String(sshd.port);
  return [
    'target',
    'add',
    name,
    '--ssh',
    'root@127.0.0.1',
    '--port',
    port,
    '--fingerprint',
    sshd.fingerprint(),
    '--serve-root',
    serveRoot,
  ];
}

/** The key line `target add` printed (its stdout), authorized for the test's `serve`; the line as printed. */
export function authorizePrinted(sshd: Sshd, stdout: string, serveCommand: string): string {
  const line = stdout.split('\n').find((l) => l.startsWith('restrict,'));
  if (!line) throw new Error(`target add printed no authorized_keys line:\n${stdout}`);
  authorize(sshd, line, serveCommand);
  return line;
}
