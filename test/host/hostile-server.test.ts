import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BIN } from '../support/cli.js';
import { requireRoot } from '../support/loop-disk.js';
import { makeScenario, type Scenario } from '../support/scenario.js';
import { sh } from '../support/sh.js';
import { authorize, makeSshd, type Sshd, targetAddArgs, authorizePrinted } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { streamCommand, streamHeader, ATTR, CMD, u64, uuidBytes } from '../support/send-stream.js';
import { hostRecordFile } from '../../src/system/host-record.js';

// The backup server attacked from outside by someone who did not write it: a real sshd on
// 127.0.0.1 whose forced commands are `btrfs-vault serve`, every verb line sent through a
// real ssh with a client's key. One scenario for the file: the client's filesystem (the
// scenario's source) and the server's (the scenario's disk, holding the serve root with
// host A's and host B's roots). Cases run in order; each leaves the server as the next
// expects it (A with its backups, B with one of its own).

const SERVE = `${process.execPath} ${BIN}`;
const U = '0badc0de-0000-4000-8000-000000000001';

let s: Scenario;
let sshd: Sshd;
let vault: string;
let rootA: string;
let rootB: string;
let cfgA: string;
let folder = '';
let keyB: string;
let bName = '';
let bUuid = '';
let logServer: Server;
let logSocket: string;
const logged: string[] = [];

const knownHosts = () => join(s.configDir, 'ssh', 'known_hosts');
const keyA = () => join(s.configDir, 'ssh', 'id_ed25519');

interface Ssh {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** a real ssh with `key`, the verb line as its command (or none), `input` on stdin */
function ssh(key: string, line: string | undefined, input?: Buffer, extra: string[] = []): Ssh {
  const r = spawnSync(
    'ssh',
    [
      '-F',
      '/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${knownHosts()}`,
      '-o',
      `IdentityFile=${key}`,
      '-o',
      'IdentitiesOnly=yes',
      '-p',
      String(sshd.port),
      ...extra,
      '--',
      'root@127.0.0.1',
      ...(line === undefined ? [] : [line]),
    ],
    { input: input ?? Buffer.alloc(0), maxBuffer: 2 ** 28, timeout: 60_000 },
  );
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const runA = (args: string[]) => s.cli([...args, '--config', cfgA]);
const names = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => n !== 'latest' && !n.startsWith('.'))
        .sort()
    : [];
const field = (path: string, f: string) =>
  new RegExp(`^\\s*${f}:\\s+(\\S+)`, 'm').exec(sh('btrfs', ['subvolume', 'show', path]))?.[1];
/** every subvolume of the server filesystem and every path under the vault */
function serverState(): string {
  sh('btrfs', ['filesystem', 'sync', s.dst.mountPoint]);
  const subvols = sh('btrfs', ['subvolume', 'list', '-a', '-R', '-u', s.dst.mountPoint]).replace(/ gen \d+/g, '');
  return `${subvols}\n${sh('find', [vault, '-printf', '%p %y %l\n'])}`;
}
/** a read-only snapshot of a fresh client subvolume holding `bytes` of random data */
function clientSnapshot(name: string, bytes = 1000): string {
  const sub = join(s.src.mountPoint, `sub-${name}`);
  sh('btrfs', ['subvolume', 'create', sub]);
  writeFileSync(join(sub, 'f'), randomBytes(bytes));
  mkdirSync(join(s.src.mountPoint, 'hs'), { recursive: true });
  const snap = join(s.src.mountPoint, 'hs', name);
  sh('btrfs', ['subvolume', 'snapshot', '-r', sub, snap]);
  return snap;
}
const sendOf = (snap: string) =>
  spawnSync('btrfs', ['send', '-q', snap], { maxBuffer: 2 ** 30, stdio: ['ignore', 'pipe', 'pipe'] }).stdout;
/** the log entries serve wrote for `line` (through the test's log socket) */
const logOf = (line: string) =>
  logged
    .map((l) => JSON.parse(l.slice(l.indexOf('{'))) as { line: string | null; outcome: string; exitCode?: number })
    .filter((e) => e.line === line.slice(0, 256));
const commandOf = (key: string) =>
  `restrict,command="btrfs-vault serve --root ${key}" ${readFileSync(`${key}.pub`, 'utf8').trim()}`;
function newKey(name: string): string {
  const k = join(s.dir, `key-${name}`);
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', k]);
  return k;
}
/** a key whose forced command is serve with `root` (the test's log socket in its environment) */
function authorizeKey(key: string, root: string): void {
  authorize(
    sshd,
    commandOf(key).replace(`--root ${key}`, `--root ${root}`),
    `BTRFS_VAULT_TEST_SERVE_LOG_SOCKET=${logSocket} ${SERVE}`,
  );
}

before(async () => {
  requireRoot();
  s = makeScenario({ sizeMiB: 256 });
  vault = join(s.dst.mountPoint, 'vault');
  rootA = join(vault, 'hosta');
  rootB = join(vault, 'hostb');
  const init = s.cli(['serve', '--init', vault]);
  assert.equal(init.code, 0, init.stderr);
  for (const r of [rootA, rootB]) mkdirSync(r, { mode: 0o700 });
  logSocket = join(s.dir, 'log.sock');
  logServer = createServer((c) => {
    let text = '';
    c.on('data', (d) => (text += d.toString()));
    c.on('end', () => logged.push(...text.split(/\n|\0/).filter((l) => l.includes('{'))));
  });
  await new Promise<void>((resolve) => logServer.listen(logSocket, resolve));
  sshd = await makeSshd(join(s.dir, 'sshd'));
  await sshd.start();
  cfgA = join(s.configDir, 'a.toml');
  writeFileSync(
    cfgA,
    `host = "hosta"\nsources = [${JSON.stringify(s.data)}]\nsnapshot_dir = ${JSON.stringify(join(s.src.mountPoint, 'snapshots'))}\n`,
    { mode: 0o600 },
  );
  const add = runA(targetAddArgs(sshd, 'offsite', vault));
  assert.equal(add.code, 0, add.stderr);
  const line = add.stdout.split('\n').find((l) => l.startsWith('restrict,'))!;
  assert.match(line, new RegExp(`command="btrfs-vault serve --root ${vault}/hosta"`));
  authorize(sshd, line, `BTRFS_VAULT_TEST_SERVE_LOG_SOCKET=${logSocket} ${SERVE}`);
  writeFileSync(join(s.data, 'one'), 'first\n');
  const b = runA(['backup', '--json']);
  assert.equal(b.code, 0, b.stderr + b.stdout);
  folder = (JSON.parse(b.stdout) as { targets: { sources: { name: string }[] }[] }).targets[0]!.sources[0]!.name;
  assert.equal(names(join(rootA, folder)).length, 1);
  // host B: its own key and root, one backup of its own
  keyB = newKey('b');
  authorizeKey(keyB, rootB);
  const snapB = clientSnapshot('b-one');
  bName = 'b-one';
  bUuid = field(snapB, 'UUID')!;
  const r = ssh(keyB, `receive data ${bName} ${bUuid} -`, sendOf(snapB));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(names(join(rootB, 'data')), [bName]);
});

after(async () => {
  await sshd?.stop();
  logServer?.close();
  if (cfgA) rmSync(hostRecordFile(cfgA), { force: true });
  s?.dispose();
});

test('[remote input] shell syntax in the verb line through a real ssh (; $() backticks && | newline): exit 2, no command run, logged as the client sent it', () => {
  const marker = join(s.dir, 'ran');
  const before = serverState();
  for (const line of [
    `hello; touch ${marker}`,
    `hello $(touch ${marker})`,
    `hello \`touch ${marker}\``,
    `hello && touch ${marker}`,
    `hello | touch ${marker}`,
    `hello\ntouch ${marker}`,
    `list ${folder} > ${marker}`,
  ]) {
    const r = ssh(keyA(), line);
    assert.equal(r.code, 2, `${JSON.stringify(line)}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /btrfs-vault serve: the verb line was refused/);
  }
  assert.equal(existsSync(marker), false, 'a shell ran a piece of the line');
  assert.equal(serverState(), before);
});

test("[remote input] paths out of the root through a real ssh (../hostb, /, .incoming, ., latest, -x, an option): exit 2, nothing of B's shown", async () => {
  for (const line of [
    'list ../hostb',
    'list /',
    'list .incoming',
    'list .',
    'list ..',
    'list latest',
    'list -x',
    'list --help',
    `send ../hostb/data ${bName} -`,
    `send data/../../hostb ${bName} -`,
    `receive ../hostb x ${U} -`,
    `receive ${folder} ../x ${U} -`,
  ]) {
    const r = ssh(keyA(), line);
    assert.equal(r.code, 2, `${line}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.ok(!r.stderr.includes(bUuid));
    const entry = await waitFor(() => logOf(line).find((e) => e.outcome === 'refused'), 10_000);
    assert.equal(entry.exitCode, 2);
  }
});

test("[remote input] A's key listing a folder named as B's (its own root has none): an empty answer, no name or UUID of B's", () => {
  const r = ssh(keyA(), 'list data');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).folders, {});
  const all = ssh(keyA(), 'list');
  assert.equal(all.code, 0, all.stderr);
  assert.ok(!all.stdout.includes(bName) && !all.stdout.includes(bUuid), all.stdout);
});

