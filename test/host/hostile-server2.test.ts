import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BIN, type CliResult } from '../support/cli.js';
import { requireRoot } from '../support/loop-disk.js';
import { makeScenario, type Scenario } from '../support/scenario.js';
import { sh } from '../support/sh.js';
import { authorize, makeSshd, type Sshd, targetAddArgs, authorizePrinted } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { ATTR, CMD, streamCommand, streamHeader, u64, uuidBytes, type Attr } from '../support/send-stream.js';
import { hostRecordFile } from '../../src/system/host-record.js';
import { loadConfig } from '../../src/config/load.js';
import { sshExit } from '../../src/flows/remote/ssh.js';

// The second outside run on the backup server: what it gained today (the files verb,
// restore --path and the lying server behind it, [serve] in the server's config, doctor's
// reading of authorized_keys, setup's server answers) attacked by someone who wrote none
// of it. One scenario: the client's filesystem (the scenario's source) and the server's
// (the scenario's disk, the serve root with host A's and host B's roots), one real sshd
// whose forced commands are the real serve (A, B) and a lying server (a script). Cases
// run in order and leave the server as the next expects it.

const SERVE = `${process.execPath} ${BIN}`;
const LIE_UUID = '11111111-2222-3333-4444-555555555555';
const LIE_NAME = '2026-01-01T000000Z';

let s: Scenario;
let sshd: Sshd;
let vault: string;
let rootA: string;
let rootB: string;
let cfgA: string;
let liarCfg: string;
let liarDir: string;
let folder = '';
let keyB: string;
let logServer: Server;
let logSocket: string;
const logged: string[] = [];

const knownHosts = () => join(s.configDir, 'ssh', 'known_hosts');
const keyA = () => join(s.configDir, 'ssh', 'id_ed25519');
const snaps = () => join(s.src.mountPoint, 'snapshots');

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** a real ssh with `key`, the verb line as its command, `input` on stdin */
function ssh(key: string, line: string, input?: Buffer): Out {
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
      '--',
      'root@127.0.0.1',
      line,
    ],
    { input: input ?? Buffer.alloc(0), maxBuffer: 2 ** 28, timeout: 60_000 },
  );
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}
const b64 = (bytes: Buffer | string) => Buffer.from(bytes).toString('base64url');
const filesA = (word: string, f = folder) => ssh(keyA(), `files ${f} ${word}`);

/** the CLI run without blocking this process (a lying server may stall) */
function cli(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<CliResult & { ms: number }> {
  const started = Date.now();
  const child = s.spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === 'SIGKILL' ? -9 : -1), stdout, stderr, ms: Date.now() - started });
    }),
  );
}
const runA = (args: string[], env: Record<string, string> = {}) => cli([...args, '--config', cfgA], env);
const runLiar = (args: string[], timeoutMs?: number) => cli([...args, '--config', liarCfg], {}, timeoutMs);
const json = (text: string) => JSON.parse(text) as Record<string, unknown>;
const uuidOf = (path: string) => /^\s*UUID:\s*(\S+)/m.exec(sh('btrfs', ['subvolume', 'show', path]))![1]!;
const stagings = () => readdirSync(snaps()).filter((n) => n.startsWith('.btrfs-vault-path-restore.'));
const freshDir = (name: string) => {
  const d = join(s.src.mountPoint, 'out', name);
  mkdirSync(d, { recursive: true });
  return d;
};

// --- the lying server's answers -----------------------------------------------------------

const liar = (name: string, text: string | Buffer) => writeFileSync(join(liarDir, name), text);
const mode = (name: string, on: boolean) =>
  on ? writeFileSync(join(liarDir, name), '') : rmSync(join(liarDir, name), { force: true });
const lieList = (backups = [{ name: LIE_NAME, receivedUuid: LIE_UUID }]) =>
  liar(
    'list.json',
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
const entry = (over: Record<string, unknown> = {}) => ({
  backup: LIE_NAME,
  type: 'file',
  size: 1,
  mtime: '2026-01-01T00:00:00.000Z',
  mode: 0o644,
  ...over,
});
const lieFiles = (...entries: Record<string, unknown>[]) =>
  liar('files.json', `${JSON.stringify({ files: entries })}\n`);
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});
/** a command with the crc receive checks: receive would obey it */
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
let ino = 300;
const mkfile = (path: string) =>
  command(CMD.mkfile, [
    [ATTR.path, path],
    [ATTR.ino, u64(ino++)],
  ]);
const symlink = (path: string, target: string) =>
  command(CMD.symlink, [
    [ATTR.path, path],
    [ATTR.ino, u64(ino++)],
    [ATTR.pathLink, target],
  ]);
