import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../support/loop-disk.js';
import { BIN } from '../support/cli.js';
import { sh } from '../support/sh.js';
import { tempDir } from '../support/scratch.js';
import { waitFor } from '../support/wait.js';
import { streamCommand, streamHeader, ATTR, CMD, u64, uuidBytes } from '../support/send-stream.js';

// `btrfs-vault serve` run the way sshd runs a forced command: the verb line in
// SSH_ORIGINAL_COMMAND, the stream on stdin, the answer on stdout. Real btrfs on loop
// devices: a client filesystem whose snapshots are sent with a real `btrfs send`, and a
// server filesystem with two hosts' roots side by side (A's and B's). Every byte from the
// client is hostile: refusals must exit 2 (the line) or 3 (the stream), write nothing
// and be logged; a host must never reach the other's root.

let dir: string;
let client: LoopFs;
let server: LoopFs;
let vault: string;
let rootA: string;
let rootB: string;
let logSocket: string;
let logServer: Server;
const logged: string[] = [];

interface Snap {
  path: string;
  name: string;
  uuid: string;
}

function snapshot(name: string): Snap {
  const path = join(client.mountPoint, 'snaps', name);
  sh('btrfs', ['subvolume', 'snapshot', '-r', join(client.mountPoint, 'data'), path]);
  return { path, name, uuid: uuidOf(path) };
}

function uuidOf(path: string, field = 'UUID'): string {
  const m = new RegExp(`^\\s*${field}:\\s+(\\S+)`, 'm').exec(sh('btrfs', ['subvolume', 'show', path]));
  return m![1]!;
}

