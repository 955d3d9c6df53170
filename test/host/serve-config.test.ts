import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statfsSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../support/loop-disk.js';
import { BIN, cli } from '../support/cli.js';
import { sh } from '../support/sh.js';
import { tempDir } from '../support/scratch.js';
import { execWords } from '../support/unit-text.js';
import { unitNames } from '../../src/flows/schedule/schedule.js';

// The server's own config ([serve]: root, max_age, min_free, [serve.retention]) and its
// care: status and prune by it, min_free refusing a receive, hello telling no free
// space, serve --init looking at the mount options. Real btrfs on loop devices and the
// real serve, run as sshd runs a forced command (the verb line in SSH_ORIGINAL_COMMAND).

let dir: string;
let client: LoopFs;
let server: LoopFs;
let vault: string;
let rootA: string;
let rootB: string;
let logSocket: string;
let logServer: Server;
const logged: string[] = [];
let n = 0;

interface Snap {
  path: string;
  name: string;
  uuid: string;
}

function snapshot(): Snap {
  const name = `2026-12-06_10-00-${String(n++).padStart(2, '0')}`;
  const path = join(client.mountPoint, 'snaps', name);
  sh('btrfs', ['subvolume', 'snapshot', '-r', join(client.mountPoint, 'data'), path]);
  const uuid = /^\s*UUID:\s+(\S+)/m.exec(sh('btrfs', ['subvolume', 'show', path]))![1]!;
  return { path, name, uuid };
}