const END = command(CMD.end, []);
const lieStream = (...parts: Buffer[]) => liar('stream.bin', Buffer.concat(parts));

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
    `host = "hosta"\nsources = [${JSON.stringify(s.data)}]\nsnapshot_dir = ${JSON.stringify(snaps())}\n`,
    { mode: 0o600 },
  );
  const add = await runA(targetAddArgs(sshd, 'offsite', vault));
  assert.equal(add.code, 0, add.stderr);
  authorizePrinted(sshd, add.stdout, `BTRFS_VAULT_TEST_SERVE_LOG_SOCKET=${logSocket} ${SERVE}`);
  // A's backup: a file, links out of the backup to B's root (absolute and relative), a deep folder
  writeFileSync(join(s.data, 'one'), 'first\n');
  symlinkSync(rootB, join(s.data, 'lnkB'));
  symlinkSync('../../../hostb', join(s.data, 'rel'));
  mkdirSync(join(s.data, ...Array<string>(170).fill('a')), { recursive: true });
  writeFileSync(join(s.data, ...Array<string>(170).fill('a'), 'deep'), 'deep\n');
  const b = await runA(['backup', '--json']);
  assert.equal(b.code, 0, b.stderr + b.stdout);
  folder = (json(b.stdout).targets as { sources: { name: string }[] }[])[0]!.sources[0]!.name;
  // host B: a key of its own and one backup in its folder bonly, holding f
  keyB = join(s.dir, 'key-b');
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyB]);
  authorize(
    sshd,
    `restrict,command="btrfs-vault serve --root ${rootB}" ${readFileSync(`${keyB}.pub`, 'utf8').trim()}`,
    `BTRFS_VAULT_TEST_SERVE_LOG_SOCKET=${logSocket} ${SERVE}`,
  );
  const sub = join(s.src.mountPoint, 'sub-b');
  sh('btrfs', ['subvolume', 'create', sub]);
  writeFileSync(join(sub, 'f'), 'b secret\n');
  mkdirSync(join(s.src.mountPoint, 'hs'));
  const snapB = join(s.src.mountPoint, 'hs', 'b-one');
  sh('btrfs', ['subvolume', 'snapshot', '-r', sub, snapB]);
  const stream = spawnSync('btrfs', ['send', '-q', snapB], { maxBuffer: 2 ** 28 }).stdout;
  const r = ssh(keyB, `receive bonly b-one ${uuidOf(snapB)} -`, stream);
  assert.equal(r.code, 0, r.stderr);
  // the lying server: a key whose forced command answers from files the cases write
  liarDir = join(s.dir, 'liar');
  mkdirSync(liarDir);
  const script = join(liarDir, 'liar.py');
  writeFileSync(
    script,
    [
      'import os, sys, time',
      "w = os.environ.get('SSH_ORIGINAL_COMMAND', '').split(' ')",
      'd = sys.argv[1]',
      'on = lambda n: os.path.exists(os.path.join(d, n))',
      "if w[0] == 'hello':",
      "    if on('hang'): time.sleep(150)",
      '    print(\'{"protocol": 1, "version": "liar"}\')',
      "elif w[0] == 'list': sys.stdout.write(open(os.path.join(d, 'list.json')).read())",
      "elif w[0] == 'send':",
      "    sys.stdout.buffer.write(open(os.path.join(d, 'stream.bin'), 'rb').read())",
      '    sys.stdout.flush()',
      "    if on('slow'): time.sleep(60)",
      "elif w[0] == 'files':",
      "    if on('flood'):",
      "        chunk = b'x' * 65536",
      '        try:',
      '            for i in range(40000): sys.stdout.buffer.write(chunk)',
      '        except BrokenPipeError: pass',
      "    elif on('million'):",
      '        e = b\'{"backup":"2026-01-01T000000Z","type":"file","size":1,"mtime":"2026-01-01T00:00:00.000Z","mode":420}\'',
      "        sys.stdout.buffer.write(b'{\"files\":[' + b','.join([e] * 1000000) + b']}\\n')",
      "    else: sys.stdout.write(open(os.path.join(d, 'files.json')).read())",
      'else: sys.exit(2)',
      '',
    ].join('\n'),
  );
  liarCfg = join(s.configDir, 'liar.toml');
  writeFileSync(
    liarCfg,
    `host = "hosta"\nsources = [${JSON.stringify(s.data)}]\nsnapshot_dir = ${JSON.stringify(snaps())}\n\n[targets.liar]\nssh = "root@127.0.0.1"\nport = ${sshd.port}\nidentity = "liar_id"\nknown_hosts = "ssh/known_hosts"\n`,
    { mode: 0o600 },
  );
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(s.configDir, 'liar_id')]);
  const pub = readFileSync(join(s.configDir, 'liar_id.pub'), 'utf8').trim();
  writeFileSync(
    sshd.authorizedKeys,
    `${readFileSync(sshd.authorizedKeys, 'utf8')}restrict,command="/usr/bin/python3 ${script} ${liarDir}" ${pub}\n`,
  );
  lieList();
  lieFiles(entry());
});

after(async () => {
  if (s) for (const c of [cfgA, liarCfg]) if (c) spawnSync(...sshExit((await loadConfig(c)).remotes![0]!));
  await sshd?.stop();
  logServer?.close();
  for (const c of [cfgA, liarCfg]) if (c) rmSync(hostRecordFile(c), { force: true });
  s?.dispose();
});

// --- the files verb through a real ssh -----------------------------------------------------

test('[remote input] files with non-canonical spellings of a good PATH (trailing bits set, = padding, the + / alphabet, a blank): exit 2, nothing answered', () => {
  // "on" is b24; b25 decodes to "on" as well, with the last two bits set
  assert.equal(Buffer.from('b25', 'base64url').toString(), 'on');
  const good = filesA(b64('one'));
  assert.equal(good.code, 0, good.stderr);
  assert.equal((JSON.parse(good.stdout) as { files: unknown[] }).files.length, 1);
  // Pz8/ and Pj4+ are ??? and >>> in the standard alphabet (Pz8_ and Pj4- in base64url)
  for (const word of ['b25', 'b25l=', 'Pz8/', 'Pj4+', 'b25l%20']) {
    const r = filesA(word);
    assert.equal(r.code, 2, `${word}: ${r.stderr}`);
    assert.equal(r.stdout, '', word);
  }
});

