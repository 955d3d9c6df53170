import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BIN, type CliResult } from '../support/cli.js';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../support/loop-disk.js';
import { makeScenario, type Scenario } from '../support/scenario.js';
import { sh } from '../support/sh.js';
import { makeSshd, type Sshd, targetAddArgs, authorizePrinted } from '../support/sshd.js';
import { ATTR, CMD, streamCommand, streamHeader, u64, uuidBytes, type Attr } from '../support/send-stream.js';
import { hostRecordFile } from '../../src/system/host-record.js';
import { snapshotTime } from '../../src/core/retention.js';
import { loadConfig } from '../../src/config/load.js';
import { destination, sshExit, sshOptions } from '../../src/flows/remote/ssh.js';
import { encodeServePath } from '../../src/core/serve-verbs.js';
import { spawn, spawnSync } from 'node:child_process';

// restore from a backup server as from a disk: --before, --writable, the server's stream
// through the client's guard. A real sshd on 127.0.0.1 runs the real serve as the forced
// command of one key and a lying server (a script answering crafted JSON and streams) as
// that of another. One scenario for the file; the cases run in order.

const SERVE = `${process.execPath} ${BIN}`;

let s: Scenario;
let srv: LoopFs;
let sshd: Sshd;
let serveRoot: string;
let folder = '';
/** the backups on the server, oldest first */
let names: string[] = [];
let liarConfig = '';
let liarDir = '';

/**
 * The CLI run without blocking this process: sshd's log goes to a pipe this process
 * reads, and a synchronous run leaves it unread until sshd blocks on it (no connection
 * is taken any more).
 */
function cli(args: string[]): Promise<CliResult> {
  const child = s.spawnCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}
const run = (args: string[]) => cli([...args, '--config', s.config]);

/** a verb line of our own to the real serve, over the offsite key (what a client could send) */
async function rawLine(line: string): Promise<CliResult> {
  const remote = (await loadConfig(s.config)).remotes![0]!;
  const child = spawn('ssh', [...sshOptions(remote), '--', destination(remote), line], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}
const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;
const receivedUuid = (path: string) => /Received UUID:\s*(\S+)/.exec(sh('btrfs', ['subvolume', 'show', path]))![1]!;
const uuidOf = (path: string) => /^\s*UUID:\s*(\S+)/m.exec(sh('btrfs', ['subvolume', 'show', path]))![1]!;
const readonly = (path: string) => /ro=true/.test(sh('btrfs', ['property', 'get', '-ts', path, 'ro']));
const freshDir = (name: string) => {
  const d = join(s.src.mountPoint, name);
  mkdirSync(d, { recursive: true });
  return d;
};
const deleteAll = (dir: string) => {
  for (const e of readdirSync(dir)) sh('btrfs', ['subvolume', 'delete', join(dir, e)]);
};

before(async () => {
  requireRoot();
  // room for the measured case's backup received whole beside its source
  s = makeScenario({ sizeMiB: 768 });
  srv = makeLoopBtrfs(s.dir, 'srv', 768);
  serveRoot = join(srv.mountPoint, 'serve');
  const init = s.cli(['serve', '--init', serveRoot]);
  assert.equal(init.code, 0, init.stderr);
  mkdirSync(join(serveRoot, 'testhost'), { mode: 0o700 });
  sshd = await makeSshd(join(s.dir, 'sshd'));
  await sshd.start();
  const add = await run(targetAddArgs(sshd, 'offsite', serveRoot));
  assert.equal(add.code, 0, add.stderr);
  authorizePrinted(sshd, add.stdout, SERVE);
  // two backups on the disk and the server, a second apart (names are to the second)
  writeFileSync(join(s.data, 'first'), 'one');
  const b1 = await run(['backup', '--json']);
  assert.equal(b1.code, 0, b1.stderr + b1.stdout);
  await new Promise((r) => setTimeout(r, 1100));
  writeFileSync(join(s.data, 'second'), randomBytes(50_000));
  const b2 = await run(['backup', '--json']);
  assert.equal(b2.code, 0, b2.stderr + b2.stdout);
  const l = await run(['list', '--target', 'offsite', '--json']);
  const folders = json(l.stdout).folders as Record<string, { backups: { name: string }[] }>;
  folder = Object.keys(folders)[0]!;
  names = folders[folder]!.backups.map((b) => b.name);
  assert.equal(names.length, 2, l.stdout);

  // the lying server: another key, whose forced command answers from files the cases write
  liarDir = join(s.dir, 'liar');
  mkdirSync(liarDir);
  const liar = join(liarDir, 'liar.py');
  writeFileSync(
    liar,
    [
      'import os, sys, time',
      "w = os.environ.get('SSH_ORIGINAL_COMMAND', '').split(' ')",
      'd = sys.argv[1]',
      'if w[0] == \'hello\': print(\'{"protocol": 1, "version": "liar", "freeBytes": 1}\')',
      "elif w[0] == 'list': sys.stdout.write(open(os.path.join(d, 'list.json')).read())",
      "elif w[0] == 'send':",
      "    sys.stdout.buffer.write(open(os.path.join(d, 'stream.bin'), 'rb').read())",
      '    sys.stdout.flush()',
      "    if os.path.exists(os.path.join(d, 'slow')): time.sleep(60)",
      "elif w[0] == 'files': sys.stdout.write(open(os.path.join(d, 'files.json')).read())",
      'else: sys.exit(2)',
      '',
    ].join('\n'),
  );
  liarConfig = join(s.configDir, 'liar.toml');
  writeFileSync(
    liarConfig,
    `host = "testhost"\nsources = [${JSON.stringify(s.data)}]\nsnapshot_dir = ${JSON.stringify(join(s.src.mountPoint, 'snapshots'))}\n\n[targets.liar]\nssh = "root@127.0.0.1"\nport = ${sshd.port}\nidentity = "liar_id"\nknown_hosts = "ssh/known_hosts"\n`,
    { mode: 0o600 },
  );
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(s.configDir, 'liar_id')]);
  const pub = readFileSync(join(s.configDir, 'liar_id.pub'), 'utf8').trim();
  writeFileSync(
    sshd.authorizedKeys,
    `${readFileSync(sshd.authorizedKeys, 'utf8')}restrict,command="/usr/bin/python3 ${liar} ${liarDir}" ${pub}\n`,
  );
});