function stream(snap: Snap, parent?: Snap): Buffer {
  return execFileSync('btrfs', ['send', '-q', ...(parent ? ['-p', parent.path] : []), snap.path], {
    maxBuffer: 2 ** 30,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

interface ServeResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function serve(root: string, line: string, input?: Buffer, args: string[] = []): Promise<ServeResult> {
  const child = spawn('node', [BIN, 'serve', '--root', root, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', BTRFS_VAULT_TEST_SERVE_LOG_SOCKET: logSocket, SSH_ORIGINAL_COMMAND: line },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.on('error', () => {});
  child.stdin.end(input ?? Buffer.alloc(0));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return { code, stdout, stderr };
}

async function receive(root: string, folder: string, snap: Snap, parent?: Snap, args: string[] = []) {
  return serve(
    root,
    `receive ${folder} ${snap.name} ${snap.uuid} ${parent ? parent.uuid : '-'}`,
    stream(snap, parent),
    args,
  );
}

/** a config file of this test's own (root's, 0600, in a folder of its own) */
function config(name: string, text: string): string {
  const d = join(dir, 'etc', name);
  mkdirSync(d, { recursive: true, mode: 0o700 });
  const file = join(d, 'config.toml');
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** a config path that does not exist: the command line alone */
const NO_CONFIG = () => join(dir, 'etc', 'none.toml');

function backupsOf(root: string, folder: string): string[] {
  return readdirSync(join(root, folder))
    .filter((e) => e !== 'latest')
    .sort();
}

/** every subvolume and path under the vault */
function serverState(): string {
  sh('btrfs', ['filesystem', 'sync', server.mountPoint]);
  const subvols = sh('btrfs', ['subvolume', 'list', '-a', '-R', '-u', server.mountPoint]).replace(/ gen \d+/g, '');
  return `${subvols}\n${sh('find', [vault, '-printf', '%p %y %l\n'])}`;
}

/** the received record's times moved by `hoursAgo` (this test's own record: the server's clock, simulated) */
function setReceivedAt(root: string, at: (i: number) => string): void {
  const file = join(root, '.btrfs-vault-received');
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  writeFileSync(file, lines.map((l, i) => JSON.stringify({ ...JSON.parse(l), at: at(i) })).join('\n') + '\n');
}

const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000).toISOString();

const a: Snap[] = [];

before(async () => {
  requireRoot();
  dir = tempDir('serve-config');
  client = makeLoopBtrfs(dir, 'client', 256);
  server = makeLoopBtrfs(dir, 'server', 256);
  sh('btrfs', ['subvolume', 'create', join(client.mountPoint, 'data')]);
  mkdirSync(join(client.mountPoint, 'snaps'));
  writeFileSync(join(client.mountPoint, 'data', 'one'), 'first\n');
  vault = join(server.mountPoint, 'vault');
  rootA = join(vault, 'hostA');
  rootB = join(vault, 'hostB');
  logSocket = join(dir, 'log.sock');
  logServer = createServer((c) => {
    let text = '';
    c.on('data', (d) => (text += d.toString()));
    c.on('end', () => logged.push(...text.split(/\n|\0/).filter((l) => l.includes('{'))));
  });
  await new Promise<void>((resolve) => logServer.listen(logSocket, resolve));
  execFileSync('node', [BIN, 'serve', '--init', vault]);
  for (const r of [rootA, rootB]) mkdirSync(r, { mode: 0o700 });
  // three backups of host A, one of host B
  for (let i = 0; i < 3; i++) {
    writeFileSync(join(client.mountPoint, 'data', 'one'), `v${i}\n`);
    const s = snapshot();
    const r = await receive(rootA, 'home', s, a.at(-1));
    assert.equal(r.code, 0, r.stderr);
    a.push(s);
  }
  const b = snapshot();
  assert.equal((await receive(rootB, 'home', b)).code, 0);
});

after(() => {
  logServer?.close();
  server?.dispose();
  client?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('hello answers the protocol and version, no free space', async () => {
  const r = await serve(rootA, 'hello');
  assert.equal(r.code, 0, r.stderr);
  const hello = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(hello).sort(), ['protocol', 'version']);
  assert.doesNotMatch(r.stdout, /free/i);
});

test('a config with only [serve] is valid: status without --serve-root lists the hosts of its root', () => {
  const file = config('only-serve', `[serve]\nroot = "${vault}"\n`);
  const r = cli(['status', '--config', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.serveRoot, vault);
  assert.deepEqual(
    s.hosts.map((h: { host: string }) => h.host),
    ['hostA', 'hostB'],
  );
  // and the whole loader takes it too (doctor, schedule read it so)
  const d = cli(['doctor', '--config', file, '--json']);
  assert.doesNotMatch(d.stdout + d.stderr, /no \[target\] table/);
});

test('status: [serve] max_age makes a quiet host a warning, --check exits 1 and tells [notify]; --max-age wins', () => {
  setReceivedAt(rootB, () => hoursAgo(5));
  const told = join(dir, 'told.json');
  const notifier = join(dir, 'notify.sh');
  writeFileSync(notifier, `#!/bin/sh\ncat > ${told}\n`, { mode: 0o700 });
  const file = config(
    'max-age',
    `[serve]\nroot = "${vault}"\nmax_age = "2h"\n\n[notify]\ncommand = ["${notifier}"]\non = ["stale"]\n`,
  );
  const r = cli(['status', '--config', file, '--check']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /warning: host hostB: last backup 5 h ago \(max_age 2 h\)/);
  assert.doesNotMatch(r.stdout, /warning: host hostA/);
  const report = JSON.parse(readFileSync(told, 'utf8'));
  assert.equal(report.event, 'stale');
  assert.equal(report.serveRoot, vault);
  assert.match(report.warnings.join('\n'), /hostB/);
  rmSync(told);
  const wins = cli(['status', '--config', file, '--check', '--max-age', '6h']);
  assert.equal(wins.code, 0, wins.stdout + wins.stderr);
  assert.ok(!existsSync(told), 'nobody told when nothing is stale');
  // --serve-root with this config: its max_age still counts
  const withRoot = cli(['status', '--config', file, '--serve-root', vault, '--json']);
  assert.equal(JSON.parse(withRoot.stdout).maxAgeSeconds, 7200);
});

test('[what we delete] prune by [serve.retention] deletes only what serve received, never latest or the newest', () => {
  // a backup made by hand in host A's folder: not serve's, never deleted
  const handMade = join(rootA, 'home', 'by-hand');
  sh('btrfs', ['subvolume', 'snapshot', '-r', join(rootA, 'home', a[0]!.name), handMade]);
  // taken within one hour 100 hours ago: the disk's defaults keep one of that hour
  setReceivedAt(rootA, (i) => new Date(Date.now() - 100 * 3600_000 + i * 1000).toISOString());
  const keepAll = config('keep-all', `[serve]\nroot = "${vault}"\n\n[serve.retention]\nkeep_last = "all"\n`);
  const none = cli(['prune', '--config', keepAll, '--json']);
  assert.equal(none.code, 0, none.stderr);
  for (const f of JSON.parse(none.stdout).folders) assert.deepEqual(f.deleted, [], `${f.host}: nothing deleted`);
  assert.equal(backupsOf(rootA, 'home').length, 4);
  // the disk's defaults would delete (the command line alone: no config)
  const dflt = cli(['prune', '--serve-root', vault, '--config', NO_CONFIG(), '--dry-run', '--json']);
  assert.equal(dflt.code, 0, dflt.stderr);
  assert.ok(JSON.parse(dflt.stdout).folders.some((f: { deleted: string[] }) => f.deleted.length > 0));
  const nothing = 'keep_last = 0\nhourly = 0\ndaily = 0\nweekly = 0\nmonthly = 0\nyearly = 0\n';
  const keepNone = config('keep-none', `[serve]\nroot = "${vault}"\n\n[serve.retention]\n${nothing}`);
  const r = cli(['prune', '--config', keepNone, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const hostA = JSON.parse(r.stdout).folders.find((f: { host: string }) => f.host === 'hostA');
  assert.deepEqual(hostA.deleted.sort(), [a[0]!.name, a[1]!.name]);
  assert.deepEqual(backupsOf(rootA, 'home'), [a[2]!.name, 'by-hand'].sort());
  assert.equal(readlinkSync(join(rootA, 'home', 'latest')), a[2]!.name);
  assert.deepEqual(backupsOf(rootB, 'home').length, 1, "host B's one backup (the newest, latest) is kept");
  sh('btrfs', ['subvolume', 'delete', handMade]);
});

test('min_free: a receive the filesystem has no room for is refused (exit 3, logged, the fix named), nothing left behind', async () => {
  const file = config('full', `[serve]\nmin_free = "250M"\n`);
  const before = serverState();
  writeFileSync(join(client.mountPoint, 'data', 'one'), 'refused\n');
  const s = snapshot();
  const r = await receive(rootA, 'home', s, a[2], ['--config', file]);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(
    r.stderr,
    /^btrfs-vault serve: the receive was refused: the server's filesystem has [\d.]+ MiB free before it, less than its min_free 250\.0 MiB; .*min_free/,
  );
  assert.equal(serverState(), before, 'nothing was written');
  assert.ok(
    logged.some((l) => l.includes('min_free') && l.includes('"refused"')),
    'logged',
  );
});

test('[space] min_free: a receive that takes the filesystem under it is deleted after it, nothing left, the next receive works', async () => {
  const big = join(client.mountPoint, 'data', 'big');
  writeFileSync(big, randomBytes(60 * 2 ** 20));
  const s = snapshot();
  sh('btrfs', ['filesystem', 'sync', server.mountPoint]);
  const st = statfsSync(vault);
  const free = st.bavail * st.bsize;
  // room before the receive, none after it
  const file = config('under', `[serve]\nmin_free = "${Math.floor((free - 30 * 2 ** 20) / 1024)}K"\n`);
  const before = backupsOf(rootA, 'home');
  const r = await receive(rootA, 'home', s, a[2], ['--config', file]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /free after it, less than its min_free/);
  assert.deepEqual(backupsOf(rootA, 'home'), before, 'nothing new in the folder');
  assert.deepEqual(readdirSync(join(rootA, '.incoming')), [], 'no staging left');
  assert.equal(readlinkSync(join(rootA, 'home', 'latest')), a[2]!.name);
  // without min_free the same backup goes in
  const ok = await receive(rootA, 'home', s, a[2]);
  assert.equal(ok.code, 0, ok.stderr);
  a.push(s);
  rmSync(big);
});

test('[space] a receive that fills the server mid-stream fails, leaves nothing half-received, and the next one works', async () => {
  sh('btrfs', ['filesystem', 'sync', server.mountPoint]);
  const st = statfsSync(vault);
  // the server filled by its administrator's own file to about 20 MiB free
  const filler = join(server.mountPoint, 'filler');
  const fillBytes = Math.max(0, st.bavail * st.bsize - 20 * 2 ** 20);
  execFileSync('fallocate', ['-l', String(fillBytes), filler]);
  const big = join(client.mountPoint, 'data', 'big');
  writeFileSync(big, randomBytes(60 * 2 ** 20));
  const s = snapshot();
  const before = backupsOf(rootA, 'home');
  const r = await receive(rootA, 'home', s, a.at(-1));
  assert.notEqual(r.code, 0, 'the receive failed');
  assert.match(r.stderr, /^btrfs-vault serve: [^\n]+\n$/);
  assert.deepEqual(backupsOf(rootA, 'home'), before);
  assert.deepEqual(readdirSync(join(rootA, '.incoming')), [], 'no staging left');
  assert.equal(readlinkSync(join(rootA, 'home', 'latest')), a.at(-1)!.name);
  rmSync(filler);
  sh('btrfs', ['filesystem', 'sync', server.mountPoint]);
  const ok = await receive(rootA, 'home', s, a.at(-1));
  assert.equal(ok.code, 0, ok.stderr);
  a.push(s);
  rmSync(big);
});

test('[remote input] a broken [serve] in the server config: a receive fails (logged), nothing written; hello and list still answer', async () => {
  const file = config('broken', `[serve]\nmin_free = "lots"\n`);
  const s = snapshot();
  const before = serverState();
  const r = await receive(rootA, 'home', s, a.at(-1), ['--config', file]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /serve\.min_free/);
  assert.equal(serverState(), before);
  assert.equal((await serve(rootA, 'hello', undefined, ['--config', file])).code, 0);
  assert.equal((await serve(rootA, 'list', undefined, ['--config', file])).code, 0);
});

test('[time] a received record with future times (a server clock set back): the host is a warning, not fresh until then', () => {
  setReceivedAt(rootB, () => '2099-01-01T00:00:00.000Z');
  const r = cli(['status', '--serve-root', vault, '--config', NO_CONFIG(), '--json', '--check']);
  assert.equal(r.code, 1, r.stdout);
  const s = JSON.parse(r.stdout);
  const b = s.hosts.find((h: { host: string }) => h.host === 'hostB');
  assert.equal(b.stale, true);
  assert.match(s.warnings.join('\n'), /hostB: .*in the future/);
});

test('[time] a server clock jump forward: prune counts by when serve took each backup, never deletes latest or the newest', () => {
  // every backup of A taken "in the future" and one far in the past: the newest by creation stays
  setReceivedAt(rootA, (i) => (i === 0 ? '2001-01-01T00:00:00.000Z' : '2099-01-01T00:00:00.000Z'));
  const nothing = 'keep_last = 0\nhourly = 0\ndaily = 0\nweekly = 0\nmonthly = 0\nyearly = 0\n';
  const file = config('jump', `[serve]\nroot = "${vault}"\n\n[serve.retention]\n${nothing}`);
  const r = cli(['prune', '--config', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const latest = readlinkSync(join(rootA, 'home', 'latest'));
  assert.ok(backupsOf(rootA, 'home').includes(latest), 'latest is kept');
  assert.equal(latest, a.at(-1)!.name);
});

test('[paths we are given] [serve] root relative, or a symlink to the serve root: refused with the fix', () => {
  const rel = config('relative', `[serve]\nroot = "vault"\n`);
  const r = cli(['status', '--config', rel]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /serve\.root.*not an absolute path/s);
  const link = join(dir, 'vault-link');
  symlinkSync(vault, link);
  const viaLink = config('link', `[serve]\nroot = "${link}"\n`);
  const l = cli(['prune', '--config', viaLink]);
  assert.notEqual(l.code, 0);
  assert.match(l.stderr, /is not a folder/);
});

test('[secrets] a notify URL in the server config is never printed by status', () => {
  const file = config(
    'secret',
    `[serve]\nroot = "${vault}"\nmax_age = "1h"\n\n[notify]\nurl = "http://127.0.0.1:9/secret-key-abc"\non = ["stale"]\ntimeout = 2\n`,
  );
  const r = cli(['status', '--config', file, '--check']);
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.stdout + r.stderr, /secret-key-abc/);
});

test('serve --init: the filesystem without nosuid,nodev is a warning with the fix; with them, none', () => {
  const plain = execFileSync('node', [BIN, 'serve', '--init', vault], { encoding: 'utf8' });
  assert.match(plain, /mounted without nosuid,nodev/);
  assert.match(plain, new RegExp(`mount -o remount,nosuid,nodev -- ${server.mountPoint}`));
  sh('mount', ['-o', 'remount,nosuid,nodev', server.mountPoint]);
  try {
    const safe = execFileSync('node', [BIN, 'serve', '--init', vault], { encoding: 'utf8' });
    assert.doesNotMatch(safe, /nosuid/);
  } finally {
    sh('mount', ['-o', 'remount,suid,dev', server.mountPoint]);
  }
});

test('schedule install on a server: a timer that runs status --check and prune of the serve root, shown before written; status and remove know it', () => {
  const file = config('schedule', `[serve]\nroot = "${vault}"\n`);
  const root = join(dir, 'units');
  const r = cli(['schedule', 'install', '--root', root, '--config', file]);
  assert.equal(r.code, 0, r.stderr);
  const n = unitNames(file);
  const units = join(root, 'etc/systemd/system');
  assert.deepEqual(
    readdirSync(units)
      .filter((f) => !f.endsWith('.wants'))
      .sort(),
    [n.serveService, n.serveTimer].sort(),
  );
  const service = readFileSync(join(units, n.serveService), 'utf8');
  assert.ok(r.stdout.includes(service), 'the unit is shown as written');
  const execs = service
    .split('\n')
    .filter((l) => l.startsWith('ExecStart='))
    .map((l) => execWords(l.slice('ExecStart='.length).replace(/^-/, '')).slice(2));
  assert.deepEqual(execs, [
    ['status', '--check', '--serve-root', vault, '--config', file],
    ['prune', '--serve-root', vault, '--config', file],
  ]);
  assert.match(readFileSync(join(units, n.serveTimer), 'utf8'), /^OnCalendar=daily$/m);
  const verify = spawnSync('systemd-analyze', ['verify', join(units, n.serveService), join(units, n.serveTimer)], {
    encoding: 'utf8',
  });
  assert.equal(verify.status, 0, verify.stderr);
  const removed = cli(['schedule', 'remove', '--root', root, '--config', file]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, new RegExp(n.serveTimer.replace('.', '\\.')));
  assert.deepEqual(
    readdirSync(units).filter((f) => f.startsWith('btrfs-vault')),
    [],
  );
  const st = cli(['schedule', 'status', '--config', file]);
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, /server \(status and prune of the serve root\): not installed/);
});

test('[what we write into other formats] a serve root with % $ " \\ and spaces: units systemd-analyze accepts, whose ExecStart gives back the exact root', () => {
  const odd = join(dir, 'we%Zird $HOME ${PATH} "q" back\\slash ; x');
  const file = config('odd', `[serve]\nroot = ${JSON.stringify(odd)}\n`);
  const root = join(dir, 'units-odd');
  const r = cli(['schedule', 'install', '--root', root, '--config', file]);
  assert.equal(r.code, 0, r.stderr);
  const n = unitNames(file);
  const unit = join(root, 'etc/systemd/system', n.serveService);
  for (const line of readFileSync(unit, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('ExecStart='))) {
    const words = execWords(line.slice('ExecStart='.length).replace(/^-/, ''));
    assert.equal(words[words.indexOf('--serve-root') + 1], odd, line);
  }
  const verify = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  assert.equal(verify.status, 0, verify.stderr);
  // a newline in the root cannot reach a unit: the config refuses it
  const nl = config('newline', `[serve]\nroot = "/srv/a\\nExecStartPre=/bin/touch /tmp/bv-pwned"\n`);
  const bad = cli(['schedule', 'install', '--root', join(dir, 'units-nl'), '--config', nl]);
  assert.equal(bad.code, 2, bad.stdout);
  assert.ok(!existsSync(join(dir, 'units-nl')));
});

test('doctor on a server: the serve root, its mount (nosuid,nodev), the key lines that run serve, the log', () => {
  const keys = join(dir, 'authorized_keys');
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv8B7pDqaMNLWYv6RLXP2SIJ3TpQOd4WMpnKJ1y8Qx0';
  writeFileSync(
    keys,
    [
      `restrict,command="btrfs-vault serve --root ${rootA}" ${key} btrfs-vault@hostA`,
      `command="btrfs-vault serve --root ${rootB}" ${key} btrfs-vault@hostB`,
      `restrict,command="btrfs-vault serve --root ${rootB}" ${key} btrfs-vault@hostB2`,
      `restrict,command="btrfs-vault serve --root /elsewhere/hostC" ${key} btrfs-vault@hostC`,
      `${key} admin@laptop`,
      '',
    ].join('\n'),
  );
  const file = config('doctor', `[serve]\nroot = "${vault}"\n`);
  const env = { BTRFS_VAULT_TEST_AUTHORIZED_KEYS: keys, BTRFS_VAULT_TEST_SERVE_LOG_SOCKET: logSocket };
  const doctor = () => {
    const r = cli(['doctor', '--config', file, '--json'], env);
    return JSON.parse(r.stdout).checks.filter((c: { area: string }) => c.area === 'server') as {
      name: string;
      level: string;
      detail: string;
    }[];
  };
  const plain = doctor();
  const by = (name: string) => plain.filter((c) => c.name === name);
  assert.equal(by('serve root')[0]!.level, 'ok');
  assert.equal(by('mount')[0]!.level, 'error');
  assert.match(by('mount')[0]!.detail, /without nosuid,nodev/);
  assert.equal(by('log')[0]!.level, 'ok');
  const keyLines = by('authorized_keys');
  assert.ok(
    keyLines.some((c) => c.level === 'error' && /:2: .*no restrict/.test(c.detail)),
    JSON.stringify(keyLines),
  );
  assert.ok(keyLines.some((c) => c.level === 'warn' && /lines 2, 3 are keys of one root/.test(c.detail)));
  assert.ok(
    keyLines.some((c) => c.level === 'warn' && /:4: .*\/elsewhere\/hostC is not a host's folder/.test(c.detail)),
  );
  assert.ok(!keyLines.some((c) => /:1:|:5:/.test(c.detail)), 'the good line and the admin key are no finding');
  sh('mount', ['-o', 'remount,nosuid,nodev', server.mountPoint]);
  try {
    assert.equal(doctor().find((c) => c.name === 'mount')!.level, 'ok');
  } finally {
    sh('mount', ['-o', 'remount,suid,dev', server.mountPoint]);
  }
  // a serve root made 0755: an error with the fix
  execFileSync('chmod', ['755', vault]);
  try {
    const root = doctor().find((c) => c.name === 'serve root')!;
    assert.equal(root.level, 'error');
    assert.match(root.detail, /not root's alone/);
  } finally {
    execFileSync('chmod', ['700', vault]);
  }
});

test('[paths we are given] a server config others could change is not read: a receive fails (exit 2, the fix named), nothing written', async () => {
  const file = config('writable', `[serve]\nmin_free = "1K"\n`);
  execFileSync('chmod', ['666', file]);
  const s = snapshot();
  const before = serverState();
  const r = await receive(rootA, 'home', s, a.at(-1), ['--config', file]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /can be changed by .*chmod go-w/);
  assert.equal(serverState(), before);
});

test('[ordering and agreement] status by [serve] root and by --serve-root with the same config say the same', () => {
  const file = config('agree', `[serve]\nroot = "${vault}"\nmax_age = "3d"\n`);
  const strip = (out: string) => {
    const j = JSON.parse(out);
    for (const h of j.hosts) {
      delete h.ageSeconds;
      for (const f of h.folders) delete f.ageSeconds;
    }
    return j;
  };
  const byConfig = cli(['status', '--config', file, '--json']);
  const byOption = cli(['status', '--config', file, '--serve-root', vault, '--json']);
  assert.equal(byConfig.code, byOption.code);
  assert.deepEqual(strip(byConfig.stdout), strip(byOption.stdout));
  const prunes = [
    cli(['prune', '--config', file, '--dry-run', '--json']),
    cli(['prune', '--config', file, '--serve-root', vault, '--dry-run', '--json']),
  ];
  assert.deepEqual(JSON.parse(prunes[0]!.stdout), JSON.parse(prunes[1]!.stdout));
});