test('[remote input] a login without a command, and the sftp subsystem, with a client key: no shell, no sftp, refused', () => {
  const login = ssh(keyA(), undefined, Buffer.from(`touch ${join(s.dir, 'shell-ran')}\n`));
  assert.notEqual(login.code, 0);
  assert.match(login.stderr, /SSH_ORIGINAL_COMMAND is not set|refused/);
  const sftp = spawnSync(
    'sftp',
    [
      '-F',
      '/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      `UserKnownHostsFile=${knownHosts()}`,
      '-o',
      `IdentityFile=${keyA()}`,
      '-o',
      'IdentitiesOnly=yes',
      '-P',
      String(sshd.port),
      '-b',
      '-',
      'root@127.0.0.1',
    ],
    { input: `ls ${vault}\n`, encoding: 'utf8', timeout: 30_000 },
  );
  assert.notEqual(sftp.status, 0);
  assert.ok(!sftp.stdout.includes('hostb'), sftp.stdout);
  assert.equal(existsSync(join(s.dir, 'shell-ran')), false);
});

test("[remote input] forwarding with a client key (-W to a port of the server's, -R): refused by the key line's restrict, nothing reaches the port", async () => {
  let reached = 0;
  const listener = createServer((c) => {
    reached++;
    c.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as { port: number }).port;
  try {
    const w = await new Promise<number | null>((resolve) => {
      const c = spawn('ssh', [
        '-F',
        '/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        `UserKnownHostsFile=${knownHosts()}`,
        '-o',
        `IdentityFile=${keyA()}`,
        '-o',
        'IdentitiesOnly=yes',
        '-p',
        String(sshd.port),
        '-W',
        `127.0.0.1:${port}`,
        '--',
        'root@127.0.0.1',
      ]);
      c.stdin.end('GET / HTTP/1.0\r\n\r\n');
      const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
      c.on('close', (code) => {
        clearTimeout(t);
        resolve(code);
      });
    });
    assert.notEqual(w, 0);
    const r = ssh(keyA(), 'hello', undefined, ['-o', 'ExitOnForwardFailure=yes', '-R', `0:127.0.0.1:${port}`]);
    assert.notEqual(r.code, 0, 'a remote forward was granted');
    assert.equal(reached, 0);
  } finally {
    listener.close();
  }
});

test('[remote input] environment sent by the client (SetEnv NODE_OPTIONS, the test hooks): serve never sees it', () => {
  const evil = join(s.dir, 'evil.cjs');
  const marker = join(s.dir, 'evil-ran');
  writeFileSync(evil, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')\n`);
  const r = ssh(keyA(), 'hello', undefined, [
    '-o',
    `SetEnv=NODE_OPTIONS=--require=${evil} BTRFS_VAULT_TEST_SERVE_LOG_SOCKET=/dev/null`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(marker), false);
});

test("[paths we are given] a folder in A's root that is a symlink the admin made to B's folder: list shows none of B's, receive into it writes nothing in B's", () => {
  const link = join(rootA, 'linked');
  symlinkSync(join(rootB, 'data'), link);
  try {
    const all = ssh(keyA(), 'list');
    assert.equal(all.code, 0, all.stderr);
    assert.ok(!('linked' in (JSON.parse(all.stdout) as { folders: object }).folders), all.stdout);
    const one = ssh(keyA(), 'list linked');
    assert.notEqual(one.code, 0);
    assert.ok(!one.stdout.includes(bName) && !one.stdout.includes(bUuid), one.stdout);
    const before = serverState();
    const snap = clientSnapshot('into-link');
    const r = ssh(keyA(), `receive linked into-link ${field(snap, 'UUID')} -`, sendOf(snap));
    assert.notEqual(r.code, 0);
    assert.deepEqual(names(join(rootB, 'data')), [bName]);
    assert.equal(serverState(), before);
    const send = ssh(keyA(), `send linked ${bName} -`);
    assert.notEqual(send.code, 0);
    assert.equal(send.stdout, '');
  } finally {
    rmSync(link);
  }
});

test("[paths we are given] send of a name that is a symlink the admin made (to B's backup): refused, not a byte of B's stream", () => {
  const link = join(rootA, folder, 'stolen');
  symlinkSync(join(rootB, 'data', bName), link);
  try {
    const r = ssh(keyA(), `send ${folder} stolen -`);
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout.length, 0);
    const l = ssh(keyA(), `list ${folder}`);
    assert.ok(!l.stdout.includes('stolen') && !l.stdout.includes(bUuid), l.stdout);
  } finally {
    rmSync(link);
  }
});

test('[paths we are given] latest replaced by a symlink to /: list shows no latest, the next backup puts latest back on itself', () => {
  const latest = join(rootA, folder, 'latest');
  rmSync(latest);
  symlinkSync('/', latest);
  const l = ssh(keyA(), `list ${folder}`);
  assert.equal(l.code, 0, l.stderr);
  assert.equal(
    (JSON.parse(l.stdout) as { folders: Record<string, { latest: unknown }> }).folders[folder]!.latest,
    null,
  );
  writeFileSync(join(s.data, 'two'), randomBytes(1000));
  const b = runA(['backup', '--json']);
  assert.equal(b.code, 0, b.stderr + b.stdout);
  const made = (JSON.parse(b.stdout) as { targets: { sources: { snapshot: string }[] }[] }).targets[0]!.sources[0]!
    .snapshot;
  assert.equal(readlinkSync(latest), made);
  assert.ok(existsSync('/etc/passwd'));
});

test('[remote input] receive of a NAME the admin put in the folder as a plain file and as a symlink: exit 3, both untouched', () => {
  const file = join(rootA, folder, 'admins-note');
  const link = join(rootA, folder, 'admins-link');
  writeFileSync(file, 'keep me\n');
  symlinkSync('/etc', link);
  try {
    for (const n of ['admins-note', 'admins-link']) {
      const snap = clientSnapshot(n);
      const r = ssh(keyA(), `receive ${folder} ${n} ${field(snap, 'UUID')} -`, sendOf(snap));
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /exists already/);
    }
    assert.equal(readFileSync(file, 'utf8'), 'keep me\n');
    assert.equal(readlinkSync(link), '/etc');
  } finally {
    rmSync(file);
    rmSync(link);
  }
});

test('[remote input] receive with a parent that is a backup of another folder of the same host: exit 3 before the stream is read', () => {
  const snap = clientSnapshot('other-folder-1');
  const first = ssh(keyA(), `receive second other-folder-1 ${field(snap, 'UUID')} -`, sendOf(snap));
  assert.equal(first.code, 0, first.stderr);
  const parentElsewhere = field(join(rootA, 'second', 'other-folder-1'), 'Received UUID')!;
  const before = serverState();
  const r = ssh(keyA(), `receive ${folder} x-child ${U} ${parentElsewhere}`, randomBytes(1000));
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /no complete backup in/);
  assert.equal(serverState(), before);
});

