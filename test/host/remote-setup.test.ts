import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BIN } from '../support/cli.js';
import { drivePty } from '../support/pty.js';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../support/loop-disk.js';
import { makeScenario, type Scenario } from '../support/scenario.js';
import { sh } from '../support/sh.js';
import { authorize, makeSshd, type Sshd } from '../support/sshd.js';

// setup's backup server question (answered in advance) and doctor's ssh checks, against
// a real sshd on 127.0.0.1 whose forced command is the real serve. One scenario and one
// sshd for the file; each doctor case breaks one piece, looks, and puts it back.

const SERVE = `${process.execPath} ${BIN}`;

let s: Scenario;
let srv: LoopFs;
let sshd: Sshd;
let serveRoot: string;
let answersN = 0;

const run = (args: string[]) => s.cli([...args, '--config', s.config]);
const sshDir = () => join(s.configDir, 'ssh');
const key = () => join(sshDir(), 'id_ed25519');
const knownHosts = () => join(sshDir(), 'known_hosts');

/** an answers file of the test's own, in TOML as a person writes it */
function answers(text: string): string {
  const f = join(s.dir, `answers-${++answersN}.toml`);
  writeFileSync(f, text, { mode: 0o600 });
  return f;
}
const serverAnswers = (over: Record<string, string> = {}) =>
  answers(
    [
      '[server]',
      ...Object.entries({
        ssh: '"root@127.0.0.1"',
        port: String(sshd.port),
        serve_root: JSON.stringify(serveRoot),
        fingerprint: JSON.stringify(sshd.fingerprint()),
        ...over,
      }).map(([k, v]) => `${k} = ${v}`),
      '',
    ].join('\n'),
  );