function sendStream(snap: Snap, parent?: Snap): Buffer {
  return execFileSync('btrfs', ['send', '-q', ...(parent ? ['-p', parent.path] : []), snap.path], {
    maxBuffer: 2 ** 30,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

interface ServeResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function spawnServe(root: string, line: string | undefined, extraEnv: Record<string, string> = {}): ChildProcess {
  const env: Record<string, string | undefined> = {
    ...process.env,
    NO_COLOR: '1',
    BTRFS_VAULT_TEST_SERVE_LOG_SOCKET: logSocket,
    ...extraEnv,
  };
  if (line === undefined) delete env.SSH_ORIGINAL_COMMAND;
  else env.SSH_ORIGINAL_COMMAND = line;
  return spawn('node', [BIN, 'serve', '--root', root], { stdio: ['pipe', 'pipe', 'pipe'], env });
}

/** serve as sshd would run it: the line in the environment, `input` on stdin */
async function serve(root: string, line: string | undefined, input?: Buffer): Promise<ServeResult> {
  const child = spawnServe(root, line);
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin!.on('error', () => {}); // serve may stop reading (a refused stream)
  child.stdin!.end(input ?? Buffer.alloc(0));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return { code, stdout: Buffer.concat(out), stderr };
}

/** a JSON answer, as JSON.parse gives it */
type Answer = ReturnType<typeof JSON.parse>;

function answer(r: ServeResult): Answer {
  assert.equal(r.code, 0, `serve failed: ${r.stderr}`);
  return JSON.parse(r.stdout.toString());
}

/** what the server filesystem holds: every subvolume and every path under the vault */
function serverState(): string {
  sh('btrfs', ['filesystem', 'sync', server.mountPoint]);
  // a generation is no write: receive's snapshot of a parent moves the parent's (a COW of its root)
  const subvols = sh('btrfs', ['subvolume', 'list', '-a', '-R', '-u', server.mountPoint]).replace(/ gen \d+/g, '');
  const files = sh('find', [vault, '-printf', '%p %y %l\n']);
  return `${subvols}\n${files}`;
}

/** a refusal: the exit code, stdout empty, one stderr line, nothing written, and the line in the log */
async function refused(root: string, line: string | undefined, code: 2 | 3, input?: Buffer, why?: RegExp) {
  const before = serverState();
  const r = await serve(root, line, input);
  assert.equal(r.code, code, `exit code for ${JSON.stringify(line)}: ${r.stderr}`);
  assert.equal(r.stdout.length, 0, 'stdout is empty');
  assert.match(r.stderr, /^btrfs-vault serve: [^\n]+; [^\n]+\n$/, `one stderr line: ${JSON.stringify(r.stderr)}`);
  if (why) assert.match(r.stderr, why);
  assert.equal(serverState(), before, 'nothing was written on the server');
  const entry = await waitFor(() =>
    logged
      .map((l) => JSON.parse(l.slice(l.indexOf('{'))))
      // the log keeps a line's first 256 characters
      .find((e) => e.line === (line === undefined ? null : line.slice(0, 256)) && e.outcome === 'refused'),
  );
  assert.equal(entry.exitCode, code);
  return r;
}

let a1: Snap;
let a2: Snap;

before(async () => {
  requireRoot();
  dir = tempDir('serve');
  client = makeLoopBtrfs(dir, 'client', 256);
  server = makeLoopBtrfs(dir, 'server', 256);
  sh('btrfs', ['subvolume', 'create', join(client.mountPoint, 'data')]);
  mkdirSync(join(client.mountPoint, 'snaps'));
  writeFileSync(join(client.mountPoint, 'data', 'one'), 'first\n');
  mkdirSync(join(client.mountPoint, 'data', 'sub'));
  writeFileSync(join(client.mountPoint, 'data', 'sub', 'two'), Buffer.alloc(300_000, 7));
  vault = join(server.mountPoint, 'vault');
  rootA = join(vault, 'hostA');
  rootB = join(vault, 'hostB');
  logSocket = join(dir, 'log.sock');
  logServer = createServer((c) => {
    let text = '';
    c.on('data', (d) => (text += d.toString()));
    // logger writes one message per connection here (a stream socket): each ends with the connection
    c.on('end', () => logged.push(...text.split(/\n|\0/).filter((l) => l.includes('{'))));
  });
  await new Promise<void>((resolve) => logServer.listen(logSocket, resolve));
  const init = execFileSync('node', [BIN, 'serve', '--init', vault], { encoding: 'utf8' });
  assert.match(init, /restrict,command="btrfs-vault serve --root .*\/vault\/HOST"/);
  for (const r of [rootA, rootB]) mkdirSync(r, { mode: 0o700 });
});

after(() => {
  logServer?.close();
  server?.dispose();
  client?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('serve --init: makes the root 0700 on btrfs and prints the authorized_keys line', () => {
  const st = sh('stat', ['-c', '%a %U %F', vault]).trim();
  assert.equal(st, '700 root directory');
  const r = spawnSync('node', [BIN, 'serve', '--init', join(dir, 'not-btrfs')]);
  assert.equal(r.status, 1, 'a folder that is not on btrfs is refused');
  assert.match(r.stderr.toString(), /not on a btrfs filesystem/);
});

test('serve: hello, then a full and an incremental receive, latest, list', async () => {
  const hello = answer(await serve(rootA, 'hello'));
  assert.equal(hello.protocol, 1);
  assert.equal(hello.freeBytes, undefined, 'hello tells no free space');

  a1 = snapshot('2026-12-06_08-00-00');
  const full = answer(await serve(rootA, `receive home ${a1.name} ${a1.uuid} -`, sendStream(a1)));
  assert.equal(full.received.name, a1.name);
  assert.equal(full.received.receivedUuid, a1.uuid);
  assert.equal(full.received.readonly, true);
  assert.equal(readlinkSync(join(rootA, 'home', 'latest')), a1.name);
  assert.equal(readFileSync(join(rootA, 'home', a1.name, 'one'), 'utf8'), 'first\n');
  assert.equal(sh('btrfs', ['property', 'get', join(rootA, 'home', a1.name), 'ro']).trim(), 'ro=true');

  writeFileSync(join(client.mountPoint, 'data', 'one'), 'second\n');
  a2 = snapshot('2026-12-06_09-00-00');
  const inc = answer(await serve(rootA, `receive home ${a2.name} ${a2.uuid} ${a1.uuid}`, sendStream(a2, a1)));
  assert.equal(inc.received.receivedUuid, a2.uuid);
  assert.equal(readFileSync(join(rootA, 'home', a2.name, 'one'), 'utf8'), 'second\n');
  assert.equal(readlinkSync(join(rootA, 'home', 'latest')), a2.name);
  assert.deepEqual(readdirSync(join(rootA, '.incoming')), [], 'no staging folder is left');

  const list = answer(await serve(rootA, 'list'));
  assert.deepEqual(Object.keys(list.folders), ['home']);
  assert.equal(list.folders.home.latest, a2.name);
  assert.deepEqual(
    list.folders.home.backups.map((b: Answer) => [b.name, b.receivedUuid, b.readonly]),
    [
      [a1.name, a1.uuid, true],
      [a2.name, a2.uuid, true],
    ],
  );
  for (const b of list.folders.home.backups)
    assert.deepEqual(Object.keys(b).sort(), ['name', 'parentUuid', 'readonly', 'receivedUuid', 'uuid']);
  assert.deepEqual(answer(await serve(rootA, 'list home')).folders, list.folders);
  assert.deepEqual(answer(await serve(rootA, 'list other')).folders, {});
});

test("serve: list answers what hello answers too (a client's run needs no hello); hello still answers alone (an older client)", async () => {
  const hello = answer(await serve(rootA, 'hello'));
  assert.deepEqual(Object.keys(hello).sort(), ['protocol', 'version']);
  for (const line of ['list', 'list home', 'list other']) {
    const list = answer(await serve(rootA, line));
    assert.deepEqual(Object.keys(list).sort(), ['folders', 'protocol', 'version'], line);
    assert.equal(list.protocol, 1, line);
    assert.equal(list.version, hello.version, line);
  }
});

test('serve: send gives a stream that a local btrfs receive turns into a copy with the same content', async () => {
  const restoreDir = join(client.mountPoint, 'restored');
  mkdirSync(restoreDir);
  const fullR = await serve(rootA, `send home ${a1.name} -`);
  assert.equal(fullR.code, 0, fullR.stderr);
  execFileSync('btrfs', ['receive', '-e', restoreDir], { input: fullR.stdout, stdio: ['pipe', 'ignore', 'pipe'] });
  assert.equal(readFileSync(join(restoreDir, a1.name, 'one'), 'utf8'), 'first\n');
  const incR = await serve(rootA, `send home ${a2.name} ${a1.name}`);
  assert.equal(incR.code, 0, incR.stderr);
  execFileSync('btrfs', ['receive', '-e', restoreDir], { input: incR.stdout, stdio: ['pipe', 'ignore', 'pipe'] });
  assert.equal(readFileSync(join(restoreDir, a2.name, 'one'), 'utf8'), 'second\n');
  sh('diff', ['-r', join(restoreDir, a2.name), join(client.mountPoint, 'data')]);
});

const U = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const REFUSED_LINES: [string, string][] = [
  ['a ;', 'list;reboot'],
  ['$()', 'list $(touch /tmp/pwned)'],
  ['backticks', 'list `touch /tmp/pwned`'],
  ['a newline', 'hello\ntouch /tmp/pwned'],
  ['..', 'list ..'],
  ['a leading -', 'list --help'],
  ['a /', 'send ../hostB/home x -'],
  ['an absolute path', 'list /etc'],
  ['an unknown verb', 'delete home x'],
  ['too many arguments', 'hello home'],
  ['too few arguments', `receive home x ${U}`],
  ['an over-long line', `list ${'a'.repeat(600)}`],
  ['non-ASCII', 'list h\u00e9me'],
  ['latest as a name', `receive home latest ${U} -`],
];
for (const [what, line] of REFUSED_LINES) {
  test(`[remote input] serve with a verb line with ${what}: exit 2, nothing written, logged`, async () => {
    await refused(rootA, line, 2, undefined, /verb line was refused/);
    assert.ok(!existsSync('/tmp/pwned'));
  });
}

test('[remote input] serve without SSH_ORIGINAL_COMMAND (a login, not a forced command): exit 2, logged', async () => {
  await refused(rootA, undefined, 2, undefined, /no verb line/);
});

test("[what we write into other formats] a client's line with a newline and an escape reaches the log as one JSON line", async () => {
  const line = 'hello\n<13>Dec  6 08:00:00 host sshd[1]: Accepted \u001b[2J';
  await refused(rootA, line, 2);
  const raw = logged.find((l) => l.includes('Accepted'));
  assert.ok(raw && !raw.includes('\n') && !raw.includes('\u001b'), JSON.stringify(raw));
});

test('[remote input] a stream that names another NAME than its line: exit 3, nothing left in the root', async () => {
  const s = snapshot('2026-12-06_10-00-00');
  await refused(rootA, `receive home other ${s.uuid} ${a2.uuid}`, 3, sendStream(s, a2), /not "other"/);
});

test('[remote input] a stream with another UUID than its line: exit 3, nothing left', async () => {
  const s = snapshot('2026-12-06_10-30-00');
  await refused(rootA, `receive home ${s.name} ${U} ${a2.uuid}`, 3, sendStream(s, a2), /not the announced/);
});

test('[remote input] a full stream announced as incremental, and an incremental one announced as full: exit 3', async () => {
  const s = snapshot('2026-12-06_11-00-00');
  await refused(rootA, `receive home ${s.name} ${s.uuid} ${a2.uuid}`, 3, sendStream(s), /full stream/);
  await refused(rootA, `receive home ${s.name} ${s.uuid} -`, 3, sendStream(s, a2), /incremental stream/);
});

test('[remote input] receive over an existing backup: exit 3, the backup untouched', async () => {
  await refused(rootA, `receive home ${a2.name} ${U} -`, 3, undefined, /exists already/);
});

test("[remote input] a parent that is another host's backup (its UUID found under a sibling root): exit 3 before the stream is read", async () => {
  // host B holds a backup of its own
  const b1 = snapshot('2026-12-06_12-00-00');
  answer(await serve(rootB, `receive etc ${b1.name} ${b1.uuid} -`, sendStream(b1)));
  const s = snapshot('2026-12-06_12-30-00');
  await refused(
    rootA,
    `receive home ${s.name} ${s.uuid} ${b1.uuid}`,
    3,
    sendStream(s, b1),
    /no complete backup in home/,
  );
});

test("[remote input] a stream that snapshots another host's backup while its line names its own parent: exit 3, though btrfs receive alone would find B's copy", async () => {
  const b1uuid = uuidOf(join(rootB, 'etc', '2026-12-06_12-00-00'), 'Received UUID');
  const b1 = {
    path: join(client.mountPoint, 'snaps', '2026-12-06_12-00-00'),
    name: '2026-12-06_12-00-00',
    uuid: b1uuid,
  };
  const s = snapshot('2026-12-06_13-00-00');
  const stream = sendStream(s, b1);
  // the danger is real: receive alone finds host B's copy by its received UUID, anywhere on the filesystem
  const probe = join(server.mountPoint, 'probe');
  mkdirSync(probe);
  execFileSync('btrfs', ['receive', '-e', probe], { input: stream, stdio: ['pipe', 'ignore', 'pipe'] });
  assert.equal(uuidOf(join(probe, s.name), 'Parent UUID'), uuidOf(join(rootB, 'etc', b1.name)));
  sh('btrfs', ['subvolume', 'delete', join(probe, s.name)]);
  rmSync(probe, { recursive: true });
  await refused(
    rootA,
    `receive home ${s.name} ${s.uuid} ${a2.uuid}`,
    3,
    stream,
    /snapshot of .*, not of the announced parent/,
  );
});

test("[remote input] a new backup whose UUID is another host's received UUID (a clone source receive would find): exit 3", async () => {
  const b1uuid = uuidOf(join(rootB, 'etc', '2026-12-06_12-00-00'), 'Received UUID');
  const crafted = Buffer.concat([
    streamHeader(1),
    streamCommand(CMD.subvol, [
      [ATTR.path, 'x1'],
      [ATTR.uuid, uuidBytes(b1uuid)],
      [ATTR.ctransid, u64(5)],
    ]),
    streamCommand(CMD.end, []),
  ]);
  await refused(rootA, `receive home x1 ${b1uuid} -`, 3, crafted, /on this filesystem already/);
});

test('[remote input] a crafted stream that renames to ../ (out of its staging folder): exit 3, nothing outside', async () => {
  const crafted = Buffer.concat([
    streamHeader(1),
    streamCommand(CMD.subvol, [
      [ATTR.path, 'x2'],
      [ATTR.uuid, uuidBytes(U)],
      [ATTR.ctransid, u64(5)],
    ]),
    streamCommand(CMD.mkfile, [
      [ATTR.path, 'f'],
      [ATTR.ino, u64(257)],
    ]),
    streamCommand(CMD.rename, [
      [ATTR.path, 'f'],
      [ATTR.pathTo, '../../../hostB/etc/planted'],
    ]),
    streamCommand(CMD.end, []),
  ]);
  await refused(rootA, `receive home x2 ${U} -`, 3, crafted, /with "\.\."/);
  assert.ok(!existsSync(join(rootB, 'etc', 'planted')));
});

test('[remote input] a stream followed by a second stream: exit 3, nothing left', async () => {
  const s = snapshot('2026-12-06_14-00-00');
  const one = sendStream(s, a2);
  await refused(rootA, `receive home ${s.name} ${s.uuid} ${a2.uuid}`, 3, Buffer.concat([one, one]), /follow the end/);
});

test('[remote input] a stream cut short (the client went away): exit 3, nothing half-received left', async () => {
  const s = snapshot('2026-12-06_14-30-00');
  const stream = sendStream(s);
  await refused(
    rootA,
    `receive home ${s.name} ${s.uuid} -`,
    3,
    stream.subarray(0, stream.length - 100),
    /without its end/,
  );
});

test('[time] a client that stops sending mid-stream (suspended, its path dead) with the connection open: serve ends the receive after its idle limit (exit 3), so its folder lock goes; nothing half-received, no receive left running', async () => {
  const s = snapshot('2026-12-06_14-40-00');
  const stream = sendStream(s, a2);
  const line = `receive home ${s.name} ${s.uuid} ${a2.uuid}`;
  const before = serverState();
  const idle = spawnServe(rootA, line, { BTRFS_VAULT_TEST_CLIENT_IDLE_MS: '1500' });
  const out: Buffer[] = [];
  let stderr = '';
  idle.stdout!.on('data', (c: Buffer) => out.push(c));
  idle.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  idle.stdin!.on('error', () => {});
  const started = Date.now();
  idle.stdin!.write(stream.subarray(0, 100)); // then nothing, and stdin stays open
  const code = await new Promise<number | null>((resolve) => idle.on('close', resolve));
  const took = Date.now() - started;
  idle.stdin!.destroy();
  assert.equal(code, 3, stderr);
  assert.equal(out.length, 0, 'no answer');
  assert.match(stderr, /no byte came from the client for 2 s/);
  assert.ok(took >= 1400 && took < 30_000, `ended after its limit, not before: ${took} ms`);
  assert.equal(serverState(), before, 'nothing half-received was kept');
  assert.ok(
    !sh('ps', ['-eo', 'args']).includes(`${s.name}.${idle.pid}`),
    'no btrfs receive left in its staging folder',
  );
});

test('[remote input] garbage instead of a stream: exit 3', async () => {
  await refused(rootA, `receive home x3 ${U} -`, 3, Buffer.from('#!/bin/sh\nrm -rf /\n'), /header/);
});

test("[remote input] host A cannot list, send or receive into host B's root", async () => {
  const listA = answer(await serve(rootA, 'list'));
  assert.deepEqual(Object.keys(listA.folders), ['home']);
  assert.deepEqual(answer(await serve(rootA, 'list etc')).folders, {});
  await refused(rootA, 'send ../hostB/etc 2026-12-06_12-00-00 -', 2);
  await refused(rootA, 'send etc 2026-12-06_12-00-00 -', 2, undefined, /no complete backup/);
  // hostB is a name host A may give a folder of its own: its root has none
  assert.deepEqual(answer(await serve(rootA, 'list hostB')).folders, {});
});

test('[remote input] send of something in the folder that is no complete backup (a writable subvolume): refused', async () => {
  sh('btrfs', ['subvolume', 'create', join(rootA, 'home', 'writable')]);
  serverState(); // its first commit moves its generation once: before the refusal's "before"
  try {
    await refused(rootA, 'send home writable -', 2, undefined, /no complete backup/);
    assert.ok(!answer(await serve(rootA, 'list home')).folders.home.backups.some((b: Answer) => b.name === 'writable'));
  } finally {
    sh('btrfs', ['subvolume', 'delete', join(rootA, 'home', 'writable')]);
  }
});

test("[remote input] serve refuses a root that is a symlink, missing, or not root's alone: exit 1 before reading anything", async () => {
  const link = join(vault, 'link');
  symlinkSync(rootA, link);
  try {
    const r = await serve(link, 'list');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a folder/);
    assert.equal((await serve(join(vault, 'nope'), 'list')).code, 1);
    chmodSync(rootA, 0o777);
    const open = await serve(rootA, 'list');
    assert.equal(open.code, 1);
    assert.match(open.stderr, /not root's alone/);
  } finally {
    chmodSync(rootA, 0o700);
    rmSync(link);
  }
});

test('[signals and power] a receive killed mid-stream (SIGKILL): nothing half-received visible; the next serve removes the staging folder; the next incremental works', async () => {
  writeFileSync(
    join(client.mountPoint, 'data', 'big'),
    execFileSync('head', ['-c', '40000000', '/dev/urandom'], { maxBuffer: 2 ** 27 }),
  );
  const s = snapshot('2026-12-06_15-00-00');
  const stream = sendStream(s, a2);
  const line = `receive home ${s.name} ${s.uuid} ${a2.uuid}`;
  const child = spawnServe(rootA, line);
  child.stdin!.on('error', () => {});
  child.stdin!.write(stream.subarray(0, stream.length / 2));
  const staging = join(rootA, '.incoming', `${s.name}.${child.pid}`);
  await waitFor(() => existsSync(join(staging, s.name)));
  await waitFor(() => Number(sh('du', ['-sb', staging]).split('\t')[0]) > 1_000_000);
  child.kill('SIGKILL');
  await new Promise((r) => child.on('close', r));
  // the receive dies with serve (pdeathsig): wait until no btrfs receive writes there
  await waitFor(() => !sh('ps', ['-eo', 'args']).includes(`receive -e --chroot -- ${staging}`));
  assert.ok(!existsSync(join(rootA, 'home', s.name)), 'nothing half-received in the folder');
  assert.equal(readlinkSync(join(rootA, 'home', 'latest')), a2.name);
  assert.ok(existsSync(staging), 'the dead serve left its staging folder');
  answer(await serve(rootA, 'hello'));
  assert.ok(!existsSync(staging), 'the next serve removed it');
  const done = answer(await serve(rootA, line, stream));
  assert.equal(done.received.receivedUuid, s.uuid);
  assert.equal(readlinkSync(join(rootA, 'home', 'latest')), s.name);
});

test('[two of us at once] two receives into one folder: the second is refused (locked) and writes nothing', async () => {
  const s = snapshot('2026-12-06_16-00-00');
  const p15 = join(client.mountPoint, 'snaps', '2026-12-06_15-00-00');
  const parent = uuidOf(p15);
  const stream = sendStream(s, { path: p15, name: '2026-12-06_15-00-00', uuid: parent });
  const line = `receive home ${s.name} ${s.uuid} ${parent}`;
  const first = spawnServe(rootA, line);
  first.stdin!.write(stream.subarray(0, 100)); // holds the folder's lock, waiting for the rest
  await waitFor(() => existsSync(join(rootA, '.incoming', `${s.name}.${first.pid}`)));
  const second = await serve(rootA, line, stream);
  assert.equal(second.code, 4, second.stderr);
  assert.match(second.stderr, /another btrfs-vault run/);
  first.stdin!.end(stream.subarray(100));
  const firstOut: Buffer[] = [];
  first.stdout!.on('data', (c: Buffer) => firstOut.push(c));
  const code = await new Promise((r) => first.on('close', r));
  assert.equal(code, 0);
  assert.equal(JSON.parse(Buffer.concat(firstOut).toString()).received.name, s.name);
});

test("[remote input] a client's backup may hold a setuid-root program: serve refuses a root that others may enter (0755), so no local user reaches it", async () => {
  const evil = join(client.mountPoint, 'data', 'suid-shell');
  writeFileSync(evil, '#!/bin/sh\n');
  chmodSync(evil, 0o4755);
  const s = snapshot('2026-12-06_17-00-00');
  answer(await serve(rootA, `receive home ${s.name} ${s.uuid} -`, sendStream(s)));
  assert.equal(sh('stat', ['-c', '%a %U', join(rootA, 'home', s.name, 'suid-shell')]).trim(), '4755 root');
  chmodSync(rootA, 0o755);
  try {
    const r = await serve(rootA, 'list');
    assert.equal(r.code, 1, 'a root others may enter is refused');
    assert.match(r.stderr, /chmod 700/);
  } finally {
    chmodSync(rootA, 0o700);
  }
  assert.equal(sh('stat', ['-c', '%a', join(rootA, 'home')]).trim(), '700', "serve's folders are 0700");
});

test('[paths we are given] serve --root that is relative: refused (sshd starts it in the home folder)', async () => {
  const r = await serve('vault/hostA', 'list');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /absolute/);
});

test('serve: a send protocol 2 stream with compressed extents (btrfs send --compressed-data) is received', async () => {
  const comp = join(client.mountPoint, 'zdata');
  sh('btrfs', ['subvolume', 'create', comp]);
  sh('btrfs', ['property', 'set', comp, 'compression', 'zstd']);
  writeFileSync(join(comp, 'text'), 'compressible line\n'.repeat(200_000));
  sh('sync', []);
  const snapPath = join(client.mountPoint, 'snaps', 'z1');
  sh('btrfs', ['subvolume', 'snapshot', '-r', comp, snapPath]);
  const z = { path: snapPath, name: 'z1', uuid: uuidOf(snapPath) };
  const stream = execFileSync('btrfs', ['send', '-q', '--proto', '2', '--compressed-data', snapPath], {
    maxBuffer: 2 ** 30,
  });
  assert.equal(stream.readUInt32LE(13), 2, 'a version 2 stream');
  assert.ok(stream.length < 3_600_000 / 4, `compressed on the wire (${stream.length} bytes)`);
  const r = answer(await serve(rootA, `receive zdata ${z.name} ${z.uuid} -`, stream));
  assert.equal(r.received.receivedUuid, z.uuid);
  sh('cmp', [join(comp, 'text'), join(rootA, 'zdata', 'z1', 'text')]);
});

function serverStatus(args: string[]) {
  const r = spawnSync('node', [BIN, 'status', '--serve-root', vault, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('status --serve-root: every host with its folders, newest backup and age; --check and a host with none', async () => {
  const r = serverStatus(['--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.deepEqual(
    s.hosts.map((h: Answer) => h.host),
    ['hostA', 'hostB'],
  );
  const a = s.hosts[0];
  const home = a.folders.find((f: Answer) => f.folder === 'home');
  // status and the client's list agree on the newest backup
  assert.equal(home.newest, answer(await serve(rootA, 'list home')).folders.home.latest);
  assert.ok(home.ageSeconds < 600, `age ${home.ageSeconds}`);
  assert.equal(a.stale, false);
  assert.equal(serverStatus(['--check']).code, 0);
  const quiet = join(vault, 'hostC');
  mkdirSync(quiet, { mode: 0o700 });
  try {
    const c = serverStatus(['--check']);
    assert.equal(c.code, 1);
    assert.match(c.stdout, /warning: host hostC: no backup received yet/);
  } finally {
    rmSync(quiet, { recursive: true });
  }
});

test('[time] status --serve-root: age is by the server clock (when serve took it), not by the name a client gave it (2099)', async () => {
  const s = snapshot('2099-01-01_00-00-00');
  const b1 = uuidOf(join(client.mountPoint, 'snaps', '2026-12-06_12-00-00'));
  answer(
    await serve(
      rootB,
      `receive etc ${s.name} ${s.uuid} ${b1}`,
      sendStream(s, {
        path: join(client.mountPoint, 'snaps', '2026-12-06_12-00-00'),
        name: '2026-12-06_12-00-00',
        uuid: b1,
      }),
    ),
  );
  assert.equal(serverStatus(['--check']).code, 0);
  // host B went quiet ten days ago: its record says so, whatever the name says
  const record = join(rootB, '.btrfs-vault-received');
  const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000).toISOString();
  writeFileSync(record, readFileSync(record, 'utf8').replace(/"at":"[^"]+"/g, `"at":"${tenDaysAgo}"`));
  const r = serverStatus(['--check', '--max-age', '7d']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /warning: host hostB: last backup 10 d ago \(max_age 7 d\)/);
  assert.equal(serverStatus(['--check', '--max-age', '2w']).code, 0);
  assert.equal(serverStatus(['--max-age', 'soon']).code, 2);
});

test("[what we delete] prune --serve-root: retention by the server's clock; only what serve recorded receiving is deleted, never latest's target; --dry-run deletes nothing", async () => {
  const home = join(rootA, 'home');
  // a read-only copy with a received UUID that serve did not receive (the admin's): never deleted
  sh('btrfs', ['subvolume', 'snapshot', '-r', join(home, a1.name), join(home, 'planted')]);
  // a1 and a2 were taken 400 days ago, in the same hour; the rest just now
  const record = join(rootA, '.btrfs-vault-received');
  const old = (m: number) => new Date(Date.now() - 400 * 86_400_000 + m * 60_000).toISOString();
  writeFileSync(
    record,
    readFileSync(record, 'utf8')
      .split('\n')
      .map((l) =>
        l.includes(`"name":"${a1.name}"`)
          ? l.replace(/"at":"[^"]+"/, `"at":"${old(0)}"`)
          : l.includes(`"name":"${a2.name}"`)
            ? l.replace(/"at":"[^"]+"/, `"at":"${old(1)}"`)
            : l,
      )
      .join('\n'),
  );
  const names = () => readdirSync(home).sort();
  const before = names();
  const dry = spawnSync('node', [BIN, 'prune', '--serve-root', vault, '--dry-run', '--json'], { encoding: 'utf8' });
  assert.equal(dry.status, 0, dry.stderr);
  assert.deepEqual(names(), before, 'a dry-run deletes nothing');
  const r = spawnSync('node', [BIN, 'prune', '--serve-root', vault, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout).folders.find((f: Answer) => f.host === 'hostA' && f.folder === 'home');
  assert.deepEqual(
    out,
    JSON.parse(dry.stdout).folders.find((f: Answer) => f.host === 'hostA' && f.folder === 'home'),
    'the dry-run said the same',
  );
  const latest = readlinkSync(join(home, 'latest'));
  // of the old hour the newer stays (hourly, daily), of this hour the newest (latest); the others go
  assert.ok(out.deleted.includes(a1.name), JSON.stringify(out));
  assert.ok(!out.deleted.includes(a2.name));
  assert.ok(!out.deleted.includes(latest));
  assert.ok(!out.deleted.includes('planted'));
  assert.deepEqual(
    names(),
    before.filter((n) => !out.deleted.includes(n)),
  );
  assert.ok(existsSync(join(home, 'planted')) && existsSync(join(home, latest)));
  // the next incremental still finds its parent
  const s = snapshot('2026-12-06_18-00-00');
  const p = {
    path: join(client.mountPoint, 'snaps', latest),
    name: latest,
    uuid: uuidOf(join(client.mountPoint, 'snaps', latest)),
  };
  answer(await serve(rootA, `receive home ${s.name} ${s.uuid} ${p.uuid}`, sendStream(s, p)));
  sh('btrfs', ['subvolume', 'delete', join(home, 'planted')]);
});

test("[two of us at once] prune --serve-root while a host's receive holds its folder: that folder is skipped (said so), the other hosts are pruned", async () => {
  const s = snapshot('2026-12-06_19-00-00');
  const line = `receive home ${s.name} ${s.uuid} -`;
  const holder = spawnServe(rootA, line);
  holder.stdin!.on('error', () => {});
  holder.stdin!.write(sendStream(s).subarray(0, 100));
  await waitFor(() => existsSync(join(rootA, '.incoming', `${s.name}.${holder.pid}`)));
  try {
    const r = spawnSync('node', [BIN, 'prune', '--serve-root', vault, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const folders = JSON.parse(r.stdout).folders;
    const home = folders.find((f: Answer) => f.host === 'hostA' && f.folder === 'home');
    assert.match(home.skipped, /another btrfs-vault run/);
    assert.ok(folders.some((f: Answer) => f.host === 'hostB' && f.skipped === undefined));
  } finally {
    holder.kill('SIGKILL');
    await new Promise((r) => holder.on('close', r));
  }
  answer(await serve(rootA, 'hello')); // its staging folder goes
});

test('[what we write into other formats] a verb line of 100 KiB: refused, and its log entry stays whole JSON (its first 256 characters and its length)', async () => {
  const line = `list ${'x'.repeat(100 * 1024)}`;
  const r = await serve(rootA, line);
  assert.equal(r.code, 2);
  assert.ok(r.stderr.length < 1000, `stderr stays short (${r.stderr.length})`);
  const entry = await waitFor(() =>
    logged.map((l) => JSON.parse(l.slice(l.indexOf('{')))).find((e) => e.line?.startsWith('list xxxx')),
  );
  assert.equal(entry.line.length, 256);
  assert.equal(entry.lineLength, line.length);
});

test('[space] the server filesystem full during a receive: exit 1 with the fix, nothing half-received, latest unchanged; after room is made the same receive works', async () => {
  const small = makeLoopBtrfs(dir, 'small', 256);
  try {
    const root = join(small.mountPoint, 'host');
    mkdirSync(root, { mode: 0o700 });
    const s = snapshot('2026-12-06_20-00-00'); // holds the 40 MB file
    const stream = sendStream(s);
    // leave about 15 MB
    const free = Number(sh('df', ['-B1', '--output=avail', small.mountPoint]).split('\n')[1]);
    sh('fallocate', ['-l', String(free - 15_000_000), join(small.mountPoint, 'filler')]);
    sh('sync', []);
    const r = await serve(root, `receive home ${s.name} ${s.uuid} -`, stream);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /No space left|ENOSPC/i);
    assert.ok(!existsSync(join(root, 'home', s.name)));
    assert.deepEqual(readdirSync(join(root, '.incoming')), []);
    rmSync(join(small.mountPoint, 'filler'));
    sh('btrfs', ['filesystem', 'sync', small.mountPoint]);
    const ok = answer(await serve(root, `receive home ${s.name} ${s.uuid} -`, stream));
    assert.equal(ok.received.receivedUuid, s.uuid);
  } finally {
    small.dispose();
  }
});

test('[two of us at once] prune --serve-root while a host restores (send) from a folder: that folder is skipped, nothing deleted under the send', async () => {
  // a backup that holds the 40 MB file: its stream outgrows every buffer on the way
  const oldest = answer(await serve(rootA, 'list home')).folders.home.latest;
  const reader = spawnServe(rootA, `send home ${oldest} -`);
  reader.stdin!.end();
  // nobody reads its stdout: btrfs send blocks on the full pipe, mid-stream
  let err = '';
  reader.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  await waitFor(() => {
    if (reader.exitCode !== null) throw new Error(`send ended: ${reader.exitCode} ${err}`);
    return sh('ps', ['-eo', 'args']).includes(`send -q -- ${join(rootA, 'home', oldest)}`);
  });
  try {
    const r = spawnSync('node', [BIN, 'prune', '--serve-root', vault, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const home = JSON.parse(r.stdout).folders.find((f: Answer) => f.host === 'hostA' && f.folder === 'home');
    assert.match(home.skipped ?? '', /another btrfs-vault run/);
  } finally {
    reader.kill('SIGKILL');
    await new Promise((r) => reader.on('close', r));
  }
  assert.ok(existsSync(join(rootA, 'home', oldest)));
});

// list: the run's first call (it says hello's answer too), of one folder or of all of them

test("[remote input] list of every folder: a folder that is a link to another host's root, or to one of its folders, is neither listed nor followed", async () => {
  const root = join(vault, 'hostC');
  mkdirSync(join(root, 'own'), { recursive: true, mode: 0o700 });
  symlinkSync(rootA, join(root, 'hostA-root'));
  symlinkSync(join(rootA, 'home'), join(root, 'home'));
  const all = answer(await serve(root, 'list'));
  assert.deepEqual(Object.keys(all.folders), ['own']);
  assert.doesNotMatch(JSON.stringify(all), new RegExp(a1.uuid));
  // named, a link in a folder's place is a failure (exit 1, "not a folder"), nothing of it read
  const before = serverState();
  const r = await serve(root, 'list home');
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout.length, 0);
  assert.match(r.stderr, /is not a folder/);
  assert.equal(serverState(), before);
});

test('[remote input] list of every folder: names a client cannot use (.hidden, a blank, latest), files, writable subvolumes and ones without a received UUID are not listed', async () => {
  const root = join(vault, 'hostD');
  mkdirSync(root, { mode: 0o700 });
  for (const f of ['.hidden', 'a b', 'latest', 'ok']) mkdirSync(join(root, f), { mode: 0o700 });
  writeFileSync(join(root, 'file'), 'x');
  sh('btrfs', ['subvolume', 'create', join(root, 'ok', 'writable')]);
  sh('btrfs', ['subvolume', 'create', join(root, 'ok', 'plain-ro')]);
  sh('btrfs', ['property', 'set', '-ts', join(root, 'ok', 'plain-ro'), 'ro', 'true']);
  // a link to another host's backup in a folder of this one
  symlinkSync(join(rootA, 'home', a1.name), join(root, 'ok', a1.name));
  const all = answer(await serve(root, 'list'));
  assert.deepEqual(all.folders, { ok: { latest: null, backups: [] } });
  assert.deepEqual(answer(await serve(root, 'list ok')).folders, all.folders);
});

test('[remote input] list with two folders, or a folder and more: refused (exit 2, one folder or none), nothing written, logged', async () => {
  await refused(rootA, 'list home other', 2, undefined, /list takes 0 to 1 arguments, not 2/);
  await refused(rootA, 'list home home', 2);
  await refused(rootA, 'list home;hello', 2, undefined, /not a name/);
});

test('[two of us at once] list of every folder while a receive into one of them runs: answers at once, only complete backups, nothing of the staging copy', async () => {
  const s = snapshot('2026-12-07_01-00-00');
  const latest = answer(await serve(rootA, 'list home')).folders.home;
  const parent = latest.backups.find((b: Answer) => b.name === latest.latest);
  const p = { path: join(client.mountPoint, 'snaps', parent.name), name: parent.name, uuid: parent.receivedUuid };
  const stream = sendStream(s, p);
  const line = `receive home ${s.name} ${s.uuid} ${p.uuid}`;
  const writer = spawnServe(rootA, line);
  writer.stdin!.on('error', () => {});
  writer.stdin!.write(stream.subarray(0, 200));
  const staging = join(rootA, '.incoming', `${s.name}.${writer.pid}`);
  await waitFor(() => existsSync(join(staging, s.name)));
  try {
    const all = answer(await serve(rootA, 'list'));
    assert.ok(!Object.keys(all.folders).some((f) => f.startsWith('.')), 'no staging folder is a folder of the answer');
    assert.ok(!all.folders.home.backups.some((b: Answer) => b.name === s.name || b.receivedUuid === s.uuid));
    assert.equal(all.folders.home.latest, latest.latest);
    assert.ok(existsSync(staging), "a list leaves a live receive's staging folder alone");
  } finally {
    writer.stdin!.end(stream.subarray(200));
    await new Promise((r) => writer.on('close', r));
  }
  const after = answer(await serve(rootA, 'list')).folders.home;
  assert.equal(after.latest, s.name);
});

test('[signals and power] a receive killed mid-stream, then list of every folder: the dead staging folder is gone first and nothing of it is listed', async () => {
  const s = snapshot('2026-12-07_02-00-00');
  const line = `receive fresh ${s.name} ${s.uuid} -`;
  const child = spawnServe(rootA, line);
  child.stdin!.on('error', () => {});
  const stream = sendStream(s);
  child.stdin!.write(stream.subarray(0, stream.length / 2));
  const staging = join(rootA, '.incoming', `${s.name}.${child.pid}`);
  await waitFor(() => existsSync(join(staging, s.name)));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('close', r));
  await waitFor(() => !sh('ps', ['-eo', 'args']).includes(`receive -e --chroot -- ${staging}`));
  const all = answer(await serve(rootA, 'list'));
  assert.ok(!existsSync(staging), 'the list removed the dead staging folder');
  assert.ok(!('fresh' in all.folders), 'no folder of a receive that never completed');
  assert.doesNotMatch(JSON.stringify(all), new RegExp(s.uuid));
});

test('[two of us at once] two lists of every folder at once, with a dead staging folder to remove: both answer the same folders, the folder is gone', async () => {
  const s = snapshot('2026-12-07_03-00-00');
  const child = spawnServe(rootA, `receive fresh ${s.name} ${s.uuid} -`);
  child.stdin!.on('error', () => {});
  const stream = sendStream(s);
  child.stdin!.write(stream.subarray(0, stream.length / 2));
  const staging = join(rootA, '.incoming', `${s.name}.${child.pid}`);
  await waitFor(() => existsSync(join(staging, s.name)));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('close', r));
  await waitFor(() => !sh('ps', ['-eo', 'args']).includes(`receive -e --chroot -- ${staging}`));
  const [one, two] = await Promise.all([serve(rootA, 'list'), serve(rootA, 'list')]);
  assert.deepEqual(answer(one).folders, answer(two).folders);
  assert.ok(!existsSync(staging));
});

test('[signals and power] serve killed (SIGKILL) while it lists every folder: nothing written; the next list answers whole', async () => {
  const before = serverState();
  for (let i = 0; i < 3; i++) {
    const child = spawnServe(rootA, 'list');
    // listened for before the wait: a list that ends within it has closed by the kill
    const closed = new Promise((r) => child.on('close', r));
    child.stdin!.end();
    // at once, or once it runs its first program
    await new Promise((r) => setTimeout(r, 40 * i));
    child.kill('SIGKILL');
    await closed;
  }
  assert.equal(serverState(), before);
  assert.ok('home' in answer(await serve(rootA, 'list')).folders);
});