test('[paths we are given] a key whose root was never made (a host not set up yet): exit 1 with the mkdir fix, nothing made', () => {
  const k = newKey('c');
  authorizeKey(k, join(vault, 'hostc'));
  const before = serverState();
  const r = ssh(k, 'hello');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /does not exist.*mkdir -m 700/);
  assert.equal(serverState(), before);
});

test("[paths we are given] a serve root on tmpfs (not btrfs), root's alone: refused with the fix, the stream never received", () => {
  const tmp = mkdtempSync('/dev/shm/hsrv-');
  try {
    chmodSync(tmp, 0o700);
    const k = newKey('tmpfs');
    authorizeKey(k, tmp);
    const snap = clientSnapshot('to-tmpfs');
    const r = ssh(k, `receive data to-tmpfs ${field(snap, 'UUID')} -`, sendOf(snap));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /not on a btrfs filesystem; make the serve root on btrfs/);
    assert.deepEqual(readdirSync(tmp), []);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('[paths we are given] serve --init on a folder that is not on btrfs: refused, and the folder it would have made is not left behind', () => {
  const parent = mkdtempSync('/dev/shm/hsrv-init-');
  try {
    const r = s.cli(['serve', '--init', join(parent, 'vault')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not on a btrfs filesystem/);
    assert.deepEqual(readdirSync(parent), [], 'serve --init left a folder behind');
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('[what we write into other formats] serve --init with a quote, $(), a blank, a newline or a % in the path: exit 2, no authorized_keys line printed, nothing made', () => {
  for (const p of ['/tmp/v"x', '/tmp/v$(reboot)', '/tmp/v x', '/tmp/v\nrestrict', '/tmp/v%h', '/tmp/hsrv-none/../v']) {
    const r = s.cli(['serve', '--init', p]);
    assert.equal(r.code, 2, `${JSON.stringify(p)}: ${r.stderr}`);
    assert.ok(!r.stdout.includes('command='), r.stdout);
    assert.equal(existsSync(p), false);
  }
});

test('[signals and power] the ssh client killed mid-stream: serve goes away, no staging folder is left, the folder is not locked (the same receive then works)', async () => {
  const snap = clientSnapshot('killed', 24 * 1024 * 1024);
  const uuid = field(snap, 'UUID')!;
  const line = `receive ${folder} killed ${uuid} -`;
  const send = spawn('btrfs', ['send', '-q', snap], { stdio: ['ignore', 'pipe', 'ignore'] });
  const c = spawn('ssh', [
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts()}`,
    '-o',
    `IdentityFile=${keyA()}`,
    '-o',
    'IdentitiesOnly=yes',
    '-p',
    String(sshd.port),
    '--',
    'root@127.0.0.1',
    line,
  ]);
  c.stdin.on('error', () => {});
  let sent = 0;
  send.stdout.on('data', (d: Buffer) => {
    sent += d.length;
    if (sent > 4 * 1024 * 1024 && c.exitCode === null) c.kill('SIGKILL');
    else c.stdin.write(d);
  });
  await new Promise((r) => c.on('close', r));
  send.kill();
  // the stage serve made is gone once serve saw its stdin end
  await waitFor(() => {
    const inc = join(rootA, '.incoming');
    return !existsSync(inc) || readdirSync(inc).length === 0;
  }, 20_000);
  assert.ok(!names(join(rootA, folder)).includes('killed'));
  const again = ssh(keyA(), line, sendOf(snap));
  assert.equal(again.code, 0, again.stderr);
  assert.ok(names(join(rootA, folder)).includes('killed'));
});

test("[what we delete] serve's staging folder (.incoming) replaced by a symlink to B's root: serve deletes nothing through it", () => {
  // a folder of B's whose name looks like a dead serve's staging folder, a backup in it
  const victim = join(rootB, 'data.999999');
  mkdirSync(victim, { mode: 0o700 });
  sh('btrfs', ['subvolume', 'create', join(victim, 'backup')]);
  writeFileSync(join(victim, 'backup', 'keep'), 'mine\n');
  const inc = join(rootA, '.incoming');
  rmSync(inc, { recursive: true, force: true });
  symlinkSync(rootB, inc);
  try {
    ssh(keyA(), 'hello');
    assert.equal(readFileSync(join(victim, 'backup', 'keep'), 'utf8'), 'mine\n', "serve deleted a subvolume of B's");
  } finally {
    rmSync(inc);
    if (existsSync(join(victim, 'backup'))) sh('btrfs', ['subvolume', 'delete', join(victim, 'backup')]);
    rmSync(victim, { recursive: true, force: true });
  }
});

test("[what we read back] status --serve-root with a host folder made by hand, a torn record and lines of another shape: every host shown, no crash, A's age right", () => {
  mkdirSync(join(vault, 'hand-made'), { mode: 0o700 });
  const rec = join(rootA, '.btrfs-vault-received');
  const text = readFileSync(rec, 'utf8');
  writeFileSync(rec, `${text}null\n[1,2]\n{"uuid":7,"at":null}\n"x"\n{"folder":"${folder}","na`);
  try {
    const r = s.cli(['status', '--serve-root', vault, '--check', '--json']);
    const j = JSON.parse(r.stdout) as { hosts: { host: string; ageSeconds: number | null; stale: boolean }[] };
    const byHost = new Map(j.hosts.map((h) => [h.host, h]));
    assert.ok(byHost.has('hand-made') && byHost.get('hand-made')!.stale);
    assert.ok(byHost.get('hosta')!.ageSeconds !== null && byHost.get('hosta')!.ageSeconds! < 3600, r.stdout);
    assert.notEqual(r.code, 0, 'a host that never backed up fails --check');
  } finally {
    writeFileSync(rec, text);
    rmSync(join(vault, 'hand-made'), { recursive: true });
  }
});

test("[ordering and agreement] the client's list --target and the server's status --serve-root agree on each folder's count and newest", () => {
  const l = runA(['list', '--target', 'offsite', '--json']);
  assert.equal(l.code, 0, l.stderr);
  const client = (JSON.parse(l.stdout) as { folders: Record<string, { latest: string; backups: unknown[] }> }).folders;
  const st = JSON.parse(s.cli(['status', '--serve-root', vault, '--json']).stdout) as {
    hosts: { host: string; folders: { folder: string; backups: number; newest: string }[] }[];
  };
  const a = st.hosts.find((h) => h.host === 'hosta')!;
  assert.deepEqual(Object.keys(client).sort(), a.folders.map((f) => f.folder).sort());
  for (const f of a.folders) {
    assert.equal(client[f.folder]!.backups.length, f.backups, f.folder);
    assert.equal(client[f.folder]!.latest, f.newest, f.folder);
  }
});

test("[what we delete] prune --serve-root: a copy the admin received by hand and a hand-made snapshot under a served backup's name are kept, though the record makes every backup old", () => {
  const dir = join(rootA, folder);
  const served = names(dir);
  assert.ok(served.length >= 2, served.join(' '));
  const rec = join(rootA, '.btrfs-vault-received');
  const text = readFileSync(rec, 'utf8');
  // the record says serve took everything in 2020: retention would delete all but the pinned
  writeFileSync(
    rec,
    text
      .split('\n')
      .filter((l) => l !== '')
      .map((l, i) => JSON.stringify({ ...JSON.parse(l), at: `2020-01-0${(i % 9) + 1}T00:00:00.000Z` }))
      .join('\n') + '\n',
  );
  // the admin's own copy, received locally
  const admins = clientSnapshot('2019-12-31_00-00-00');
  spawnSync('sh', ['-c', `btrfs send -q "$1" | btrfs receive "$2"`, 'sh', admins, dir], { stdio: 'ignore' });
  assert.ok(existsSync(join(dir, '2019-12-31_00-00-00')));
  // the oldest served backup replaced by hand with a snapshot of another under its name
  const oldest = served[0]!;
  sh('btrfs', ['subvolume', 'delete', join(dir, oldest)]);
  sh('btrfs', ['subvolume', 'snapshot', '-r', join(dir, served.at(-1)!), join(dir, oldest)]);
  const r = s.cli(['prune', '--serve-root', vault, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(dir, '2019-12-31_00-00-00')), 'the admin copy was deleted');
  assert.ok(existsSync(join(dir, oldest)), 'the hand-made snapshot was deleted');
  assert.ok(existsSync(join(rootB, 'data', bName)));
  sh('btrfs', ['subvolume', 'delete', join(dir, '2019-12-31_00-00-00'), join(dir, oldest)]);
  writeFileSync(rec, text);
});

test('[paths we are given] target add with a hostile --ssh (a blank and -p, a newline, ;, an option, a port in it, no user): exit 2, nothing written', () => {
  const d = mkdtempSync(join(s.dir, 'ta-'));
  const cfg = join(d, 'c.toml');
  writeFileSync(cfg, `host = "hosta"\nsources = [${JSON.stringify(s.data)}]\n`, { mode: 0o600 });
  for (const dest of [
    'root@127.0.0.1 -p 1',
    'root@127.0.0.1\n',
    'root@127.0.0.1;id',
    'root@127.0.0.1 -oProxyCommand=touch${IFS}/tmp/x',
    'root@127.0.0.1:22',
    '@127.0.0.1',
    'root@',
    'root@-x',
    'ro ot@127.0.0.1',
    '$(id)@127.0.0.1',
  ]) {
    const r = s.cli(['target', 'add', 'far', '--ssh', dest, '--port', String(sshd.port), '--config', cfg]);
    assert.equal(r.code, 2, `${JSON.stringify(dest)}: ${r.stderr}`);
    assert.match(r.stderr, /fix:/);
  }
  assert.deepEqual(readdirSync(d), ['c.toml']);
  assert.equal(readFileSync(cfg, 'utf8'), `host = "hosta"\nsources = [${JSON.stringify(s.data)}]\n`);
});

test('[what we write into other formats] target add with a target name a TOML table cannot hold (] " newline . = blank): exit 2, the config unchanged', () => {
  const d = mkdtempSync(join(s.dir, 'tn-'));
  const cfg = join(d, 'c.toml');
  const text = `host = "hosta"\nsources = [${JSON.stringify(s.data)}]\n`;
  writeFileSync(cfg, text, { mode: 0o600 });
  for (const name of ['a]', 'a"b', 'a\nb', 'a.b', 'x = 1', 'a b', '', '-x']) {
    const r = s.cli(['target', 'add', name, '--ssh', 'root@127.0.0.1', '--port', String(sshd.port), '--config', cfg]);
    assert.equal(r.code, 2, `${JSON.stringify(name)}: ${r.stderr}`);
  }
  assert.equal(readFileSync(cfg, 'utf8'), text);
  assert.deepEqual(readdirSync(d), ['c.toml']);
});

test('[paths we are given] a config folder with a quote: target add refuses before a key is made; one with a blank and a %: the key and pin reach ssh whole', () => {
  const q = join(s.dir, 'q"d');
  mkdirSync(q, { mode: 0o700 });
  const qc = join(q, 'c.toml');
  writeFileSync(qc, `host = "hosta"\nsources = [${JSON.stringify(s.data)}]\n`, { mode: 0o600 });
  const r = s.cli([
    'target',
    'add',
    'far',
    '--ssh',
    'root@127.0.0.1',
    '--port',
    String(sshd.port),
    '--fingerprint',
    sshd.fingerprint(),
    '--config',
    qc,
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(readdirSync(q), ['c.toml']);
  const odd = join(s.dir, 'odd %d dir');
  mkdirSync(odd, { mode: 0o700 });
  const oc = join(odd, 'c.toml');
  writeFileSync(
    oc,
    `host = "hosta"\nsources = [${JSON.stringify(s.data)}]\nsnapshot_dir = ${JSON.stringify(join(s.src.mountPoint, 'snapshots'))}\n`,
    { mode: 0o600 },
  );
  const add = s.cli([
    'target',
    'add',
    'far',
    '--ssh',
    'root@127.0.0.1',
    '--port',
    String(sshd.port),
    '--fingerprint',
    sshd.fingerprint(),
    '--serve-root',
    vault,
    '--config',
    oc,
  ]);
  assert.equal(add.code, 0, add.stderr);
  authorizePrinted(sshd, add.stdout, SERVE);
  const l = s.cli(['list', '--target', 'far', '--json', '--config', oc]);
  assert.equal(l.code, 0, l.stderr);
  assert.ok(folder in (JSON.parse(l.stdout) as { folders: object }).folders, l.stdout);
  rmSync(hostRecordFile(oc), { force: true });
});

test('[remote input] target add into a known_hosts that holds other keys for this server (a list of names, a wildcard, a CA, a hashed line): afterwards ssh trusts only the pinned key', () => {
  const d = mkdtempSync(join(s.dir, 'kh-'));
  const cfg = join(d, 'c.toml');
  writeFileSync(cfg, `host = "hosta"\nsources = [${JSON.stringify(s.data)}]\n`, { mode: 0o600 });
  mkdirSync(join(d, 'ssh'), { mode: 0o700 });
  const kh = join(d, 'ssh', 'known_hosts');
  const rogue = newKey('rogue');
  const pub = readFileSync(`${rogue}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  const pattern = `[127.0.0.1]:${sshd.port}`;
  writeFileSync(kh, `${pattern},other.example ${pub}\n[127.0.0.*]:${sshd.port} ${pub}\nunrelated.example ${pub}\n`, {
    mode: 0o600,
  });
  // ssh-keygen -H hashes every name: a hashed line for this server
  const hashedFile = join(d, 'hashed');
  writeFileSync(hashedFile, `${pattern} ${pub}\n`);
  sh('ssh-keygen', ['-q', '-H', '-f', hashedFile]);
  writeFileSync(kh, readFileSync(kh, 'utf8') + readFileSync(hashedFile, 'utf8'));
  writeFileSync(kh, `${readFileSync(kh, 'utf8')}@cert-authority ${pattern} ${pub}\n`);
  const r = s.cli([
    'target',
    'add',
    'far',
    '--ssh',
    'root@127.0.0.1',
    '--port',
    String(sshd.port),
    '--fingerprint',
    sshd.fingerprint(),
    '--config',
    cfg,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const after = readFileSync(kh, 'utf8');
  // the rogue key is trusted for this server nowhere (another host's line stays)
  const forServer = spawnSync('ssh-keygen', ['-F', pattern, '-f', kh], { encoding: 'utf8' }).stdout;
  const keys = forServer.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  assert.ok(!keys.some((l) => l.includes(pub.split(' ')[1]!)), `the rogue key still trusted:\n${forServer}`);
  assert.ok(!after.split('\n').some((l) => l.startsWith('@cert-authority') && l.includes(pattern)), after);
  assert.ok(!after.split('\n').some((l) => l.startsWith(`[127.0.0.*]:${sshd.port}`)), after);
  assert.ok(after.includes(`unrelated.example ${pub}`), "another host's line was dropped");
  assert.equal(keys.length, 1, forServer);
});

test('[secrets] list --target and restore --target under strace: no piece of the private key on any argv or environment, nor in the output', () => {
  const id = readFileSync(keyA(), 'utf8');
  const body = id.split('\n').slice(1, -2).join('');
  const trace = join(s.dir, 'trace-restore');
  const to = join(s.src.mountPoint, 'restored-hs');
  mkdirSync(to, { recursive: true });
  const r = sh('sh', [
    '-c',
    `strace -f -qq -s 8192 -v -e trace=execve -o ${trace} node ${BIN} list --target offsite --json --config ${cfgA}; ` +
      `strace -f -qq -s 8192 -v -e trace=execve -o ${trace}.2 node ${BIN} restore ${s.data} --target offsite --to ${to} --json --config ${cfgA}; echo "exit $?"; ` +
      `node ${BIN} status --json --config ${cfgA}`,
  ]);
  assert.match(r, /exit 0/);
  const execs = readFileSync(trace, 'utf8') + readFileSync(`${trace}.2`, 'utf8');
  assert.match(execs, /"ssh"/);
  for (const piece of [body.slice(0, 32), body.slice(40, 72), body.slice(-40)]) {
    assert.ok(!execs.includes(piece), 'a piece of the private key in an execve');
    assert.ok(!r.includes(piece), 'a piece of the private key in the output');
  }
  for (const n of readdirSync(to)) sh('btrfs', ['subvolume', 'delete', join(to, n)]);
});

test('[secrets] the private key made world-readable: the run says the key file is open to others and how to fix it (not "authorise the key")', () => {
  chmodSync(keyA(), 0o644);
  try {
    const r = runA(['list', '--target', 'offsite']);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /chmod 600|0600/);
  } finally {
    chmodSync(keyA(), 0o600);
  }
});

/** a liar server: a key whose forced command streams `stream` for every send, after a list of one backup */
function liarConfig(tag: string, stream: Buffer, listed: { name: string; receivedUuid: string }): string {
  const d = mkdtempSync(join(s.dir, `liar-${tag}-`));
  const k = join(d, 'id');
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', k]);
  const bin = join(d, 'stream.bin');
  writeFileSync(bin, stream);
  const script = join(d, 'liar.py');
  writeFileSync(
    script,
    [
      'import json, os, sys',
      "w = os.environ.get('SSH_ORIGINAL_COMMAND', '').split(' ')",
      "if w[0] == 'hello': print(json.dumps({'protocol': 1, 'version': 'liar', 'freeBytes': 1}))",
      `elif w[0] == 'list': print(json.dumps({'folders': {${JSON.stringify(folder)}: {'latest': ${JSON.stringify(listed.name)}, 'backups': [{'name': ${JSON.stringify(listed.name)}, 'uuid': '11111111-1111-4111-8111-111111111111', 'receivedUuid': ${JSON.stringify(listed.receivedUuid)}, 'parentUuid': None, 'readonly': True}]}}}))`,
      `elif w[0] == 'send': sys.stdout.buffer.write(open(${JSON.stringify(bin)}, 'rb').read())`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    sshd.authorizedKeys,
    `${readFileSync(sshd.authorizedKeys, 'utf8')}restrict,command="python3 ${script}" ${readFileSync(`${k}.pub`, 'utf8').trim()}\n`,
  );
  const cfg = join(d, 'c.toml');
  writeFileSync(
    cfg,
    `host = "hosta"\nsources = [${JSON.stringify(s.data)}]\nsnapshot_dir = ${JSON.stringify(join(s.src.mountPoint, 'snapshots'))}\n\n[targets.liar]\nssh = "root@127.0.0.1"\nport = ${sshd.port}\nidentity = ${JSON.stringify(k)}\nknown_hosts = ${JSON.stringify(knownHosts())}\n`,
    { mode: 0o600 },
  );
  return cfg;
}

function crafted(name: string, uuid: string, extra: Buffer[]): Buffer {
  return Buffer.concat([
    streamHeader(1),
    streamCommand(CMD.subvol, [
      [ATTR.path, name],
      [ATTR.uuid, uuidBytes(uuid)],
      [ATTR.ctransid, u64(5)],
    ]),
    ...extra,
    streamCommand(CMD.end, []),
  ]);
}

test("[remote input] restore from a server whose stream renames a file to ../ (beside the backup in the restore's staging folder): refused, nothing outside, no staging folder left", () => {
  const stream = crafted('evil', U, [
    streamCommand(CMD.mkfile, [
      [ATTR.path, 'f'],
      [ATTR.ino, u64(257)],
    ]),
    streamCommand(CMD.rename, [
      [ATTR.path, 'f'],
      [ATTR.pathTo, '../planted'],
    ]),
  ]);
  const cfg = liarConfig('rename', stream, { name: 'evil', receivedUuid: U });
  const to = join(s.src.mountPoint, 'restore-rename');
  mkdirSync(to);
  const r = s.cli(['restore', s.data, '--target', 'liar', '--to', to, '--config', cfg]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.equal(existsSync(join(s.src.mountPoint, 'planted')), false);
  assert.equal(existsSync('/planted'), false);
  assert.deepEqual(readdirSync(to), [], 'the restore left its staging folder (or more) behind');
  rmSync(hostRecordFile(cfg), { force: true });
});

test('[remote input] restore from a server whose stream makes a second subvolume-less entry and a writable copy: refused, the restore destination as it was', () => {
  const stream = Buffer.concat([
    crafted('two', U.replace('1', '2'), [
      streamCommand(CMD.mkdir, [
        [ATTR.path, 'd'],
        [ATTR.ino, u64(257)],
      ]),
    ]).subarray(0, -10),
  ]);
  const cfg = liarConfig('two', stream, { name: 'two', receivedUuid: U.replace('1', '2') });
  const to = join(s.src.mountPoint, 'restore-two');
  mkdirSync(to);
  const r = s.cli(['restore', s.data, '--target', 'liar', '--to', to, '--config', cfg]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.deepEqual(readdirSync(to), []);
  rmSync(hostRecordFile(cfg), { force: true });
});

test('[what we write into other formats] a verb line with %, $HOME, a quote and a backslash through a real ssh: one log entry holding it byte for byte', async () => {
  const line = `list %h$HOME"'\\x`;
  const r = ssh(keyA(), line);
  assert.equal(r.code, 2, r.stderr);
  const entry = await waitFor(() => logOf(line)[0], 10_000);
  assert.equal(entry.line, line);
  assert.equal(entry.outcome, 'refused');
});

test('[two of us at once] host A and host B receiving into a folder of the same name at the same time: both complete, each in its own root', async () => {
  const sa = clientSnapshot('par-a');
  const sb = clientSnapshot('par-b');
  const go = (key: string, line: string, snap: string) =>
    new Promise<number | null>((resolve) => {
      const c = spawn(
        'sh',
        [
          '-c',
          `btrfs send -q "$1" | ssh -F /dev/null -o BatchMode=yes -o UserKnownHostsFile="$2" -o IdentityFile="$3" -o IdentitiesOnly=yes -p "$4" -- root@127.0.0.1 "$5" >/dev/null`,
          'sh',
          snap,
          knownHosts(),
          key,
          String(sshd.port),
          line,
        ],
        { stdio: 'ignore' },
      );
      c.on('close', resolve);
    });
  const [a, b] = await Promise.all([
    go(keyA(), `receive par par-a ${field(sa, 'UUID')} -`, sa),
    go(keyB, `receive par par-b ${field(sb, 'UUID')} -`, sb),
  ]);
  assert.equal(a, 0);
  assert.equal(b, 0);
  assert.deepEqual(names(join(rootA, 'par')), ['par-a']);
  assert.deepEqual(names(join(rootB, 'par')), ['par-b']);
});

/** `btrfs send SNAP | ssh KEY LINE`, started now; its exit code when it ends */
function sendVia(key: string, line: string, snap: string): Promise<number | null> {
  return new Promise((resolve) => {
    const c = spawn(
      'sh',
      [
        '-c',
        `btrfs send -q "$1" | ssh -F /dev/null -o BatchMode=yes -o UserKnownHostsFile="$2" -o IdentityFile="$3" -o IdentitiesOnly=yes -p "$4" -- root@127.0.0.1 "$5" >/dev/null 2>&1`,
        'sh',
        snap,
        knownHosts(),
        key,
        String(sshd.port),
        line,
      ],
      { stdio: 'ignore' },
    );
    c.on('close', resolve);
  });
}

test('[two of us at once] one UUID received into two folders at the same time: at most one copy holds it (receive finds a parent by received UUID)', async () => {
  const snap = clientSnapshot('twice', 40 * 1024 * 1024);
  const uuid = field(snap, 'UUID')!;
  const codes = await Promise.all([
    sendVia(keyA(), `receive twice-1 twice ${uuid} -`, snap),
    sendVia(keyA(), `receive twice-2 twice ${uuid} -`, snap),
  ]);
  const held = ['twice-1', 'twice-2'].filter((f) => names(join(rootA, f)).includes('twice'));
  assert.equal(held.length, 1, `codes ${codes.join(' ')}: copies in ${held.join(' ')}`);
  assert.equal(codes.filter((c) => c === 0).length, 1, codes.join(' '));
});

test('[what we delete] a host root the admin made a link to another (alias -> hosta): status and prune --serve-root neither count nor prune hosta twice', () => {
  const alias = join(vault, 'alias');
  symlinkSync(rootA, alias);
  try {
    const st = JSON.parse(s.cli(['status', '--serve-root', vault, '--json']).stdout) as { hosts: { host: string }[] };
    assert.ok(!st.hosts.some((h) => h.host === 'alias'), JSON.stringify(st.hosts));
    const before = serverState();
    const p = s.cli(['prune', '--serve-root', vault, '--dry-run', '--json']);
    assert.equal(p.code, 0, p.stderr);
    assert.ok(!p.stdout.includes('"alias"'), p.stdout);
    assert.equal(serverState(), before);
  } finally {
    rmSync(alias);
  }
});

test('[signals and power] the client hangs up during a send (a restore): serve and its btrfs send go away, the folder is free for the next receive', async () => {
  const big = clientSnapshot('sent-big', 16 * 1024 * 1024);
  const r0 = ssh(keyA(), `receive ${folder} sent-big ${field(big, 'UUID')} -`, sendOf(big));
  assert.equal(r0.code, 0, r0.stderr);
  const c = spawn('ssh', [
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts()}`,
    '-o',
    `IdentityFile=${keyA()}`,
    '-o',
    'IdentitiesOnly=yes',
    '-p',
    String(sshd.port),
    '--',
    'root@127.0.0.1',
    `send ${folder} sent-big -`,
  ]);
  c.stdout.once('data', () => {
    c.stdout.pause();
    setTimeout(() => c.kill('SIGKILL'), 200);
  });
  await new Promise((r) => c.on('close', r));
  const sending = () =>
    sh('ps', ['-eo', 'args'])
      .split('\n')
      .filter((l) => l.includes(join(rootA, folder, 'sent-big')) || l.includes(`--root ${rootA}`));
  await waitFor(() => sending().length === 0, 20_000).catch(() => assert.fail(sending().join('\n')));
  const next = clientSnapshot('after-send');
  const r = ssh(keyA(), `receive ${folder} after-send ${field(next, 'UUID')} -`, sendOf(next));
  assert.equal(r.code, 0, r.stderr);
});

test('[what we write into other formats] target add from a config whose host holds a quote or a blank: exit 2, no key made, no authorized_keys line printed', () => {
  for (const host of ['evil" command="sh', 'a b', 'x,command=sh']) {
    const d = mkdtempSync(join(s.dir, 'hq-'));
    const cfg = join(d, 'c.toml');
    writeFileSync(cfg, `host = ${JSON.stringify(host)}\nsources = [${JSON.stringify(s.data)}]\n`, { mode: 0o600 });
    const r = s.cli([
      'target',
      'add',
      'far',
      '--ssh',
      'root@127.0.0.1',
      '--port',
      String(sshd.port),
      '--fingerprint',
      sshd.fingerprint(),
      '--config',
      cfg,
    ]);
    assert.equal(r.code, 2, `${host}: ${r.stderr}`);
    assert.ok(!r.stdout.includes('command='), r.stdout);
    assert.deepEqual(readdirSync(d), ['c.toml']);
  }
});

test("[paths we are given] a key's --root that is a link to another host's root, written with a trailing / or /.: refused like the link itself", () => {
  const alias = join(vault, 'alias-b');
  symlinkSync(rootB, alias);
  try {
    for (const [tag, root] of [
      ['slash', `${alias}/`],
      ['dot', `${alias}/.`],
    ] as const) {
      const k = newKey(tag);
      authorizeKey(k, root);
      const r = ssh(k, 'list');
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.ok(!r.stdout.includes(bName) && !r.stdout.includes(bUuid), r.stdout);
      assert.match(r.stderr, /is not a folder \(a link or a file\)|is not a plain path/);
    }
  } finally {
    rmSync(alias);
  }
});

test('[ordering and agreement] the server pruned the copy the client last sent (latest dangling): the next backup still goes on from a copy the server holds, or in full, and succeeds', () => {
  const dir = join(rootA, folder);
  const newest = readlinkSync(join(dir, 'latest'));
  sh('btrfs', ['subvolume', 'delete', join(dir, newest)]);
  writeFileSync(join(s.data, 'three'), randomBytes(1000));
  const b = runA(['backup', '--json']);
  assert.equal(b.code, 0, b.stderr + b.stdout);
  const src = (
    JSON.parse(b.stdout) as { targets: { sources: { mode: string; parent?: string; snapshot: string }[] }[] }
  ).targets[0]!.sources[0]!;
  assert.notEqual(src.parent, newest, 'sent against a parent the server no longer holds');
  assert.ok(names(dir).includes(src.snapshot));
  assert.equal(readlinkSync(join(dir, 'latest')), src.snapshot);
});

test('[two of us at once] a send (a restore) of a folder while a receive into it runs: exit 4 naming the receive, the receive completes', async () => {
  const snap = clientSnapshot('slow', 4 * 1024 * 1024);
  const stream = sendOf(snap);
  // the client's stream half sent, then held: the receive runs until the rest comes
  const c = spawn('ssh', [
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts()}`,
    '-o',
    `IdentityFile=${keyA()}`,
    '-o',
    'IdentitiesOnly=yes',
    '-p',
    String(sshd.port),
    '--',
    'root@127.0.0.1',
    `receive ${folder} slow ${field(snap, 'UUID')} -`,
  ]);
  const receiving = new Promise<number | null>((resolve) => c.on('close', resolve));
  c.stdin.write(stream.subarray(0, 1024 * 1024));
  const inc = join(rootA, '.incoming');
  await waitFor(() => existsSync(inc) && readdirSync(inc).some((e) => e.startsWith('slow.')), 20_000);
  const r = ssh(keyA(), `send ${folder} ${readlinkSync(join(rootA, folder, 'latest'))} -`);
  c.stdin.end(stream.subarray(1024 * 1024));
  assert.equal(r.code, 4, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /receive/);
  assert.equal(await receiving, 0);
  assert.ok(names(join(rootA, folder)).includes('slow'));
});

test('[two of us at once] two restores of the same backup from the server into one folder at once: one copy restored, the other refused, no staging folder left', async () => {
  const to = join(s.src.mountPoint, 'restore-twice');
  mkdirSync(to);
  const one = () =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = s.spawnCli(['restore', s.data, '--target', 'offsite', '--to', to, '--config', cfgA]);
      let out = '';
      c.stdout?.on('data', (d) => (out += d));
      c.stderr?.on('data', (d) => (out += d));
      c.on('close', (code) => resolve({ code, out }));
    });
  const runs = await Promise.all([one(), one()]);
  const codes = runs.map((r) => r.code);
  const said = runs.map((r) => `exit ${r.code}:\n${r.out}`).join('\n');
  const left = readdirSync(to);
  assert.equal(left.length, 1, `left: ${left.join(' ')}; ${said}`);
  assert.equal(codes.filter((c) => c === 0).length, 1, said);
  // refused here, before anything is asked of the server: the folder is locked, or the copy is there
  assert.match(
    runs.find((r) => r.code !== 0)!.out,
    /another btrfs-vault run .* is working with the restore folder|exists already; nothing is ever overwritten/,
    said,
  );
  assert.match(sh('btrfs', ['property', 'get', '-ts', join(to, left[0]!), 'ro']), /ro=true/);
  sh('btrfs', ['subvolume', 'delete', join(to, left[0]!)]);
});

test('[secrets] the key file a link to a key another account owns (it could swap it): not used, the run names the key and the fix', () => {
  const real = `${keyA()}.theirs`;
  sh('mv', ['--', keyA(), real]);
  sh('chown', ['65534:65534', '--', real]);
  symlinkSync(real, keyA());
  try {
    const before = serverState();
    const r = runA(['list', '--target', 'offsite']);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /SSH key .*must be owned by root[^]*chown root:root .*id_ed25519/);
    assert.equal(serverState(), before);
  } finally {
    rmSync(keyA());
    sh('chown', ['0:0', '--', real]);
    sh('mv', ['--', real, keyA()]);
  }
});