/** every file under a folder with its mode, owner and content's hash: what "nothing written" compares */
function tree(dir: string): string {
  if (!existsSync(dir)) return '(none)';
  return execFileSync(
    'sh',
    ['-c', `find "$1" -printf '%p %m %U %s %l\\n' | sort; find "$1" -type f -exec sha1sum {} + | sort`, 'sh', dir],
    {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
}

type Check = { area: string; name: string; level: 'ok' | 'warn' | 'error'; detail: string; fix?: string };
/** doctor's findings about the servers, and its exit code */
function doctor(): { checks: Check[]; code: number; out: string } {
  const r = run(['doctor', '--json']);
  const report = JSON.parse(r.stdout) as { checks: Check[]; exitCode: number };
  assert.equal(r.code, report.exitCode);
  return { checks: report.checks.filter((c) => c.area === 'server'), code: r.code, out: r.stdout + r.stderr };
}
/** the one finding that is not ok: its level, and a fix */
function finding(level: 'warn' | 'error', name: RegExp): Check {
  const { checks, code } = doctor();
  const bad = checks.filter((c) => c.level !== 'ok');
  assert.equal(bad.length, 1, JSON.stringify(checks, null, 1));
  assert.equal(bad[0]!.level, level, JSON.stringify(bad[0]));
  assert.match(bad[0]!.name, name);
  assert.ok(bad[0]!.fix && bad[0]!.fix.length > 10, `no fix: ${JSON.stringify(bad[0])}`);
  assert.ok(code >= (level === 'error' ? 2 : 1));
  return bad[0]!;
}
function allOk(): void {
  const { checks } = doctor();
  assert.ok(checks.length >= 6, JSON.stringify(checks));
  assert.deepEqual(
    checks.filter((c) => c.level !== 'ok'),
    [],
  );
}
const authorizedBefore = () => readFileSync(sshd.authorizedKeys, 'utf8');

before(async () => {
  requireRoot();
  s = makeScenario({ sizeMiB: 256 });
  srv = makeLoopBtrfs(s.dir, 'srv', 256);
  serveRoot = join(srv.mountPoint, 'serve');
  const init = s.cli(['serve', '--init', serveRoot]);
  assert.equal(init.code, 0, init.stderr);
  mkdirSync(join(serveRoot, 'testhost'), { mode: 0o700 });
  sshd = await makeSshd(join(s.dir, 'sshd'));
  await sshd.start();
});

after(async () => {
  await sshd?.stop();
  srv?.dispose();
  s?.dispose();
});

test("[what we write into other formats] setup's answers with a server whose user@host or serve root holds blanks, quotes, a newline or $(): refused, nothing written", () => {
  const config = readFileSync(s.config, 'utf8');
  for (const over of [
    { ssh: JSON.stringify('root@127.0.0.1" ; touch /tmp/bv-pwned ; "') },
    { ssh: JSON.stringify('root@127.0.0.1\nhost = "evil"') },
    { ssh: JSON.stringify('ro ot@127.0.0.1') },
    { serve_root: JSON.stringify('/srv/a b') },
    { serve_root: JSON.stringify('/srv/x" ssh-ed25519 AAAA evil\nrestrict,command="sh') },
    { serve_root: JSON.stringify('/srv/$(reboot)') },
    { serve_root: JSON.stringify("/srv/it's") },
    { name: JSON.stringify('off site') },
    { name: JSON.stringify('x]\n[sources') },
  ] as Record<string, string>[]) {
    const r = run(['setup', '--answers', serverAnswers(over)]);
    assert.equal(r.code, 2, `${JSON.stringify(over)}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /fix:|expected|write it/i, JSON.stringify(over));
  }
  assert.equal(readFileSync(s.config, 'utf8'), config);
  assert.equal(existsSync(sshDir()), false);
  assert.equal(existsSync('/tmp/bv-pwned'), false);
});

test("[paths we are given] setup's answers with a relative serve root, one with '..', an option-like host or user: refused before anything is run", () => {
  const config = readFileSync(s.config, 'utf8');
  for (const over of [
    { serve_root: '"srv/btrfs-vault"' },
    { serve_root: '"/srv/../etc"' },
    { ssh: '"root@-oProxyCommand=touch"' },
    { ssh: '"-oProxyCommand=x@127.0.0.1"' },
    { port: '0' },
    { port: '70000' },
  ] as Record<string, string>[]) {
    const r = run(['setup', '--answers', serverAnswers(over)]);
    assert.equal(r.code, 2, `${JSON.stringify(over)}: ${r.stdout}${r.stderr}`);
  }
  assert.equal(readFileSync(s.config, 'utf8'), config);
  assert.equal(existsSync(sshDir()), false);
});

test("[remote input] setup's answers with a fingerprint that is not the server's: refused, no key made, nothing pinned", () => {
  const config = readFileSync(s.config, 'utf8');
  const r = run([
    'setup',
    '--answers',
    serverAnswers({ fingerprint: '"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"' }),
  ]);
  assert.equal(r.code, 3, r.stdout + r.stderr);
  assert.match(r.stderr, /nothing was written/);
  assert.equal(readFileSync(s.config, 'utf8'), config);
  assert.equal(existsSync(sshDir()), false);
});

test("setup --answers --dry-run with a server: every step shown (key, pin, table, the line), nothing written in the config folder, /etc or root's ssh", () => {
  // (not /run/btrfs-vault nor all of /etc: other runs on this machine change them meanwhile)
  const watched = [s.configDir, '/etc/btrfs-vault', '/etc/ssh', '/root/.ssh'];
  const before = watched.map(tree);
  const r = run(['setup', '--answers', serverAnswers(), '--dry-run', '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout) as {
    dryRun: boolean;
    mode: string;
    server: { name: string; fingerprint: string };
  };
  assert.equal(report.dryRun, true);
  assert.equal(report.mode, 'server');
  assert.equal(report.server.name, 'offsite');
  assert.equal(report.server.fingerprint, sshd.fingerprint());
  assert.match(r.stderr, /ssh-keygen -q -t ed25519/);
  assert.match(r.stderr, /known_hosts/);
  assert.match(r.stderr, /config\.toml/);
  assert.match(r.stderr, /restrict,command="btrfs-vault serve --root /);
  assert.match(r.stderr, /dry run: nothing was changed/);
  assert.deepEqual(watched.map(tree), before);
});

test('setup --answers with only a server (the host has its disk already): the key, the pin, [targets.offsite], the box and the line; then backups go there, full then incremental', () => {
  const r = run(['setup', '--answers', serverAnswers(), '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout) as {
    mode: string;
    dryRun: boolean;
    server: { name: string; authorizedKeysLine: string; key: string; config: string; fingerprint: string };
  };
  assert.equal(report.mode, 'server');
  assert.equal(report.dryRun, false);
  assert.equal(report.server.key, 'made');
  assert.equal(report.server.config, 'added');
  assert.equal(lstatSync(key()).mode & 0o777, 0o600);
  assert.equal(lstatSync(sshDir()).mode & 0o777, 0o700);
  assert.match(readFileSync(knownHosts(), 'utf8'), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `, 'm'));
  const config = readFileSync(s.config, 'utf8');
  assert.match(config, /\[targets\.offsite\]\n(#.*\n)*ssh = "root@127\.0\.0\.1"/);
  assert.match(config, /\[target\]\nmountpoint = /, 'the disk is as it was');
  const line = `restrict,command="btrfs-vault serve --root ${serveRoot}/testhost" ${readFileSync(`${key()}.pub`, 'utf8').trim()}`;
  assert.equal(report.server.authorizedKeysLine, line);
  // the box says what to do on the server; the line stands alone on its own line below it
  assert.match(r.stderr, /╭ backup server/);
  assert.match(r.stderr, new RegExp(`mkdir -m 700 ${serveRoot}/testhost`));
  assert.ok(r.stderr.split('\n').includes(line), r.stderr);
  // [secrets] the private key is in no output
  for (const piece of secretForms()) assert.ok(!(r.stdout + r.stderr).includes(piece));

  authorize(sshd, line, SERVE);
  const first = run(['backup', '--json']);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  type T = { name: string; sources: { mode?: string; snapshot?: string; parent?: string }[] };
  const off = (o: string) => (JSON.parse(o) as { targets: T[] }).targets.find((t) => t.name === 'offsite')!.sources[0]!;
  assert.equal(off(first.stdout).mode, 'full');
  writeFileSync(join(s.data, 'new'), randomBytes(50_000));
  const second = run(['backup', '--json']);
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.equal(off(second.stdout).mode, 'incremental');
  assert.equal(off(second.stdout).parent, off(first.stdout).snapshot);
  const folders = readdirSync(join(serveRoot, 'testhost'));
  const copies = readdirSync(
    join(
      serveRoot,
      'testhost',
      folders.find((f) => !f.startsWith('.'))!,
    ),
  );
  assert.ok(copies.includes(off(second.stdout).snapshot!), copies.join(' '));
});

test('doctor on a good server target: ssh, ssh-keygen, the key, its .pub, known_hosts and the hello all ok', () => {
  allOk();
  const { checks } = doctor();
  assert.ok(checks.some((c) => /answers: btrfs-vault .*protocol 1/.test(c.detail)));
});

test("[secrets] doctor under strace: no piece of the private key on any program's argv or environment, nor in its output", () => {
  const trace = join(s.dir, 'doctor.trace');
  const out = execFileSync(
    'sh',
    [
      '-c',
      `strace -f -qq -s 8192 -v -e trace=execve -o "$1" node "$2" doctor --json --config "$3"; true`,
      'sh',
      trace,
      BIN,
      s.config,
    ],
    { encoding: 'utf8' },
  );
  const traced = readFileSync(trace, 'utf8');
  assert.match(traced, /ssh-keygen/);
  for (const piece of secretForms()) {
    assert.ok(!traced.includes(piece), `the key's secret half (${piece.slice(0, 6)}…) on an argv or in an environment`);
    assert.ok(!out.includes(piece), "the key's secret half in doctor's output");
  }
});

test("doctor: this host's key 0644: an error naming chmod 600", () => {
  chmodSync(key(), 0o644);
  try {
    const f = finding('error', /^ssh key offsite$/);
    assert.match(f.detail, /mode 0644/);
    assert.match(f.fix!, /chmod 600/);
  } finally {
    chmodSync(key(), 0o600);
  }
  allOk();
});

test("[paths we are given] doctor: this host's key a symbolic link (to a file of root's, 0600): an error, the link named", () => {
  const real = join(s.dir, 'elsewhere-key');
  renameSync(key(), real);
  symlinkSync(real, key());
  try {
    const f = finding('error', /^ssh key offsite$/);
    assert.match(f.detail, /symbolic link/);
  } finally {
    unlinkSync(key());
    renameSync(real, key());
  }
  allOk();
});

test("[secrets] doctor: this host's key owned by another account: an error naming chown and a new key", () => {
  chownSync(key(), 65534, 65534);
  try {
    const f = finding('error', /^ssh key offsite$/);
    assert.match(f.detail, /uid 65534/);
    assert.match(f.fix!, /chown root:root/);
    assert.match(f.fix!, /target add offsite/);
  } finally {
    chownSync(key(), 0, 0);
  }
  allOk();
});

test("doctor: the key's folder 0755, and a .pub that is another key's: each an error with its fix", () => {
  chmodSync(sshDir(), 0o755);
  try {
    const f = finding('error', /^ssh key offsite$/);
    assert.match(f.fix!, /chmod 700/);
  } finally {
    chmodSync(sshDir(), 0o700);
  }
  const pub = readFileSync(`${key()}.pub`, 'utf8');
  const other = join(s.dir, 'other-key');
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
  writeFileSync(`${key()}.pub`, readFileSync(`${other}.pub`));
  try {
    const f = finding('error', /^ssh public key offsite$/);
    assert.match(f.fix!, /ssh-keygen -y -f/);
  } finally {
    writeFileSync(`${key()}.pub`, pub);
  }
  allOk();
});

test('doctor: known_hosts missing: an error naming target add', () => {
  const saved = readFileSync(knownHosts());
  rmSync(knownHosts());
  try {
    const f = finding('error', /^known_hosts offsite$/);
    assert.match(f.fix!, /target add offsite --ssh root@127\.0\.0\.1 --port \d+/);
  } finally {
    writeFileSync(knownHosts(), saved, { mode: 0o600 });
  }
  allOk();
});

test('doctor: known_hosts pinning another key (the server reinstalled, or someone in between): an error from the hello, naming target add with the fingerprint', () => {
  const saved = readFileSync(knownHosts(), 'utf8');
  const other = join(s.dir, 'other-host-key');
  if (!existsSync(other)) sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
  const otherKey = readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(knownHosts(), saved.replace(/ssh-ed25519 \S+/, otherKey), { mode: 0o600 });
  try {
    const f = finding('error', /^login offsite$/);
    assert.match(f.detail, /did not show the host key pinned/);
    assert.match(f.fix!, /--fingerprint/);
  } finally {
    writeFileSync(knownHosts(), saved, { mode: 0o600 });
  }
  allOk();
});

for (const [what, line] of [
  ['a wildcard line', () => `* ${otherPub()}`],
  ['a list naming the server', () => `example.org,[127.0.0.1]:${sshd.port} ${otherPub()}`],
  ['a hashed line for the server', () => `${hashed(`[127.0.0.1]:${sshd.port}`)} ${otherPub()}`],
  ['an @cert-authority line', () => `@cert-authority [127.0.0.1]:* ${otherPub()}`],
] as const)
  test(`[remote input] doctor: known_hosts with ${what} trusting another key for the server: an error naming the pin again`, () => {
    const saved = readFileSync(knownHosts(), 'utf8');
    writeFileSync(knownHosts(), `${saved}${line()}\n`, { mode: 0o600 });
    try {
      const f = finding('error', /^known_hosts offsite$/);
      assert.match(f.fix!, /target add offsite/);
    } finally {
      writeFileSync(knownHosts(), saved, { mode: 0o600 });
    }
  });

test('doctor: the server stopped: a warning (not an error) naming what to check', async () => {
  await sshd.stop();
  try {
    const f = finding('warn', /^reachable offsite$/);
    assert.match(f.detail, /could not be reached/);
    assert.match(f.fix!, /server is up/);
  } finally {
    await sshd.start();
  }
  allOk();
});

test("doctor: the server's authorized_keys without this host's key: an error whose fix is the line with this host's public key", () => {
  const saved = authorizedBefore();
  writeFileSync(sshd.authorizedKeys, '', { mode: 0o600 });
  try {
    const f = finding('error', /^login offsite$/);
    assert.match(f.detail, /refused this host's key/);
    const pub = readFileSync(`${key()}.pub`, 'utf8').trim();
    assert.ok(f.fix!.includes(`restrict,command="btrfs-vault serve --root /srv/btrfs-vault/testhost" ${pub}`), f.fix);
  } finally {
    writeFileSync(sshd.authorizedKeys, saved, { mode: 0o600 });
  }
  allOk();
});

for (const [what, command] of [
  ['garbage', `printf 'HTTP/1.1 200 OK\\r\\n\\r\\n<html>'`],
  ['two JSON lines', `printf '{"protocol":1}\\n{"protocol":1}\\n'`],
  ['another protocol', `printf '{"protocol":99,"version":"9.9.9","freeBytes":1}\\n'`],
  ['a megabyte of zeros', `head -c 1000000 /dev/zero`],
] as const)
  test(`[remote input] doctor: a server answering hello with ${what}: an error, nothing of it believed`, () => {
    const saved = authorizedBefore();
    const pub = readFileSync(`${key()}.pub`, 'utf8').trim();
    writeFileSync(sshd.authorizedKeys, `restrict,command="${command.replaceAll('"', '\\"')}" ${pub}\n`, {
      mode: 0o600,
    });
    try {
      const f = finding('error', /^protocol offsite$/);
      assert.match(f.detail, /not a protocol 1 reply|speaks protocol 99/);
      assert.doesNotMatch(JSON.stringify(f), /<html>|\u0000/);
    } finally {
      writeFileSync(sshd.authorizedKeys, saved, { mode: 0o600 });
    }
  });

test('[ordering and agreement] doctor all ok, and backup to the server then goes through (they agree)', () => {
  allOk();
  writeFileSync(join(s.data, 'more'), randomBytes(10_000));
  const r = run(['backup', '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

test('setup wizard in a real terminal: the first question\'s "no disk" choice, the server\'s questions, the host key confirmed: key, pin and table made, the box shown', async () => {
  const dir = join(s.dir, 'wizard');
  const config = join(dir, 'config.toml');
  const { code, screen } = await drivePty(
    ['node', BIN, 'setup', '--config', config, '--host', 'wizhost'],
    [
      // the "no disk" choice is the last: up from the first entry wraps to it
      [/Which disk for the backups\?/, '\x1b[A\r'],
      [/as user@host/, 'root@127.0.0.1\r'],
      [/SSH port/, `${sshd.port}\r`],
      [/serve root on the server/, `${serveRoot}\r`],
      [/Is SHA256:\S+ the host key of/, 'y\r'],
    ],
    120_000,
  );
  assert.equal(code, 0, screen);
  assert.ok(screen.includes(sshd.fingerprint()), screen);
  assert.match(readFileSync(config, 'utf8'), /\[targets\.offsite\]\n(#.*\n)*ssh = "root@127\.0\.0\.1"/);
  assert.equal(lstatSync(join(dir, 'ssh', 'id_ed25519')).mode & 0o777, 0o600);
  assert.match(readFileSync(join(dir, 'ssh', 'known_hosts'), 'utf8'), /^\[127\.0\.0\.1\]:\d+ ssh-ed25519 /m);
  assert.match(screen, /backup server/);
  assert.ok(screen.includes(`restrict,command="btrfs-vault serve --root ${serveRoot}/wizhost" ssh-ed25519 `), screen);
});

function otherPub(): string {
  const other = join(s.dir, 'other-host-key');
  if (!existsSync(other)) sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
  return readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
}

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

/**
 * The secret half of this host's ED25519 key as it could show up: its 32-byte seed in
 * hex and base64, and the armored file's characters that encode only the seed (the
 * file also holds the public key, which is no secret and is shown on purpose).
 */
function secretForms(): string[] {
  const body = readFileSync(key(), 'utf8').split('\n').slice(1, -2).join('');
  const bytes = Buffer.from(body, 'base64');
  // the private section: "ssh-ed25519", the public key (32), then seed + public key (64)
  const type = bytes.lastIndexOf('ssh-ed25519');
  const seedAt = type + 11 + 4 + 32 + 4;
  assert.equal(bytes.readUInt32BE(seedAt - 4), 64, 'an OpenSSH ED25519 private key');
  const seed = bytes.subarray(seedAt, seedAt + 32);
  const from = Math.ceil(seedAt / 3) * 4;
  const to = Math.floor((seedAt + 32) / 3) * 4;
  return [seed.toString('hex'), seed.toString('base64').slice(0, 40), body.slice(from, to)];
}