test('[remote input] files with PATHs whose bytes are no UTF-8 but read as ".." or "/" by a lax decoder (overlong C0 AE, C0 AF, a lone surrogate, \\xff): exit 2', () => {
  for (const bytes of [
    Buffer.from([0xc0, 0xae, 0xc0, 0xae]),
    Buffer.from([0xc0, 0xae, 0xc0, 0xae, 0xc0, 0xaf, 0x65, 0x74, 0x63]),
    Buffer.from([0xe0, 0x80, 0xaf]),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from([0x6f, 0x6e, 0x65, 0xff]),
  ]) {
    const r = filesA(b64(bytes));
    assert.equal(r.code, 2, `${bytes.toString('hex')}: ${r.stderr}`);
    assert.match(r.stderr, /not UTF-8/, bytes.toString('hex'));
  }
});

test('[remote input] files with look-alikes of "/" and ".." (fullwidth solidus, one-dot leaders, a zero-width space): answered as names, none found, nothing outside', () => {
  for (const path of ['\uff0fetc\uff0fpasswd', '\u2024\u2024/hostb', 'one\u200b', '\u2025/hostb']) {
    const r = filesA(b64(path));
    assert.equal(r.code, 0, `${path}: ${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout), { files: [] }, path);
  }
});

test("[remote input] files through links in A's backup to B's root (absolute and relative): the links shown as links, nothing of B's behind them", () => {
  for (const [link, behind] of [
    ['lnkB', 'lnkB/bonly/b-one/f'],
    ['rel', 'rel/bonly/b-one/f'],
  ] as const) {
    const l = JSON.parse(filesA(b64(link)).stdout) as { files: { type: string }[] };
    assert.deepEqual(
      l.files.map((f) => f.type),
      ['symlink'],
      link,
    );
    const r = filesA(b64(behind));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { files: [] }, behind);
  }
});

test("[remote input] files of B's folder with A's key, and of B's path with a folder the admin linked to B's: nothing of B's", () => {
  const r = filesA(b64('f'), 'bonly');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { files: [] });
  symlinkSync(join(rootB, 'bonly'), join(rootA, 'linked'));
  try {
    // serve refuses a folder that is a link (exit 1, the fix named), or answers nothing
    const l = filesA(b64('f'), 'linked');
    if (l.code === 0) assert.deepEqual(JSON.parse(l.stdout), { files: [] });
    else assert.match(l.stderr, /is not a folder; it is not serve's/);
    assert.doesNotMatch(l.stdout + l.stderr, /b-one/);
  } finally {
    rmSync(join(rootA, 'linked'));
  }
});

test('[paths we are given] files of the deepest path the line allows (170 components), and the client given 10,000 components: the first found, the second refused before asking with the fix', async () => {
  const deep = [...Array<string>(170).fill('a'), 'deep'].join('/');
  const r = filesA(b64(deep));
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { files: unknown[] }).files.length, 1);
  const huge = Array<string>(10_000).fill('a').join('/');
  const c = await runA(['files', s.data, huge, '--target', 'offsite']);
  assert.equal(c.code, 2, c.stderr + c.stdout);
  assert.match(c.stderr + c.stdout, /too long to ask a backup server/);
  assert.match(c.stderr + c.stdout, /restore the whole backup/);
});

test('[two of us at once] files while a receive into that folder is half-way: answered at once, the half-received backup not among the answers', async () => {
  // a stream that stalls after its first command: the receive holds the folder's lock
  const snap = join(s.src.mountPoint, 'hs', 'stall');
  sh('btrfs', ['subvolume', 'snapshot', '-r', s.data, snap]);
  const stream = spawnSync('btrfs', ['send', '-q', snap], { maxBuffer: 2 ** 28 }).stdout;
  const child = spawn(
    'ssh',
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
      '-p',
      String(sshd.port),
      '--',
      'root@127.0.0.1',
      `receive ${folder} stall ${uuidOf(snap)} -`,
    ],
    { stdio: ['pipe', 'ignore', 'ignore'] },
  );
  child.stdin.on('error', () => {});
  child.stdin.write(stream.subarray(0, Math.min(stream.length - 100, 64 * 1024)));
  try {
    await waitFor(
      () => existsSync(join(rootA, '.incoming')) && readdirSync(join(rootA, '.incoming')).length > 0,
      30_000,
    );
    const started = Date.now();
    const r = filesA(b64('one'));
    assert.ok(Date.now() - started < 15_000, 'files waited for the receive');
    assert.equal(r.code, 0, r.stderr);
    const found = (JSON.parse(r.stdout) as { files: { backup: string }[] }).files.map((f) => f.backup);
    assert.ok(!found.includes('stall'), JSON.stringify(found));
    assert.equal(found.length, 1);
  } finally {
    const gone = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await gone;
  }
  await waitFor(() => !existsSync(join(rootA, folder, 'stall')), 10_000);
});

test('[two of us at once] files from host A and three of host B at once (two keys, two roots): each answered, each its own', async () => {
  const rawB = () =>
    new Promise<Out>((res) => {
      const c = spawn('ssh', [
        '-F',
        '/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        `UserKnownHostsFile=${knownHosts()}`,
        '-o',
        `IdentityFile=${keyB}`,
        '-o',
        'IdentitiesOnly=yes',
        '-p',
        String(sshd.port),
        '--',
        'root@127.0.0.1',
        `files bonly ${b64('f')}`,
      ]);
      let stdout = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      c.on('close', (code) => res({ code, stdout, stderr: '' }));
    });
  const [a, ...bs] = await Promise.all([
    runA(['files', s.data, 'one', '--target', 'offsite', '--json']),
    rawB(),
    rawB(),
    rawB(),
  ]);
  assert.equal(a.code, 0, a.stderr + a.stdout);
  assert.equal((json(a.stdout).versions as unknown[]).length, 1);
  assert.doesNotMatch(a.stdout, /b-one/);
  for (const b of bs) {
    assert.equal(b.code, 0);
    assert.deepEqual(
      (JSON.parse(b.stdout) as { files: { backup: string }[] }).files.map((f) => f.backup),
      ['b-one'],
    );
  }
});

// --- a lying server -------------------------------------------------------------------------

test('[programs we run] a lying server answers files with 2.6 GB of bytes: the connection is ended once the answer passes its limit, the run refuses it naming the server, no crash, in seconds', async () => {
  mode('flood', true);
  try {
    const r = await runLiar(['files', s.data, 'one', '--target', 'liar', '--json'], 120_000);
    assert.notEqual(r.code, -9, `killed by the test after ${r.ms} ms: the run did not end`);
    // not the rest of the flood read and dropped (10-18 s here), nor for the 300 s answer limit
    assert.ok(r.ms < 5_000, `the run took ${r.ms} ms`);
    assert.equal(r.code, 3, r.stderr.slice(0, 2000));
    assert.doesNotMatch(r.stderr, /heap out of memory|RangeError|Invalid string length|internal error/i);
    assert.match(json(r.stdout).error as string, /liar .*more than \d+ bytes/);
  } finally {
    mode('flood', false);
  }
});

test('[programs we run] a lying server answers files with 10^6 entries (100 MB): refused as no protocol reply, nothing shown as found', async () => {
  mode('million', true);
  try {
    const r = await runLiar(['files', s.data, 'one', '--target', 'liar', '--json'], 120_000);
    assert.notEqual(r.code, -9, 'the run did not end');
    assert.ok(r.code === 3 || r.code === 1, `${r.code}: ${r.stderr.slice(0, 2000)}`);
    assert.doesNotMatch(r.stderr, /heap out of memory|RangeError|internal error/i);
    assert.deepEqual(json(r.stdout).versions, []);
  } finally {
    mode('million', false);
  }
});

test('[programs we run] a server that takes the connection and never answers hello: the run ends with an error naming the server, not held for ever', async () => {
  mode('hang', true);
  try {
    // the limit on hello shortened (30 s in a release): what is tried is that there is one
    const r = await cli(
      ['files', s.data, 'one', '--target', 'liar', '--json', '--config', liarCfg],
      { BTRFS_VAULT_TEST_HELLO_LIMIT_MS: '2000' },
      140_000,
    );
    assert.notEqual(r.code, -9, `the run was still waiting for the server after ${r.ms} ms`);
    assert.notEqual(r.code, 0);
    assert.match(json(r.stdout).error as string, /liar/);
  } finally {
    mode('hang', false);
    spawnSync(...sshExit((await loadConfig(liarCfg)).remotes![0]!));
  }
});

test('[remote input] a lying server answers files with sizes past 2^53, 1e300, a year-275760 time, a date that is none: refused or shown as numbers, never NaN or Infinity', async () => {
  for (const e of [
    entry({ size: 2 ** 64 }),
    entry({ size: 1e300 }),
    entry({ mtime: '+275760-09-13T00:00:00.000Z' }),
    entry({ mtime: '2026-13-45T99:99:99Z' }),
  ]) {
    lieFiles(e);
    const r = await runLiar(['files', s.data, 'one', '--target', 'liar']);
    assert.ok(r.code === 0 || r.code === 3, `${JSON.stringify(e)}: ${r.code} ${r.stderr}${r.stdout}`);
    assert.doesNotMatch(r.stdout + r.stderr, /NaN|Infinity|Invalid Date|internal error/, JSON.stringify(e));
  }
  lieFiles(entry());
});

test('[remote input] a lying server whose files answer names a backup its list does not have: restore --path refused, nothing received, no staging', async () => {
  lieList();
  lieFiles(entry({ backup: '2099-01-01T000000Z' }));
  lieStream(streamHeader(), subvol(), mkfile('one'), END);
  const to = join(freshDir('notlisted'), 'one');
  const r = await runLiar(['restore', s.data, '--path', 'one', '--target', 'liar', '--to', to]);
  assert.equal(r.code, 2, r.stderr + r.stdout);
  assert.ok(!existsSync(to));
  assert.deepEqual(stagings(), []);
  lieFiles(entry());
});

test("[remote input] restore --path of a file the lying server's stream makes a symlink to /etc/shadow: a link restored, not a byte of shadow; no staging left", async () => {
  lieList();
  lieFiles(entry({ backup: LIE_NAME, type: 'file' }));
  lieStream(streamHeader(), subvol(), symlink('one', '/etc/shadow'), END);
  const to = join(freshDir('shadow'), 'one');
  const r = await runLiar(['restore', s.data, '--path', 'one', '--target', 'liar', '--to', to]);
  assert.deepEqual(stagings(), []);
  if (r.code === 0) assert.equal(readlinkSync(to), '/etc/shadow');
  else assert.ok(!existsSync(to), r.stderr + r.stdout);
  assert.doesNotMatch(r.stdout + r.stderr, /root:/);
});

test('[remote input] restore --path d/hostname where the stream makes d a link to /etc: nothing copied from /etc, refused, no staging', async () => {
  lieList();
  lieFiles(entry());
  lieStream(streamHeader(), subvol(), symlink('d', '/etc'), END);
  const to = join(freshDir('through'), 'hostname');
  const r = await runLiar(['restore', s.data, '--path', 'd/hostname', '--target', 'liar', '--to', to]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.ok(!existsSync(to));
  assert.deepEqual(stagings(), []);
});

test('[remote input] restore --path whose stream is of another backup (name, UUID) or writes through "..": stopped by the guard, nothing at --to, no staging', async () => {
  lieList();
  lieFiles(entry());
  for (const stream of [
    [streamHeader(), subvol('2099-01-01T000000Z'), mkfile('one'), END],
    [streamHeader(), subvol(LIE_NAME, '66666666-7777-8888-9999-000000000000'), mkfile('one'), END],
    [streamHeader(), subvol(), mkfile('../../planted'), END],
  ]) {
    lieStream(...stream);
    const to = join(freshDir('guard'), 'one');
    const r = await runLiar(['restore', s.data, '--path', 'one', '--target', 'liar', '--to', to, '--json']);
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(json(r.stdout).error as string, /stopped before btrfs receive/);
    assert.ok(!existsSync(to));
    assert.ok(!existsSync(join(snaps(), 'planted')) && !existsSync(join(s.src.mountPoint, 'planted')));
    assert.deepEqual(stagings(), []);
  }
});

test("[remote input] restore --path with a local parent the lying server names: a clone from another subvolume here (host B's snapshot) is stopped, nothing of it read", async () => {
  // the server lists a backup named as the snapshot here, with its UUID as received UUID: a local parent
  const local = readdirSync(join(snaps(), folder)).find((n) => n !== 'latest' && !n.startsWith('.'))!;
  const localUuid = uuidOf(join(snaps(), folder, local));
  lieList([
    { name: local, receivedUuid: localUuid },
    { name: LIE_NAME, receivedUuid: LIE_UUID },
  ]);
  lieFiles(entry());
  const other = uuidOf(join(s.src.mountPoint, 'hs', 'b-one'));
  const snapshotCmd = command(CMD.snapshot, [
    [ATTR.path, LIE_NAME],
    [ATTR.uuid, uuidBytes(LIE_UUID)],
    [ATTR.ctransid, u64(9)],
    [ATTR.cloneUuid, uuidBytes(localUuid)],
    [ATTR.cloneCtransid, u64(1)],
  ]);
  const clone = command(CMD.clone, [
    [ATTR.path, 'one'],
    [ATTR.fileOffset, u64(0)],
    [ATTR.cloneLen, u64(9)],
    [ATTR.cloneUuid, uuidBytes(other)],
    [ATTR.cloneCtransid, u64(1)],
    [ATTR.clonePath, 'f'],
    [ATTR.cloneOffset, u64(0)],
  ]);
  lieStream(streamHeader(), snapshotCmd, clone, END);
  const to = join(freshDir('clone'), 'one');
  const r = await runLiar(['restore', s.data, '--path', 'one', '--target', 'liar', '--to', to, '--json']);
  assert.equal(r.code, 3, r.stderr + r.stdout);
  assert.match(json(r.stdout).error as string, /clones from subvolume/);
  assert.ok(!existsSync(to));
  assert.deepEqual(stagings(), []);
  lieList();
});

for (const sig of ['SIGTERM', 'SIGHUP'] as const)
  test(`[signals and power] ${sig} during a --path restore (the stream stalls half-way): the staging deleted, nothing at --to`, async () => {
    lieList();
    lieFiles(entry());
    lieStream(streamHeader(), subvol(), mkfile('one'));
    mode('slow', true);
    const to = join(freshDir(`sig-${sig}`), 'one');
    try {
      const child = s.spawnCli([
        'restore',
        s.data,
        '--path',
        'one',
        '--target',
        'liar',
        '--to',
        to,
        '--config',
        liarCfg,
      ]);
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      child.stdout!.resume();
      await waitFor(() => stagings().some((n) => readdirSync(join(snaps(), n)).length > 0), 30_000);
      const ended = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const killed = Date.now();
      child.kill(sig);
      const code = await ended;
      const took = Date.now() - killed;
      assert.notEqual(code, 0, err);
      assert.ok(took < 15_000, `the run took ${took} ms to end after ${sig}`);
      assert.deepEqual(stagings(), [], err);
      assert.ok(!existsSync(to));
    } finally {
      mode('slow', false);
      spawnSync(...sshExit((await loadConfig(liarCfg)).remotes![0]!));
    }
  });

test("[what we delete] a dead run's staging that is itself a link (to a folder holding a subvolume): the next --path restore deletes nothing through it", async () => {
  const victim = join(s.src.mountPoint, 'victim');
  mkdirSync(victim);
  sh('btrfs', ['subvolume', 'create', join(victim, 'keepme')]);
  writeFileSync(join(victim, 'keepme', 'k'), 'k');
  const link = join(snaps(), '.btrfs-vault-path-restore.999997');
  symlinkSync(victim, link);
  try {
    const r = await runA([
      'restore',
      s.data,
      '--path',
      'one',
      '--target',
      'offsite',
      '--to',
      join(freshDir('dead-link'), 'one'),
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(readFileSync(join(victim, 'keepme', 'k'), 'utf8'), 'k');
  } finally {
    rmSync(link, { force: true });
    sh('btrfs', ['subvolume', 'delete', join(victim, 'keepme')]);
  }
});

// --- the server's config ----------------------------------------------------------------------

/** serve run as sshd runs it (the verb line in SSH_ORIGINAL_COMMAND), with a time limit */
function serveDirect(
  line: string,
  args: string[],
  input: Uint8Array = new Uint8Array(0),
  timeout = 30_000,
): Out & { ms: number } {
  const started = Date.now();
  const r = spawnSync(process.execPath, [BIN, 'serve', '--root', rootA, ...args], {
    input,
    timeout,
    env: { ...process.env, SSH_ORIGINAL_COMMAND: line, BTRFS_VAULT_TEST_SERVE_LOG_SOCKET: logSocket },
  });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString(), ms: Date.now() - started };
}
const serverConfig = (name: string, text: string) => {
  const d = join(s.dir, 'srv-etc', name);
  mkdirSync(d, { recursive: true, mode: 0o700 });
  const f = join(d, 'config.toml');
  writeFileSync(f, text, { mode: 0o600 });
  return f;
};
let received = 0;
function clientStream(): { line: string; stream: Uint8Array; name: string } {
  const name = `cfg-${received++}`;
  const snap = join(s.src.mountPoint, 'hs', name);
  sh('btrfs', ['subvolume', 'snapshot', '-r', join(s.src.mountPoint, 'sub-b'), snap]);
  return {
    name,
    line: `receive cfgtest ${name} ${uuidOf(snap)} -`,
    stream: spawnSync('btrfs', ['send', '-q', snap], { maxBuffer: 2 ** 28 }).stdout,
  };
}

test('[paths we are given] serve --config a FIFO, /dev/zero or a folder: a receive refused at once (exit 2), nothing written, not held', () => {
  const fifo = join(s.dir, 'fifo.toml');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  for (const file of [fifo, '/dev/zero', s.dir]) {
    const c = clientStream();
    const r = serveDirect(c.line, ['--config', file], c.stream, 20_000);
    assert.equal(r.code, 2, `${file}: ${r.code} after ${r.ms} ms: ${r.stderr}`);
    assert.ok(!existsSync(join(rootA, 'cfgtest', c.name)), file);
  }
});

test('[space] [serve] min_free that no receive can meet (150%, 99999T) or a unit typo (10GB, 10 %, -1G, 1e3G): refused as a config problem (exit 2) with the fix, not as a full server', () => {
  for (const value of ['150%', '99999T', '10GB', '10 %', '-1G', '1e3G', '10g']) {
    const file = serverConfig(`minfree-${value.replace(/\W/g, '_')}`, `[serve]\nmin_free = ${JSON.stringify(value)}\n`);
    const c = clientStream();
    const r = serveDirect(c.line, ['--config', file], c.stream);
    assert.equal(r.code, 2, `${value}: ${r.code} ${r.stderr}`);
    assert.match(r.stderr, /min_free/, value);
    assert.doesNotMatch(r.stderr, /free space there/, value);
    assert.ok(!existsSync(join(rootA, 'cfgtest', c.name)), value);
  }
  // 0 is no limit: the receive goes through
  const zero = serverConfig('minfree-0', '[serve]\nmin_free = "0%"\n');
  const c = clientStream();
  const r = serveDirect(c.line, ['--config', zero], c.stream);
  assert.equal(r.code, 0, r.stderr);
});

test("[what we delete] [serve.retention] that keeps nothing (every rule 0): prune --serve-root keeps each folder's newest and latest, deletes nothing else than serve received", async () => {
  const file = serverConfig(
    'keep-nothing',
    `[serve]\nroot = ${JSON.stringify(vault)}\n\n[serve.retention]\nhourly = 0\ndaily = 0\nweekly = 0\nmonthly = 0\n`,
  );
  const before = readdirSync(join(rootA, folder)).sort();
  const r = await cli(['prune', '--serve-root', vault, '--config', file, '--json']);
  assert.ok(r.code === 0 || r.code === 2, r.stderr + r.stdout);
  const after = readdirSync(join(rootA, folder)).sort();
  assert.ok(after.includes('latest'));
  const latest = readlinkSync(join(rootA, folder, 'latest'));
  assert.ok(after.includes(latest.split('/').at(-1)!), `latest ${latest} deleted: ${after.join(' ')}`);
  assert.ok(after.length >= 2 || before.length <= 2);
  assert.ok(readdirSync(join(rootB, 'bonly')).includes('b-one'), "B's only backup kept");
});

test('[what we write into other formats] schedule install on a server whose [serve] root holds a newline or a quote: refused or escaped, never a unit line of its own', async () => {
  for (const root of [`${vault}\nExecStartPre=/bin/touch /tmp/bv-pwned`, `${vault}" ; touch /tmp/bv-pwned ; "`]) {
    const file = serverConfig(`sched-${received++}`, `[serve]\nroot = ${JSON.stringify(root)}\n`);
    const r = await cli(['schedule', 'install', '--dry-run', '--config', file]);
    const text = r.stdout + r.stderr;
    assert.doesNotMatch(text, /^ExecStartPre=\/bin\/touch/m, root);
    // systemd's quoting: the root one argument, its quotes escaped
    if (r.code === 0)
      assert.match(text, /^ExecStart=.* --serve-root "[^"\n]*vault\\" ; touch \/tmp\/bv-pwned ; \\"" /m, root);
    else assert.equal(r.code, 2, text);
  }
  assert.ok(!existsSync('/tmp/bv-pwned'));
});

test('[paths we are given] status and prune on a [serve] root that is a file, missing, or not btrfs: an error with the fix, no crash', async () => {
  const plain = join(s.dir, 'plainfile');
  writeFileSync(plain, 'x');
  for (const root of [plain, join(s.dir, 'missing-root'), '/tmp']) {
    const file = serverConfig(`root-${received++}`, `[serve]\nroot = ${JSON.stringify(root)}\n`);
    for (const verb of ['status', 'prune']) {
      const r = await cli([verb, '--config', file]);
      assert.ok(r.code === 1 || r.code === 2, `${verb} ${root}: ${r.code} ${r.stderr}${r.stdout}`);
      assert.doesNotMatch(r.stdout + r.stderr, /internal error|TypeError|at .*\.js:\d+/, `${verb} ${root}`);
      assert.match(r.stdout + r.stderr, /fix|serve --init|btrfs/i, `${verb} ${root}`);
    }
  }
});

// --- doctor on a server: its reading of authorized_keys ------------------------------------

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv8B7pDqaMNLWYv6RLXP2SIJ3TpQOd4WMpnKJ1y8Qx0';
type Check = { area: string; name: string; level: string; detail: string; fix?: string };
async function doctorKeys(lines: (string | Uint8Array)[]): Promise<Check[]> {
  const keys = join(s.dir, `authorized_keys-${received++}`);
  const parts: Uint8Array[] = [];
  for (const l of lines) parts.push(typeof l === 'string' ? Buffer.from(l) : l, Buffer.from('\n'));
  writeFileSync(keys, Buffer.concat(parts));
  const file = serverConfig(`doctor-${received}`, `[serve]\nroot = ${JSON.stringify(vault)}\n`);
  const r = await cli(['doctor', '--config', file, '--json'], {
    BTRFS_VAULT_TEST_AUTHORIZED_KEYS: keys,
    BTRFS_VAULT_TEST_SERVE_LOG_SOCKET: logSocket,
  });
  assert.doesNotMatch(r.stderr, /internal error|TypeError/, r.stderr);
  return (json(r.stdout).checks as Check[]).filter((c) => c.name === 'authorized_keys');
}

test('[remote input] doctor: key lines that run serve with restrict and then give back a terminal or forwarding (pty, port-forwarding, agent-forwarding, X11-forwarding, user-rc): each an error; RESTRICT in capitals is restrict', async () => {
  const opts = ['pty', 'port-forwarding', 'agent-forwarding', 'X11-forwarding', 'user-rc'];
  const checks = await doctorKeys(
    opts.map((o, i) => `restrict,${o},command="btrfs-vault serve --root ${vault}/h${i}" ${KEY} h${i}`),
  );
  for (const [i, o] of opts.entries())
    assert.ok(
      checks.some((c) => c.level === 'error' && c.detail.includes(`:${i + 1}: `)),
      `${o}: ${JSON.stringify(checks)}`,
    );
  // sshd reads option names in any case: a line in capitals is restricted
  const caps = await doctorKeys([`RESTRICT,COMMAND="btrfs-vault serve --root ${vault}/hcaps" ${KEY} caps`]);
  assert.deepEqual(
    caps.map((c) => c.level),
    ['ok'],
    JSON.stringify(caps),
  );
});

test('[remote input] doctor: a serve line whose environment= sets NODE_OPTIONS (sshd passes it with PermitUserEnvironment): an error', async () => {
  const checks = await doctorKeys([
    `restrict,environment="NODE_OPTIONS=--require /tmp/x.js",command="btrfs-vault serve --root ${vault}/henv" ${KEY} e`,
  ]);
  assert.ok(
    checks.some((c) => c.level === 'error' && /:1: .*environment/.test(c.detail)),
    JSON.stringify(checks),
  );
});

test("[ordering and agreement] doctor: the root a serve line's command gives serve (--root twice: serve takes the last; --root=DIR) is the one doctor checks", async () => {
  const checks = await doctorKeys([
    `restrict,command="btrfs-vault serve --root ${vault}/hx --root /" ${KEY} x`,
    `restrict,command="btrfs-vault serve --root=${vault}/hy" ${KEY} y`,
  ]);
  assert.ok(
    checks.some((c) => c.level !== 'ok' && /:1: .*--root \/ /.test(c.detail)),
    `the root serve uses (/) is not named: ${JSON.stringify(checks)}`,
  );
  assert.ok(!checks.some((c) => /:2: /.test(c.detail)), `--root= read wrong: ${JSON.stringify(checks)}`);
});

test('[remote input] doctor: a comment holding a serve line, restrict only in the key comment, command= twice, CRLF, a 1 MB line, a non-UTF-8 line: the right finding each, no crash', async () => {
  const checks = await doctorKeys([
    `# restrict,command="btrfs-vault serve --root /elsewhere/x" ${KEY}`,
    `command="btrfs-vault serve --root ${vault}/hc" ${KEY} restrict`,
    `restrict,command="btrfs-vault serve --root ${vault}/hd",command="/bin/sh" ${KEY} twice`,
    `restrict,command="btrfs-vault serve --root ${vault}/he" ${KEY} crlf\r`,
    `${'A'.repeat(1024 * 1024)}`,
    Buffer.concat([
      Buffer.from(`restrict,command="btrfs-vault serve --root ${vault}/hf" ${KEY} `),
      Uint8Array.from([0xff, 0xfe]),
    ]),
  ]);
  const at = (n: number) => checks.filter((c) => c.detail.includes(`:${n}: `));
  assert.deepEqual(at(1), [], 'a comment is no line');
  assert.ok(
    at(2).some((c) => c.level === 'error' && /no restrict/.test(c.detail)),
    JSON.stringify(checks),
  );
  assert.deepEqual(at(4), [], JSON.stringify(at(4)));
  assert.deepEqual(at(6), [], JSON.stringify(at(6)));
  assert.ok(at(3).length > 0, `command= twice (sshd refuses the line) is no finding: ${JSON.stringify(checks)}`);
});