after(async () => {
  if (s) for (const c of [s.config, liarConfig]) spawnSync(...sshExit((await loadConfig(c)).remotes![0]!));
  await sshd?.stop();
  srv?.dispose();
  if (s) rmSync(hostRecordFile(liarConfig), { force: true });
  s?.dispose();
});

test('restore --target SERVER --before: the newest backup older than the time, with its content', async () => {
  const to = freshDir('r-before');
  // the second backup's own time: only the first is older
  const r = await run(['restore', s.data, '--target', 'offsite', '--before', names[1]!, '--to', to, '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const restored = json(r.stdout).restored as string;
  assert.equal(restored, join(to, names[0]!));
  assert.equal(readFileSync(join(restored, 'first'), 'utf8'), 'one');
  assert.ok(!existsSync(join(restored, 'second')));
  assert.ok(readonly(restored));
  assert.equal(receivedUuid(restored), uuidOf(join(s.src.mountPoint, 'snapshots', folder, names[0]!)));
  assert.deepEqual(readdirSync(to), [names[0]]);
  deleteAll(to);
});

test('[ordering and agreement] restore --before from the disk and from the server: the same backup', async () => {
  // a second after the second backup's time: both must pick the second
  const at = new Date(snapshotTime(names[1]!)!.getTime() + 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  const disk = freshDir('r-agree-disk');
  const server = freshDir('r-agree-srv');
  const d = await run(['restore', s.data, '--before', at, '--to', disk, '--json']);
  const v = await run(['restore', s.data, '--target', 'offsite', '--before', at, '--to', server, '--json']);
  assert.equal(d.code, 0, d.stderr + d.stdout);
  assert.equal(v.code, 0, v.stderr + v.stdout);
  assert.equal(json(d.stdout).backup, json(v.stdout).backup);
  deleteAll(disk);
  deleteAll(server);
});

test('restore --target SERVER --writable: the read-only backup and a writable snapshot beside it', async () => {
  const to = freshDir('r-writable');
  const r = await run(['restore', s.data, names[1]!, '--target', 'offsite', '--writable', '--to', to, '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = json(r.stdout);
  const restored = join(to, names[1]!);
  assert.equal(out.restored, restored);
  assert.equal(out.writable, `${restored}.writable`);
  assert.ok(readonly(restored));
  assert.ok(!readonly(`${restored}.writable`));
  assert.deepEqual(readFileSync(join(`${restored}.writable`, 'second')), readFileSync(join(s.data, 'second')));
  writeFileSync(join(`${restored}.writable`, 'edited'), 'yes');
  const text = await run(['restore', s.data, names[0]!, '--target', 'offsite', '--writable', '--to', to]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`and a writable copy ${join(to, names[0]!)}\\.writable`));
  deleteAll(to);
});

test('[paths we are given] restore --target SERVER --writable where NAME.writable exists: refused before anything is sent, nothing made', async () => {
  const to = freshDir('r-writable-taken');
  mkdirSync(join(to, `${names[1]}.writable`));
  writeFileSync(join(to, `${names[1]}.writable`, 'mine'), 'keep');
  const r = await run(['restore', s.data, names[1]!, '--target', 'offsite', '--writable', '--to', to, '--json']);
  assert.equal(r.code, 2, r.stderr + r.stdout);
  assert.match(json(r.stdout).error as string, /\.writable exists already/);
  assert.deepEqual(readdirSync(to), [`${names[1]}.writable`]);
  assert.equal(readFileSync(join(to, `${names[1]}.writable`, 'mine'), 'utf8'), 'keep');
  rmSync(join(to, `${names[1]}.writable`), { recursive: true });
});

test('[time] restore --target SERVER with options that do not go together, or a --before older than every backup: refused (exit 2) as for a disk, nothing made', async () => {
  const to = freshDir('r-refused');
  const cases: [string[], RegExp][] = [
    [['--before', '2000-01-01'], /no backup of .* is older than 2000-01-01/],
    [['--before', 'yesterday-ish'], /is not a date and time/],
    [[names[0]!, '--before', names[1]!], /each picks the backup/],
    [['--overwrite'], /a whole backup never overwrites anything/],
    [['no-such-backup'], /no complete backup named no-such-backup/],
  ];
  for (const [extra, why] of cases) {
    const r = await cli(['restore', s.data, ...extra, '--target', 'offsite', '--to', to, '--config', s.config]);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}${r.stdout}`);
    assert.match(r.stderr + r.stdout, why, extra.join(' '));
  }
  assert.deepEqual(readdirSync(to), []);
});

// --- a lying server: what it lists and streams is crafted ----------------------------

const LIE_UUID = '11111111-2222-3333-4444-555555555555';
const LIE_NAME = '2026-01-01T000000Z';
const lieList = (backups = [{ name: LIE_NAME, receivedUuid: LIE_UUID }]) =>
  writeFileSync(
    join(liarDir, 'list.json'),
    `${JSON.stringify({
      folders: {
        [folder]: {
          latest: backups.at(-1)?.name ?? null,
          backups: backups.map((b) => ({
            name: b.name,
            uuid: '99999999-8888-7777-6666-555555555555',
            receivedUuid: b.receivedUuid,
            parentUuid: null,
            readonly: true,
          })),
        },
      },
    })}\n`,
  );
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});
/** a command with the crc receive checks (crc32c, seed 0, over the command with its crc field 0): receive would obey it */
const signed = (cmd: Buffer): Buffer => {
  let crc = 0;
  for (const b of cmd) crc = (CRC_TABLE[(crc ^ b) & 0xff]! ^ (crc >>> 8)) >>> 0;
  cmd.writeUInt32LE(crc, 6);
  return cmd;
};
const command = (cmd: number, attrs: Attr[]) => signed(streamCommand(cmd, attrs));
const subvol = (name = LIE_NAME, uuid = LIE_UUID) =>
  command(CMD.subvol, [
    [ATTR.path, name],
    [ATTR.uuid, uuidBytes(uuid)],
    [ATTR.ctransid, u64(7)],
  ]);
const mkfile = (path: string) =>
  command(CMD.mkfile, [
    [ATTR.path, path],
    [ATTR.ino, u64(257)],
  ]);
const END = command(CMD.end, []);
const lieStream = (...parts: Buffer[]) => writeFileSync(join(liarDir, 'stream.bin'), Buffer.concat(parts));
const restoreFromLiar = (to: string, extra: string[] = []) =>
  cli(['restore', s.data, ...extra, '--target', 'liar', '--to', to, '--json', '--config', liarConfig]);

/** a crafted stream is stopped by the client's guard: exit 3, the reason named, nothing left in --to or above it */
async function refusedByGuard(what: string, stream: Buffer[], why: RegExp): Promise<void> {
  const to = freshDir(`r-liar-${what}`);
  lieList();
  lieStream(...stream);
  const before = readdirSync(s.src.mountPoint).sort();
  const r = await restoreFromLiar(to);
  assert.equal(r.code, 3, `${what}: ${r.stderr}${r.stdout}`);
  const error = json(r.stdout).error as string;
  assert.match(error, /stopped before btrfs receive saw the bad part/, what);
  assert.match(error, why, what);
  assert.deepEqual(readdirSync(to), [], what);
  assert.deepEqual(readdirSync(s.src.mountPoint).sort(), before, what);
  assert.ok(!existsSync(join(s.src.mountPoint, 'planted')), what);
}

test('[remote input] a lying server streams the backup asked for under another UUID: stopped by the guard, nothing restored', async () => {
  await refusedByGuard('uuid', [streamHeader(), subvol(LIE_NAME, '66666666-7777-8888-9999-000000000000'), END], /UUID/);
});

test('[remote input] a lying server streams another backup than the one asked for (its name): stopped, nothing restored', async () => {
  await refusedByGuard('name', [streamHeader(), subvol('2099-01-01T000000Z'), END], /creates the subvolume/);
});

test('[remote input] [paths we are given] a stream that writes through "..": stopped before receive sees it, nothing planted outside --to', async () => {
  await refusedByGuard('dotdot', [streamHeader(), subvol(), mkfile('../../../planted'), END], /"\.\."/);
});

test('[remote input] [paths we are given] a stream with an absolute path: stopped, nothing restored', async () => {
  await refusedByGuard(
    'absolute',
    [streamHeader(), subvol(), mkfile(`/${s.src.mountPoint}/planted`), END],
    /absolute path/,
  );
});

test("[remote input] a stream that clones from another subvolume here (a local snapshot's UUID): stopped, nothing of it read", async () => {
  const local = join(s.src.mountPoint, 'snapshots', folder, names[0]!);
  const clone = command(CMD.clone, [
    [ATTR.path, 'f'],
    [ATTR.fileOffset, u64(0)],
    [ATTR.cloneLen, u64(3)],
    [ATTR.cloneUuid, uuidBytes(uuidOf(local))],
    [ATTR.cloneCtransid, u64(1)],
    [ATTR.clonePath, 'first'],
    [ATTR.cloneOffset, u64(0)],
  ]);
  await refusedByGuard('clone', [streamHeader(), subvol(), mkfile('f'), clone, END], /clones from subvolume/);
});

test('[remote input] a stream that makes a second subvolume, or an incremental one when a full one was asked: stopped', async () => {
  await refusedByGuard('second', [streamHeader(), subvol(), subvol('other', LIE_UUID), END], /second subvolume/);
  const snap = command(CMD.snapshot, [
    [ATTR.path, LIE_NAME],
    [ATTR.uuid, uuidBytes(LIE_UUID)],
    [ATTR.ctransid, u64(7)],
    [ATTR.cloneUuid, uuidBytes(uuidOf(join(s.src.mountPoint, 'snapshots', folder, names[0]!)))],
    [ATTR.cloneCtransid, u64(1)],
  ]);
  await refusedByGuard('incremental', [streamHeader(), snap, END], /incremental stream/);
});

test('[remote input] a second stream after the end command, or bytes that are no send stream: stopped, nothing restored', async () => {
  await refusedByGuard('two', [streamHeader(), subvol(), END, streamHeader(), subvol(), END], /bytes follow the end/);
  await refusedByGuard('garbage', [Buffer.from('#!/bin/sh\nrm -rf /\n')], /header/);
});

test('[time] a lying server lists a backup whose name is no time: --before never picks it (refused, exit 2), no crash', async () => {
  const to = freshDir('r-liar-notime');
  lieList([{ name: 'not-a-time', receivedUuid: LIE_UUID }]);
  const r = await restoreFromLiar(to, ['--before', '2030-01-01']);
  assert.equal(r.code, 2, r.stderr + r.stdout);
  assert.match(r.stderr + r.stdout, /no backup of .* is older than 2030-01-01/);
  assert.deepEqual(readdirSync(to), []);
});

test('[remote input] a well-formed stream of the backup asked for from a lying server is received; only then checked and kept', async () => {
  const to = freshDir('r-liar-good');
  lieList();
  lieStream(streamHeader(), subvol(), mkfile('hello'), END);
  const r = await restoreFromLiar(to);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.deepEqual(readdirSync(to), [LIE_NAME]);
  assert.equal(receivedUuid(join(to, LIE_NAME)), LIE_UUID);
  assert.ok(existsSync(join(to, LIE_NAME, 'hello')));
  deleteAll(to);
});

// --- files SOURCE PATH --target SERVER --------------------------------------------------

type Version = { backup: string; type: string; size: number; mtime: string; changed: boolean };

test('files SOURCE PATH --target SERVER: each backup holding PATH, as the disk shows it (text and --json, plus target)', async () => {
  const server = await run(['files', s.data, 'second', '--target', 'offsite', '--json']);
  assert.equal(server.code, 0, server.stderr + server.stdout);
  const out = json(server.stdout);
  assert.match(out.target as string, /^ssh:\/\/root@127\.0\.0\.1:\d+$/);
  const versions = out.versions as Version[];
  assert.deepEqual(
    versions.map((v) => [v.backup, v.type, v.size]),
    [[names[1], 'file', 50_000]],
  );
  const first = json((await run(['files', s.data, join(s.data, 'first'), '--target', 'offsite', '--json'])).stdout);
  assert.deepEqual(
    (first.versions as Version[]).map((v) => [v.backup, v.changed]),
    [
      [names[0], true],
      [names[1], false],
    ],
  );
  const text = await run(['files', s.data, 'first', '--target', 'offsite']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^first in the backups of .* \(\* = changed\):\n {2}\* \S+ {2}file +3 {2}/);
  const none = await run(['files', s.data, 'never-there', '--target', 'offsite']);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, /never-there is in none of the backups of/);
});

test('[ordering and agreement] files from the disk and from the server: the same versions, the same lines', async () => {
  for (const path of ['first', 'second']) {
    const disk = await run(['files', s.data, path, '--json']);
    const server = await run(['files', s.data, path, '--target', 'offsite', '--json']);
    assert.equal(disk.code, 0, disk.stderr + disk.stdout);
    assert.deepEqual(json(server.stdout).versions, json(disk.stdout).versions, path);
    const dt = await run(['files', s.data, path]);
    const st = await run(['files', s.data, path, '--target', 'offsite']);
    // the disk's run shows its steps (opening the disk) first; the answer is the same
    const answer = (t: string) => t.slice(t.indexOf(`${path} in the backups of`));
    assert.equal(answer(st.stdout), answer(dt.stdout), path);
    assert.ok(answer(st.stdout).length > 0 && st.stdout.startsWith(`${path} in the backups of`), st.stdout);
  }
});

test('[paths we are given] files --target SERVER through a symlink in the backup that points out: not followed (the link itself is shown, nothing behind it)', async () => {
  symlinkSync('/etc', join(s.data, 'out'));
  const b = await run(['backup', '--target', 'offsite', '--json']);
  assert.equal(b.code, 0, b.stderr + b.stdout);
  const link = json((await run(['files', s.data, 'out', '--target', 'offsite', '--json'])).stdout);
  assert.deepEqual(
    (link.versions as Version[]).map((v) => v.type),
    ['symlink'],
  );
  const through = await run(['files', s.data, 'out/passwd', '--target', 'offsite', '--json']);
  assert.equal(through.code, 0, through.stderr + through.stdout);
  assert.deepEqual(json(through.stdout).versions, []);
  // the raw line too: the server answers nothing behind the link
  const raw = await rawLine(`files ${folder} ${encodeServePath('out/passwd')}`);
  assert.equal(raw.code, 0, raw.stderr);
  assert.deepEqual(JSON.parse(raw.stdout), { files: [] });
});

test("[paths we are given] [remote input] files lines with '..', an absolute PATH, an empty component, NUL, or one over the line's limit: serve refuses (exit 2), answers nothing", async () => {
  const b64 = (bytes: Buffer | string) => Buffer.from(bytes).toString('base64url');
  for (const word of [
    b64('../../../etc'),
    b64('a/../../..'),
    b64('/etc/shadow'),
    b64('a//b'),
    b64(Buffer.from('a\0b')),
    b64('x'.repeat(400)),
    'Li4=',
    '..',
  ]) {
    const r = await rawLine(`files ${folder} ${word}`);
    assert.equal(r.code, 2, `${word}: ${r.stderr}`);
    assert.equal(r.stdout, '', word);
    assert.match(r.stderr, /^btrfs-vault serve: the verb line was refused: /, word);
  }
  // the client refuses a path outside the source before it asks
  const outside = await run(['files', s.data, '/etc/passwd', '--target', 'offsite']);
  assert.equal(outside.code, 2, outside.stderr + outside.stdout);
  assert.match(outside.stderr + outside.stdout, /is not inside the source/);
});

test('[remote input] a lying server answers files with what is no protocol reply (a name with "/", a mode over 07777, two lines, not JSON): refused, nothing shown as found', async () => {
  const good = { backup: LIE_NAME, type: 'file', size: 1, mtime: '2026-01-01T00:00:00.000Z', mode: 0o644 };
  for (const [what, text] of [
    ['a name with /', JSON.stringify({ files: [{ ...good, backup: '../other-host' }] })],
    ['a mode over 07777', JSON.stringify({ files: [{ ...good, mode: 0o100644 }] })],
    ['a type of its own', JSON.stringify({ files: [{ ...good, type: 'device' }] })],
    ['a negative size', JSON.stringify({ files: [{ ...good, size: -1 }] })],
    ['two lines', `${JSON.stringify({ files: [] })}\n${JSON.stringify({ files: [good] })}`],
    ['not JSON', 'files: none'],
  ] as const) {
    writeFileSync(join(liarDir, 'files.json'), `${text}\n`);
    const r = await cli(['files', s.data, 'first', '--target', 'liar', '--json', '--config', liarConfig]);
    assert.equal(r.code, 3, `${what}: ${r.stderr}${r.stdout}`);
    const out = json(r.stdout);
    assert.match(out.error as string, /not a protocol 1 reply/, what);
    assert.deepEqual(out.versions, [], what);
  }
});

// --- restore --path from a server ------------------------------------------------------

const stagings = () =>
  readdirSync(join(s.src.mountPoint, 'snapshots')).filter((n) => n.startsWith('.btrfs-vault-path-restore.'));

test('restore SOURCE --path P --target SERVER: the newest backup holding P received into a staging subvolume, P copied out, the staging deleted', async () => {
  const dest = join(freshDir('r-path'), 'second.back');
  const r = await run(['restore', s.data, '--path', 'second', '--target', 'offsite', '--to', dest, '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = json(r.stdout);
  assert.deepEqual(readFileSync(dest), readFileSync(join(s.data, 'second')));
  // the newest backup on the server holds it (later cases made more than names[])
  const listed = json((await run(['list', '--target', 'offsite', '--json'])).stdout).folders as Record<
    string,
    { backups: { name: string }[] }
  >;
  assert.equal((out.restored as { from: string }).from, listed[folder]!.backups.at(-1)!.name);
  assert.match(out.target as string, /^ssh:/);
  assert.deepEqual(stagings(), []);
  // named: a backup that has it, and one that has not (refused, nothing copied)
  const older = join(freshDir('r-path'), 'first.back');
  const named = await run(['restore', s.data, names[0]!, '--path', 'first', '--target', 'offsite', '--to', older]);
  assert.equal(named.code, 0, named.stderr + named.stdout);
  assert.match(named.stdout, new RegExp(`restored first from ${names[0]} to ${older}`));
  assert.equal(readFileSync(older, 'utf8'), 'one');
  const lacking = join(freshDir('r-path'), 'nope');
  const no = await run(['restore', s.data, names[0]!, '--path', 'second', '--target', 'offsite', '--to', lacking]);
  assert.equal(no.code, 2, no.stderr + no.stdout);
  assert.match(no.stdout + no.stderr, /second is not in the backup/);
  assert.ok(!existsSync(lacking));
  assert.deepEqual(stagings(), []);
});

test('[paths we are given] restore --path --target SERVER onto something that exists: refused without --overwrite, kept as .before-restore with it; the staging deleted either way', async () => {
  const dest = join(freshDir('r-path-over'), 'f');
  writeFileSync(dest, 'mine');
  const r = await run(['restore', s.data, '--path', 'first', '--target', 'offsite', '--to', dest]);
  assert.equal(r.code, 2, r.stderr + r.stdout);
  assert.equal(readFileSync(dest, 'utf8'), 'mine');
  assert.deepEqual(stagings(), []);
  const o = await run(['restore', s.data, '--path', 'first', '--target', 'offsite', '--to', dest, '--overwrite']);
  assert.equal(o.code, 0, o.stderr + o.stdout);
  assert.equal(readFileSync(dest, 'utf8'), 'one');
  assert.equal(readFileSync(`${dest}.before-restore`, 'utf8'), 'mine');
  assert.deepEqual(stagings(), []);
});

test('[paths we are given] restore --path --target SERVER through a symlink in the backup (out -> /etc): nothing copied from outside it', async () => {
  const dest = join(freshDir('r-path-link'), 'passwd');
  const r = await run(['restore', s.data, '--path', 'out/passwd', '--target', 'offsite', '--to', dest]);
  assert.equal(r.code, 2, r.stderr + r.stdout);
  assert.match(r.stdout + r.stderr, /in none of the backups/);
  assert.ok(!existsSync(dest));
  // the link itself comes back as a link
  const link = join(freshDir('r-path-link'), 'out');
  const l = await run(['restore', s.data, '--path', 'out', '--target', 'offsite', '--to', link]);
  assert.equal(l.code, 0, l.stderr + l.stdout);
  assert.equal(readlinkSync(link), '/etc');
  assert.deepEqual(stagings(), []);
});

test('[two of us at once] two --path restores from the server at once: each its own staging; what fails says so, copies nothing half, and leaves no staging', async () => {
  // two folders: into one, the second is refused by the folder's lock (the case below)
  const a = join(freshDir('r-path-two-a'), 'a');
  const b = join(freshDir('r-path-two-b'), 'b');
  const [ra, rb] = await Promise.all([
    run(['restore', s.data, '--path', 'second', '--target', 'offsite', '--to', a]),
    run(['restore', s.data, '--path', 'first', '--target', 'offsite', '--to', b]),
  ]);
  // Either may fail: serve's send holds the folder's lock (the other is refused, exit 4
  // there).
  for (const [r, dest, want] of [
    [ra, a, readFileSync(join(s.data, 'second'))],
    [rb, b, Buffer.from('one')],
  ] as const) {
    if (r.code === 0) assert.deepEqual(readFileSync(dest), want);
    else {
      assert.match(r.stdout + r.stderr, /backup server offsite/, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /ended before its header/);
      assert.ok(!existsSync(dest));
    }
  }
  assert.ok(ra.code === 0 || rb.code === 0, ra.stdout + rb.stdout);
  assert.deepEqual(stagings(), []);
});

test('[two of us at once] two --path --overwrite restores from the server onto one file at once: one at a time, the second refused (exit 4) naming the run that holds it, the original kept as .before-restore', async () => {
  const dest = join(freshDir('r-path-same'), 'f');
  writeFileSync(dest, 'mine');
  const both = await Promise.all(
    ['second', 'first'].map((p) =>
      run(['restore', s.data, '--path', p, '--target', 'offsite', '--to', dest, '--overwrite']),
    ),
  );
  const won = both.filter((r) => r.code === 0);
  const lost = both.filter((r) => r.code !== 0);
  assert.equal(won.length, 1, both.map((r) => r.stdout + r.stderr).join('\n---\n'));
  assert.equal(lost[0]!.code, 4, lost[0]!.stdout + lost[0]!.stderr);
  assert.match(lost[0]!.stdout + lost[0]!.stderr, /another btrfs-vault run \(pid \d+, config .*\) is working with/);
  // what the one that ran restored, whole; the user's original where --overwrite keeps it
  const want = both[0]!.code === 0 ? readFileSync(join(s.data, 'second')) : Buffer.from('one');
  assert.deepEqual(readFileSync(dest), want);
  assert.equal(readFileSync(`${dest}.before-restore`, 'utf8'), 'mine');
  assert.deepEqual(
    readdirSync(join(s.src.mountPoint, 'r-path-same')).sort(),
    ['f', 'f.before-restore'],
    'no temporary left',
  );
  assert.deepEqual(stagings(), []);
});

test('[signals and power] Ctrl-C during a --path restore: its staging deleted; kill -9: the next run deletes what it left', async () => {
  lieList();
  writeFileSync(
    join(liarDir, 'files.json'),
    `${JSON.stringify({ files: [{ backup: LIE_NAME, type: 'file', size: 1, mtime: '2026-01-01T00:00:00.000Z', mode: 0o644 }] })}\n`,
  );
  // a stream that makes the subvolume, then stalls
  lieStream(streamHeader(), subvol(), mkfile('hello'));
  writeFileSync(join(liarDir, 'slow'), '');
  try {
    for (const sig of ['SIGINT', 'SIGKILL'] as const) {
      const child = s.spawnCli([
        'restore',
        s.data,
        '--path',
        'hello',
        '--target',
        'liar',
        '--to',
        join(freshDir('r-path-sig'), sig),
        '--config',
        liarConfig,
      ]);
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      child.stdout!.resume();
      const deadline = Date.now() + 30_000;
      // the staging holds the subvolume being received
      while (!stagings().some((n) => readdirSync(join(s.src.mountPoint, 'snapshots', n)).length > 0)) {
        assert.ok(Date.now() < deadline, `no staging subvolume appeared: ${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const ended = new Promise((r) => child.on('exit', r));
      child.kill(sig);
      await ended;
      if (sig === 'SIGINT') assert.deepEqual(stagings(), [], err);
      else assert.equal(stagings().length, 1);
    }
  } finally {
    rmSync(join(liarDir, 'slow'));
    // the killed run's master connection (ControlPersist) holds the stalled session: ended
    spawnSync(...sshExit((await loadConfig(liarConfig)).remotes![0]!));
  }
  // the next run (any --path restore) deletes what the killed one left
  const next = await run([
    'restore',
    s.data,
    '--path',
    'first',
    '--target',
    'offsite',
    '--to',
    join(freshDir('r-path-sig'), 'next'),
  ]);
  assert.equal(next.code, 0, next.stderr + next.stdout);
  assert.deepEqual(stagings(), []);
});

test("[what we delete] a dead run's staging holding what is not ours (a link to a snapshot, a folder with a file): only subvolumes are deleted, nothing through the link; a live run's staging is left alone", async () => {
  const snaps = join(s.src.mountPoint, 'snapshots');
  const dead = join(snaps, '.btrfs-vault-path-restore.999999');
  const live = join(snaps, `.btrfs-vault-path-restore.${process.pid}`);
  mkdirSync(dead, { mode: 0o700 });
  mkdirSync(live, { mode: 0o700 });
  const snapshot = join(snaps, folder, names[0]!);
  symlinkSync(snapshot, join(dead, 'link'));
  mkdirSync(join(dead, 'plain'));
  writeFileSync(join(dead, 'plain', 'keep'), 'keep');
  sh('btrfs', ['subvolume', 'create', join(dead, 'sub')]);
  sh('btrfs', ['subvolume', 'create', join(live, 'sub')]);
  try {
    const r = await run([
      'restore',
      s.data,
      '--path',
      'first',
      '--target',
      'offsite',
      '--to',
      join(freshDir('r-path-del'), 'x'),
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.ok(existsSync(join(snapshot, 'first')), 'the snapshot behind the link is there');
    assert.equal(readFileSync(join(dead, 'plain', 'keep'), 'utf8'), 'keep');
    assert.deepEqual(readdirSync(dead).sort(), ['link', 'plain']);
    assert.deepEqual(readdirSync(live), ['sub']);
  } finally {
    sh('btrfs', ['subvolume', 'delete', join(live, 'sub')]);
    rmSync(live, { recursive: true, force: true });
    rmSync(dead, { recursive: true, force: true });
  }
});

/**
 * The measured case's big file: what it shows is the ratio (an incremental --path restore
 * sends a few KiB, one without a parent here the whole backup), which any size far above
 * the incremental's 4 MiB bound shows; 64 MiB also keeps the whole restore of the case
 * after it streaming for several list runs.
 */
const BIG_MIB = 64;

test('measured: one small file out of a 64 MiB backup over ssh: incremental from a snapshot still here, else the whole backup', async () => {
  writeFileSync(join(s.data, 'big'), randomBytes(BIG_MIB * 1024 * 1024));
  const b3 = await run(['backup', '--target', 'offsite', '--json']);
  assert.equal(b3.code, 0, b3.stderr + b3.stdout);
  writeFileSync(join(s.data, 'small'), 'small file');
  const b4 = await run(['backup', '--target', 'offsite', '--json']);
  assert.equal(b4.code, 0, b4.stderr + b4.stdout);
  const restoreSmall = async (dest: string) => {
    const started = Date.now();
    const r = await run(['restore', s.data, '--path', 'small', '--target', 'offsite', '--to', dest, '--json']);
    const wall = (Date.now() - started) / 1000;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(readFileSync(dest, 'utf8'), 'small file');
    assert.deepEqual(stagings(), []);
    return { ...(json(r.stdout) as { bytes: number; seconds: number; parent?: string }), wall };
  };
  const withParent = await restoreSmall(join(freshDir('r-path-measure'), 'with'));
  assert.ok(withParent.parent, 'a snapshot of the source is still here: incremental');
  assert.ok(withParent.bytes < 4 * 1024 * 1024, String(withParent.bytes));
  // the snapshots here renamed away (same folder: a read-only subvolume may be renamed there): no parent
  const here = join(s.src.mountPoint, 'snapshots', folder);
  const local = readdirSync(here).filter((n) => !n.startsWith('.') && n !== 'latest');
  for (const n of local) sh('mv', ['-T', '--', join(here, n), join(here, `away-${n}`)]);
  let without;
  try {
    without = await restoreSmall(join(freshDir('r-path-measure'), 'without'));
  } finally {
    for (const n of local) sh('mv', ['-T', '--', join(here, `away-${n}`), join(here, n)]);
  }
  assert.equal(without.parent, undefined);
  assert.ok(without.bytes > BIG_MIB * 1024 * 1024, String(without.bytes));
  console.log(
    `measured: restore --path of a 10-byte file from a ${BIG_MIB} MiB backup over ssh: with a local parent ${withParent.bytes} bytes, transfer ${withParent.seconds} s, run ${withParent.wall} s; without ${without.bytes} bytes, transfer ${without.seconds} s, run ${without.wall} s`,
  );
  rmSync(join(s.data, 'big'));
});

test('[two of us at once] list --target runs that end while a whole restore from the same server streams: the restore completes (each run its own connection: one run ending never closes another run of the same config)', async () => {
  // a filesystem of its own: the backup holds the measured case's big file
  const destFs = makeLoopBtrfs(s.dir, 'r-two-runs', 768);
  try {
    await restoreWhileListing(destFs.mountPoint);
  } finally {
    destFs.dispose();
  }
});

async function restoreWhileListing(dest: string): Promise<void> {
  const restore = run(['restore', s.data, '--target', 'offsite', '--to', dest, '--json']);
  let done = false;
  void restore.then(() => (done = true));
  // lists one after another for as long as the restore runs, each ending its run
  let lists = 0;
  let endedDuring = 0;
  while (!done && lists < 20) {
    const l = await run(['list', '--target', 'offsite']);
    assert.equal(l.code, 0, l.stderr + l.stdout);
    lists++;
    if (!done) endedDuring++;
  }
  const r = await restore;
  assert.ok(lists > 0);
  assert.ok(endedDuring > 0, 'a list run ended while the restore streamed');
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const restored = (json(r.stdout) as { restored: string }).restored;
  assert.equal(readFileSync(join(restored, 'small'), 'utf8'), 'small file');
  assert.deepEqual(stagings(), []);
  sh('btrfs', ['subvolume', 'delete', '--', restored]);
}