// --- setup's server answers, secrets, the host record ------------------------------------------

test("[remote input] setup's answers with a hostile fingerprint (a quote and a command, a newline, MD5 form, 10,000 characters): refused, nothing written, no key made", async () => {
  const configDir = join(s.dir, 'setup-fp');
  mkdirSync(configDir, { mode: 0o700 });
  const config = join(configDir, 'config.toml');
  writeFileSync(config, readFileSync(cfgA, 'utf8').replace(/\n\[targets[\s\S]*$/, '\n'), { mode: 0o600 });
  const before = readFileSync(config, 'utf8');
  for (const fp of [
    `${sshd.fingerprint()}" ; touch /tmp/bv-pwned ; "`,
    `${sshd.fingerprint()}\nhost = "evil"`,
    'MD5:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff',
    `SHA256:${'A'.repeat(10_000)}`,
  ]) {
    const answers = join(s.dir, `answers-fp-${received++}.toml`);
    writeFileSync(
      answers,
      `[server]\nssh = "root@127.0.0.1"\nport = ${sshd.port}\nserve_root = ${JSON.stringify(vault)}\nfingerprint = ${JSON.stringify(fp)}\n`,
      { mode: 0o600 },
    );
    const r = await cli(['setup', '--answers', answers, '--config', config]);
    assert.ok(r.code === 2 || r.code === 3, `${JSON.stringify(fp.slice(0, 80))}: ${r.code} ${r.stderr}${r.stdout}`);
    assert.equal(readFileSync(config, 'utf8'), before);
    assert.ok(!existsSync(join(configDir, 'ssh', 'id_ed25519')), 'a key was made');
  }
  assert.ok(!existsSync('/tmp/bv-pwned'));
});

test('[secrets] files --target and restore --path --target under strace: no piece of the private key on any argv or environment, nor in the output', () => {
  const key = readFileSync(keyA(), 'utf8');
  const body = key
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .join('');
  const pieces = [body.slice(0, 24), body.slice(40, 64), body.slice(-30, -6)];
  const trace = join(s.dir, 'strace.out');
  for (const args of [
    ['files', s.data, 'one', '--target', 'offsite', '--json'],
    ['restore', s.data, '--path', 'one', '--target', 'offsite', '--to', join(freshDir('strace'), 'one'), '--json'],
  ]) {
    const r = spawnSync(
      'strace',
      ['-f', '-s', '100000', '-v', '-e', 'trace=execve', '-o', trace, process.execPath, BIN, ...args, '--config', cfgA],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const seen = readFileSync(trace, 'utf8') + r.stdout + r.stderr;
    assert.match(seen, /execve\(.*ssh/, 'ssh was traced');
    for (const p of pieces) assert.ok(!seen.includes(p), `a piece of the key was seen: ${args[0]}`);
  }
});

test("[two of us at once] a run stopped (SIGSTOP) holding the host record's lock: the next run that writes the record says which run holds it and ends, not held for ever", async () => {
  // a second target (a folder of the server's filesystem is no disk: a second server
  // target, the same server) makes the run take the record's lock
  const cfg2 = join(s.configDir, 'two.toml');
  writeFileSync(
    cfg2,
    `${readFileSync(cfgA, 'utf8').replace(/identity = "[^"]*"/, `identity = "${keyA()}"`)}\n[targets.second]\nssh = "root@127.0.0.1"\nport = ${sshd.port}\nidentity = ${JSON.stringify(keyA())}\nknown_hosts = ${JSON.stringify(knownHosts())}\n`,
    { mode: 0o600 },
  );
  writeFileSync(join(s.data, 'one'), 'changed\n');
  const held = s.spawnCli(['backup', '--target', 'offsite', '--config', cfg2], {
    BTRFS_VAULT_TEST_PAUSE_AT: 'host-record:120000',
  });
  let err = '';
  held.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  held.stdout!.resume();
  try {
    await waitFor(() => err.includes('paused at host-record'), 60_000);
    held.kill('SIGSTOP');
    const next = await cli(['backup', '--target', 'second', '--config', cfg2], {}, 90_000);
    assert.notEqual(next.code, -9, `still waiting after ${next.ms} ms`);
    assert.ok(next.ms < 60_000, `${next.ms} ms`);
    assert.match(next.stdout + next.stderr, new RegExp(`pid ${held.pid}|record`), next.stdout + next.stderr);
  } finally {
    const gone = new Promise((r) => held.once('exit', r));
    held.kill('SIGKILL');
    held.kill('SIGCONT');
    await gone;
    spawnSync(...sshExit((await loadConfig(cfg2)).remotes![0]!));
    rmSync(hostRecordFile(cfg2), { force: true });
  }
});

test('[ordering and agreement] files --target and list --target agree: every backup files names is one list shows, oldest first', async () => {
  const f = await runA(['files', s.data, 'one', '--target', 'offsite', '--json']);
  const l = await runA(['list', '--target', 'offsite', '--json']);
  assert.equal(f.code, 0, f.stderr);
  const listed = (json(l.stdout).folders as Record<string, { backups: { name: string }[] }>)[folder]!.backups.map(
    (b) => b.name,
  );
  const named = (json(f.stdout).versions as { backup: string }[]).map((v) => v.backup);
  assert.ok(named.length >= 1);
  assert.deepEqual(
    named,
    listed.filter((n) => named.includes(n)),
  );
  void randomBytes;
});
