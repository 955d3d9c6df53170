import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BIN } from '../support/cli.js';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../support/loop-disk.js';
import { makeScenario, type Scenario } from '../support/scenario.js';
import { sh } from '../support/sh.js';
import { authorize, makeSshd, type Sshd, targetAddArgs } from '../support/sshd.js';
import { hostRecordFile } from '../../src/system/host-record.js';
import { loadConfig } from '../../src/config/load.js';
import { sshExit, sshVerb } from '../../src/flows/remote/ssh.js';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { lockFile } from '../../src/system/lock.js';
import { waitFor } from '../support/wait.js';

// A backup server behind a real sshd on 127.0.0.1, its forced command `btrfs-vault
// serve --root …`, the client's and the server's filesystems on loop devices. One
// scenario for the file: the cases run in order, each leaving the server as the next
// expects it.

/** the forced command: the test build of `btrfs-vault`, as sshd runs it (no PATH of ours) */
const SERVE = `${process.execPath} ${BIN}`;

let s: Scenario;
let srv: LoopFs;
let sshd: Sshd;
let serveRoot: string;
let addLine: string;

const run = (args: string[], env: Record<string, string> = {}) => s.cli([...args, '--config', s.config], env);
const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;
type TargetReport = {
  name: string;
  ok: boolean;
  sources: {
    name: string;
    mode?: string;
    parent?: string;
    snapshot?: string;
    status: string;
    error?: string;
    fix?: string;
  }[];
  error?: string;
  fix?: string;
  exitCode: number;
};
const remoteOf = (stdout: string) => (json(stdout).targets as TargetReport[]).find((t) => t.name === 'offsite')!;
const diskOf = (stdout: string) => (json(stdout).targets as TargetReport[]).find((t) => t.name === 'backup')!;
/** the source's folder on the server: its name in the config */
let folder = '';
const onServer = () => {
  const d = join(serveRoot, 'testhost', folder);
  return existsSync(d)
    ? readdirSync(d)
        .filter((n) => n !== 'latest' && !n.startsWith('.'))
        .sort()
    : [];
};
const receivedUuid = (path: string) => /Received UUID:\s*(\S+)/.exec(sh('btrfs', ['subvolume', 'show', path]))![1];
const uuidOf = (path: string) => /^\s*UUID:\s*(\S+)/m.exec(sh('btrfs', ['subvolume', 'show', path]))![1];

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

test('[paths we are given] target add with a serve root a shell would read, or an option-like --ssh: refused, nothing written', () => {
  const before = readFileSync(s.config, 'utf8');
  for (const args of [
    ['--ssh', `root@127.0.0.1`, '--serve-root', '/srv/x";rm -rf /;"'],
    ['--ssh', `root@127.0.0.1`, '--serve-root', '/srv/$(reboot)'],
    ['--ssh', '-oProxyCommand=touch@x'],
    ['--ssh', 'root@-oProxyCommand=x'],
  ]) {
    const r = run([
      'target',
      'add',
      'offsite',
      '--port',
      String(sshd.port),
      '--fingerprint',
      sshd.fingerprint(),
      ...args,
    ]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /fix:/);
  }
  assert.equal(readFileSync(s.config, 'utf8'), before);
  assert.equal(existsSync(join(s.configDir, 'ssh')), false);
});

test("[remote input] target add with a fingerprint that is not the server's: refused, no key made, nothing pinned", () => {
  const r = run([
    'target',
    'add',
    'offsite',
    '--ssh',
    'root@127.0.0.1',
    '--port',
    String(sshd.port),
    '--fingerprint',
    'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  ]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /not SHA256:AAAA.*nothing was written/);
  assert.equal(existsSync(join(s.configDir, 'ssh')), false);
  assert.doesNotMatch(readFileSync(s.config, 'utf8'), /offsite/);
});

test('target add: a key of its own (0600 in 0700), the host key pinned, the table added, the authorized_keys line printed', () => {
  const r = run(targetAddArgs(sshd, 'offsite', serveRoot));
  assert.equal(r.code, 0, r.stderr);
  const id = join(s.configDir, 'ssh', 'id_ed25519');
  assert.equal(statSync(id).mode & 0o777, 0o600);
  assert.equal(statSync(join(s.configDir, 'ssh')).mode & 0o777, 0o700);
  assert.equal(statSync(join(s.configDir, 'ssh', 'known_hosts')).mode & 0o777, 0o600);
  assert.match(
    readFileSync(join(s.configDir, 'ssh', 'known_hosts'), 'utf8'),
    new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `, 'm'),
  );
  const config = readFileSync(s.config, 'utf8');
  assert.match(config, /\[targets\.offsite\]\n(#.*\n)*ssh = "root@127\.0\.0\.1"/);
  assert.match(config, new RegExp(`port = ${sshd.port}`));
  const line = r.stdout.split('\n').find((l) => l.startsWith('restrict,'))!;
  assert.equal(
    line,
    `restrict,command="btrfs-vault serve --root ${serveRoot}/testhost" ${readFileSync(`${id}.pub`, 'utf8').trim()}`,
  );
  // [secrets] the private key is shown nowhere
  const secret = readFileSync(id, 'utf8').split('\n').slice(1, -2).join('');
  assert.ok(!r.stdout.includes(secret.slice(0, 40)) && !r.stderr.includes(secret.slice(0, 40)));
  addLine = line;
  authorize(sshd, line, SERVE);
});

test('backup to the disk and the server: full, then incremental from the pair the server holds', () => {
  const first = run(['backup', '--json']);
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const r1 = remoteOf(first.stdout);
  assert.equal(r1.sources[0]!.mode, 'full');
  assert.equal(diskOf(first.stdout).sources[0]!.mode, 'full');
  const snap1 = r1.sources[0]!.snapshot!;
  folder = r1.sources[0]!.name;
  // the disk's snapshot is the one sent to the server too (one snapshot a run)
  assert.equal(diskOf(first.stdout).sources[0]!.snapshot, snap1);
  assert.deepEqual(onServer(), [snap1], sh('find', [serveRoot, '-maxdepth', '3']));
  assert.equal(
    receivedUuid(join(serveRoot, 'testhost', folder, snap1)),
    uuidOf(join(s.src.mountPoint, 'snapshots', folder, snap1)),
  );

  writeFileSync(join(s.data, 'new-file'), randomBytes(100_000));
  const second = run(['backup', '--json']);
  assert.equal(second.code, 0, second.stderr + second.stdout);
  const r2 = remoteOf(second.stdout).sources[0]!;
  assert.equal(r2.mode, 'incremental');
  assert.equal(r2.parent, snap1);
  assert.deepEqual(onServer(), [snap1, r2.snapshot].sort());
  const copy = join(serveRoot, 'testhost', folder, r2.snapshot!, 'new-file');
  assert.deepEqual(readFileSync(copy), readFileSync(join(s.data, 'new-file')));
  // the pin of the server in the host's record: the newest snapshot it holds
  const record = JSON.parse(readFileSync(hostRecordFile(s.config), 'utf8')) as {
    targets: Record<string, { pins: Record<string, { snapshot: string }> }>;
  };
  assert.equal(record.targets.offsite!.pins[folder]!.snapshot, r2.snapshot);
});

test('list --target and restore --target: what the server holds, and a whole backup back with its content', () => {
  const l = run(['list', '--target', 'offsite', '--json']);
  assert.equal(l.code, 0, l.stderr);
  const folders = json(l.stdout).folders as Record<string, { latest: string; backups: { name: string }[] }>;
  assert.deepEqual(folders[folder]!.backups.map((b) => b.name).sort(), onServer());
  assert.equal(folders[folder]!.latest, onServer().at(-1));
  const to = join(s.src.mountPoint, 'restored');
  sh('mkdir', ['-p', to]);
  const r = run(['restore', s.data, '--target', 'offsite', '--to', to, '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const restored = json(r.stdout).restored as string;
  assert.equal(restored, join(to, onServer().at(-1)!));
  assert.deepEqual(readFileSync(join(restored, 'new-file')), readFileSync(join(s.data, 'new-file')));
  assert.match(sh('btrfs', ['property', 'get', '-ts', restored, 'ro']), /ro=true/);
  assert.equal(receivedUuid(restored), uuidOf(join(s.src.mountPoint, 'snapshots', folder, onServer().at(-1)!)));
  // nothing of ours left beside it
  assert.deepEqual(readdirSync(to), [onServer().at(-1)]);
  sh('btrfs', ['subvolume', 'delete', restored]);
});

test('a source unchanged since the snapshot the server holds: no new snapshot, nothing sent (--target runs the server alone)', () => {
  const first = run(['backup', '--target', 'offsite', '--json']);
  assert.equal(first.code, 0, first.stderr);
  assert.equal((json(first.stdout).targets as TargetReport[]).length, 1);
  const snaps = readdirSync(join(s.src.mountPoint, 'snapshots', folder)).sort();
  const held = onServer();
  const again = run(['backup', '--target', 'offsite', '--json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(remoteOf(again.stdout).sources[0]!.mode, 'unchanged');
  assert.deepEqual(readdirSync(join(s.src.mountPoint, 'snapshots', folder)).sort(), snaps);
  assert.deepEqual(onServer(), held);
});

test('a source on a compressed filesystem: its compressed extents travel as they are (send protocol 2), received whole', () => {
  sh('mount', ['-o', 'remount,compress=zstd', s.src.mountPoint]);
  try {
    const text = Buffer.from('2026-12-06 host svc[42]: the same log line again and again\n'.repeat(150_000));
    writeFileSync(join(s.data, 'app.log'), text);
    const r = run(['backup', '--target', 'offsite', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const sent = remoteOf(r.stdout).sources[0] as unknown as { bytes: number; snapshot: string };
    assert.ok(sent.bytes < text.length / 4, `${sent.bytes} bytes sent for ${text.length}`);
    assert.deepEqual(readFileSync(join(serveRoot, 'testhost', folder, sent.snapshot, 'app.log')), text);
  } finally {
    sh('mount', ['-o', 'remount,compress=no', s.src.mountPoint]);
  }
});

test('[ordering and agreement] backup --dry-run to a server: what would be sent, and nothing made here or there', () => {
  writeFileSync(join(s.data, 'dry'), 'd');
  const snaps = readdirSync(join(s.src.mountPoint, 'snapshots', folder)).sort();
  const held = onServer();
  const r = run(['backup', '--target', 'offsite', '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout + r.stderr,
    /btrfs send .*\| ssh .* -- root@127\.0\.0\.1 'receive [^ ]+ [^ ]+ 0{8}-0{4}-0{4}-0{4}-0{12} [0-9a-f-]{36}'/,
  );
  assert.deepEqual(readdirSync(join(s.src.mountPoint, 'snapshots', folder)).sort(), snaps);
  assert.deepEqual(onServer(), held);
});

test('[remote input] [paths we are given] a source whose name a server cannot take (a blank, a leading "+" is fine, "latest" is not): refused with the fix, the others go on', () => {
  const cfg = join(s.configDir, 'names.toml');
  const other = join(s.src.mountPoint, 'other2');
  sh('btrfs', ['subvolume', 'create', other]);
  writeFileSync(
    cfg,
    `host = "testhost"\nsources = [{ path = ${JSON.stringify(s.data)}, name = "my data" }, { path = ${JSON.stringify(other)}, name = "latest" }]\nsnapshot_dir = ${JSON.stringify(join(s.src.mountPoint, 'snapshots'))}\n\n[targets.offsite]\nssh = "root@127.0.0.1"\nport = ${sshd.port}\n`,
    { mode: 0o600 },
  );
  try {
    const r = s.cli(['backup', '--json', '--config', cfg]);
    assert.equal(r.code, 2, r.stderr + r.stdout);
    const t = (json(r.stdout).targets as TargetReport[])[0]!;
    for (const src of t.sources) {
      assert.equal(src.status, 'failed');
      assert.match(src.error!, /which a backup server does not take as a folder name/);
      assert.match(src.fix!, /name = /);
    }
    assert.equal(existsSync(join(serveRoot, 'testhost', 'latest')), false);
  } finally {
    sh('btrfs', ['subvolume', 'delete', other]);
    rmSync(hostRecordFile(cfg), { force: true });
  }
});

test('[two of us at once] another run holds this server: the run waits for nobody, says who holds it (exit 4), sends nothing', async () => {
  const held = onServer();
  writeFileSync(join(s.data, 'two'), '2');
  const file = lockFile(`remote root@127.0.0.1:${sshd.port}`);
  // its own process group: the lock is held by sleep, flock's child, too; blocking (no -n):
  // the probe below may hold the file for a moment
  const holder = spawn('flock', [file, 'sleep', '30'], { stdio: 'ignore', detached: true });
  try {
    // held once a non-blocking try fails (not after a guessed wait)
    await waitFor(() => spawnSync('flock', ['-n', '-E', '75', file, 'true']).status === 75);
    const r = run(['backup', '--target', 'offsite', '--json']);
    assert.equal(r.code, 4, r.stderr + r.stdout);
    assert.match(remoteOf(r.stdout).error!, /backup server offsite/);
    assert.deepEqual(onServer(), held);
  } finally {
    process.kill(-holder.pid!, 'SIGKILL');
  }
});

test("[ordering and agreement] the disk refused and the server backed up in one run: the host's record keeps the run as failed (status says so)", () => {
  const token = join(s.dst.mountPoint, '.token');
  const kept = readFileSync(token);
  writeFileSync(token, 'not the token');
  try {
    writeFileSync(join(s.data, 'order'), 'o');
    const r = run(['backup', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(diskOf(r.stdout).ok, false);
    assert.equal(remoteOf(r.stdout).ok, true);
    const record = JSON.parse(readFileSync(hostRecordFile(s.config), 'utf8')) as { lastRun: { exitCode: number } };
    assert.notEqual(record.lastRun.exitCode, 0);
  } finally {
    writeFileSync(token, kept);
  }
});

test('[remote input] the server changed its host key: refused with the fix, nothing sent; the disk still backed up', async () => {
  const key = join(sshd.dir, 'host_ed25519');
  copyFileSync(key, `${key}.keep`);
  copyFileSync(`${key}.pub`, `${key}.pub.keep`);
  const before = onServer();
  try {
    sshd.newHostKey();
    await sshd.stop();
    await sshd.start();
    writeFileSync(join(s.data, 'f2'), 'x');
    const r = run(['backup', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const remote = remoteOf(r.stdout);
    assert.equal(remote.ok, false);
    assert.equal(remote.exitCode, 3);
    assert.match(remote.error!, /did not show the host key pinned/);
    assert.match(remote.fix!, /--fingerprint/);
    assert.equal(diskOf(r.stdout).ok, true);
    assert.deepEqual(onServer(), before);
  } finally {
    copyFileSync(`${key}.keep`, key);
    copyFileSync(`${key}.pub.keep`, `${key}.pub`);
    await sshd.stop();
    await sshd.start();
  }
});

test('the server cannot be reached: that target fails with the fix, the disk is backed up, the next run is incremental', async () => {
  const before = onServer();
  await sshd.stop();
  try {
    writeFileSync(join(s.data, 'f3'), 'y');
    const r = run(['backup', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const remote = remoteOf(r.stdout);
    assert.equal(remote.exitCode, 3);
    assert.match(remote.error!, /could not be reached.*Connection refused/);
    assert.match(remote.fix!, /check that the server is up/);
    assert.equal(diskOf(r.stdout).ok, true);
    assert.deepEqual(onServer(), before);
    // status answers from the host's record, the server away
    const st = run(['status', '--json']);
    const remotes = json(st.stdout).remotes as {
      name: string;
      lastBackup: string | null;
      lastReached: string | null;
      pins: { snapshot: string }[];
    }[];
    assert.equal(remotes[0]!.name, 'offsite');
    assert.ok(remotes[0]!.lastBackup && remotes[0]!.lastReached, st.stdout);
    assert.equal(remotes[0]!.pins[0]!.snapshot, before.at(-1));
    assert.match(run(['status']).stdout, /backup servers:\n {2}offsite \(root@127\.0\.0\.1 port \d+\): last backup 20/);
  } finally {
    await sshd.start();
  }
  const r = run(['backup', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const again = remoteOf(r.stdout).sources[0]!;
  assert.equal(again.mode, 'incremental');
  assert.equal(again.parent, before.at(-1));
});

test('[secrets] the private key is never on a command line, in the environment, the output or --json', () => {
  const id = readFileSync(join(s.configDir, 'ssh', 'id_ed25519'), 'utf8');
  const body = id.split('\n').slice(1, -2).join('');
  writeFileSync(join(s.data, 'f4'), 'z');
  // every program the run starts, with its argv and environment
  const trace = join(s.dir, 'trace');
  const r = sh('sh', [
    '-c',
    `strace -f -qq -s 4096 -v -e trace=execve -o ${trace} node ${BIN} backup --json --config ${s.config}; echo "exit $?"`,
  ]);
  assert.match(r, /exit 0/);
  const execs = readFileSync(trace, 'utf8');
  assert.match(execs, /"ssh"/);
  for (const piece of [body.slice(0, 32), body.slice(40, 72)]) {
    assert.ok(!execs.includes(piece), 'a piece of the private key in an execve');
    assert.ok(!r.includes(piece), 'a piece of the private key in the output');
  }
  rmSync(trace);
});

test("[remote input] a forced command that answers garbage, or names another copy: refused, not an empty server, no pin moved (also while another config's connection to that server is up)", async () => {
  const cfg = join(s.configDir, 'liar.toml');
  writeFileSync(
    cfg,
    `host = "testhost"\nsources = [${JSON.stringify(s.data)}]\nsnapshot_dir = ${JSON.stringify(join(s.src.mountPoint, 'snapshots'))}\n\n[targets.liar]\nssh = "root@127.0.0.1"\nport = ${sshd.port}\nidentity = "liar_id"\nknown_hosts = "ssh/known_hosts"\n`,
    { mode: 0o600 },
  );
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(s.configDir, 'liar_id')]);
  const pub = readFileSync(join(s.configDir, 'liar_id.pub'), 'utf8').trim();
  const liar = join(s.dir, 'liar.py');
  writeFileSync(
    liar,
    [
      'import json, os, sys',
      "w = os.environ.get('SSH_ORIGINAL_COMMAND', '').split(' ')",
      'mode = open(sys.argv[1]).read().strip()',
      "if w[0] == 'hello': print(json.dumps({'protocol': 1, 'version': 'liar', 'freeBytes': 1}))",
      'elif w[0] == \'list\' and mode == \'garbage\': print(\'{"folders": {"../../etc": {"latest": null, "backups": []}}}\')',
      "elif w[0] == 'list' and mode == 'two': print('{\"folders\": {}}'); print('{\"folders\": {}}')",
      "elif w[0] == 'list' and mode == 'lists-one': print(json.dumps({'folders': {w[1]: {'latest': 'b', 'backups': [{'name': 'b', 'uuid': '11111111-1111-1111-1111-111111111111', 'receivedUuid': '22222222-2222-2222-2222-222222222222', 'parentUuid': None, 'readonly': True}]}}}))",
      "elif w[0] == 'list': print(json.dumps({'folders': {}}))",
      "elif w[0] == 'send': os.execvp('btrfs', ['btrfs', 'send', '-q', '--', sys.argv[2]])",
      "elif w[0] == 'receive':",
      '    sys.stdin.buffer.read()',
      "    print(json.dumps({'received': {'name': w[2], 'uuid': '11111111-1111-1111-1111-111111111111', 'receivedUuid': '22222222-2222-2222-2222-222222222222', 'parentUuid': None, 'readonly': True}}))",
      '',
    ].join('\n'),
  );
  const modeFile = join(s.dir, 'liar.mode');
  // what the liar streams when asked for a backup: another subvolume altogether
  const other = join(s.src.mountPoint, 'other');
  sh('btrfs', ['subvolume', 'create', other]);
  writeFileSync(join(other, 'planted'), 'not yours');
  sh('btrfs', ['property', 'set', '-ts', other, 'ro', 'true']);
  writeFileSync(
    sshd.authorizedKeys,
    `${readFileSync(sshd.authorizedKeys, 'utf8')}restrict,command="/usr/bin/python3 ${liar} ${modeFile} ${other}" ${pub}\n`,
  );
  const record = () => (existsSync(hostRecordFile(cfg)) ? readFileSync(hostRecordFile(cfg), 'utf8') : '');
  // [two of us at once] the other config's connection to the same server, user and port is
  // up (as a killed run leaves it for ControlPersist): this run must not ride on it
  const offsite = (await loadConfig(s.config)).remotes![0]!;
  const [file, args] = sshVerb(offsite, { verb: 'hello' });
  const master = spawnSync(file, args, { encoding: 'utf8' });
  assert.equal(master.status, 0, master.stderr);
  try {
    for (const mode of ['garbage', 'two']) {
      writeFileSync(modeFile, mode);
      const r = s.cli(['backup', '--json', '--config', cfg]);
      assert.equal(r.code, 3, r.stderr);
      const t = (json(r.stdout).targets as TargetReport[])[0]!;
      // the run's first call is the list: its answer refused fails the target before any source
      assert.match(t.error!, /answered list with something that is not a protocol 1 reply/, mode);
      assert.equal(t.sources[0]!.status, 'not-run', mode);
    }
    writeFileSync(modeFile, 'other-copy');
    const r = s.cli(['backup', '--json', '--config', cfg]);
    assert.notEqual(r.code, 0, r.stderr);
    const t = (json(r.stdout).targets as TargetReport[])[0]!;
    assert.match(t.sources[0]!.error!, /not counted as done/);
    assert.doesNotMatch(record(), /"liar":\s*\{[^}]*"pins":\s*\{\s*"tmp-/);
    // a restore whose stream is not the backup asked for: refused, nothing left in the folder
    writeFileSync(modeFile, 'lists-one');
    const to = join(s.src.mountPoint, 'restored-liar');
    sh('mkdir', ['-p', to]);
    const rr = s.cli(['restore', s.data, 'b', '--target', 'liar', '--to', to, '--json', '--config', cfg]);
    assert.equal(rr.code, 3, rr.stderr + rr.stdout);
    assert.match(
      json(rr.stdout).error as string,
      /stopped before btrfs receive saw the bad part .*creates the subvolume "other"/,
    );
    assert.deepEqual(readdirSync(to), []);
  } finally {
    spawnSync(...sshExit(offsite));
    rmSync(hostRecordFile(cfg), { force: true });
  }
});

test('[signals and power] the client killed mid-transfer: nothing half-received is listed on the server, the next run is incremental', () => {
  // a config of the server alone: the run's own snapshot, no disk first
  const cfg = join(s.configDir, 'remote-only.toml');
  writeFileSync(
    cfg,
    `host = "testhost"\nsources = [${JSON.stringify(s.data)}]\nsnapshot_dir = ${JSON.stringify(join(s.src.mountPoint, 'snapshots'))}\n\n[targets.offsite]\nssh = "root@127.0.0.1"\nport = ${sshd.port}\n`,
    { mode: 0o600 },
  );
  const before = onServer();
  writeFileSync(join(s.data, 'big'), randomBytes(40 * 1024 * 1024));
  const killed = s.cli(['backup', '--config', cfg], { BTRFS_VAULT_TEST_KILL_AT: 'during-send' });
  assert.notEqual(killed.code, 0);
  // the server's list has no partial copy
  const list = sh('ssh', [
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${join(s.configDir, 'ssh', 'known_hosts')}`,
    '-o',
    `IdentityFile=${join(s.configDir, 'ssh', 'id_ed25519')}`,
    '-o',
    'IdentitiesOnly=yes',
    '-p',
    String(sshd.port),
    '--',
    'root@127.0.0.1',
    `list ${folder}`,
  ]);
  const names = (JSON.parse(list) as { folders: Record<string, { backups: { name: string }[] }> }).folders[
    folder
  ]!.backups.map((b) => b.name).sort();
  assert.deepEqual(names, before);
  const r = s.cli(['backup', '--json', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  const t = (json(r.stdout).targets as TargetReport[])[0]!;
  assert.equal(t.sources[0]!.mode, 'incremental');
  assert.equal(t.sources[0]!.parent, before.at(-1));
  rmSync(hostRecordFile(cfg), { force: true });
});

test('target add to a config that has sources and no target yet: the server becomes its target', () => {
  const etc2 = join(s.dir, 'etc2');
  mkdirSync(etc2, { mode: 0o700 });
  const cfg = join(etc2, 'config.toml');
  writeFileSync(cfg, `host = "second"\nsources = [${JSON.stringify(s.data)}]\n`, { mode: 0o600 });
  const r = s.cli([
    'target',
    'add',
    'offsite',
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
  assert.match(r.stdout, /command="btrfs-vault serve --root \/srv\/btrfs-vault\/second" ssh-ed25519 /);
  assert.match(
    readFileSync(cfg, 'utf8'),
    /^host = "second"\nsources = \[.*\]\n\n# a backup server of this host, added by btrfs-vault target add/,
  );
  const st = s.cli(['status', '--json', '--config', cfg]);
  assert.equal((json(st.stdout).remotes as { name: string }[])[0]!.name, 'offsite', st.stderr);
});

test("[time] a server that takes the connection and never answers: the run gives up within ssh's ConnectTimeout, with the fix, and does not hang", async () => {
  const hole = createServer((sock) => sock.on('error', () => {}));
  await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
  const port = (hole.address() as { port: number }).port;
  const cfg = join(s.configDir, 'hole.toml');
  writeFileSync(
    cfg,
    `host = "testhost"\nsources = [${JSON.stringify(s.data)}]\nsnapshot_dir = ${JSON.stringify(join(s.src.mountPoint, 'snapshots'))}\n\n[targets.hole]\nssh = "root@127.0.0.1"\nport = ${port}\n`,
    { mode: 0o600 },
  );
  try {
    const started = Date.now();
    // ssh's ConnectTimeout shortened (15 s in a release): what is tried is that it is given
    const child = spawn('node', [BIN, 'backup', '--json', '--config', cfg], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BTRFS_VAULT_TEST_CONNECT_TIMEOUT_S: '2' },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    const seconds = (Date.now() - started) / 1000;
    assert.equal(code, 3, out);
    assert.ok(seconds < 40, `${seconds} s`);
    const t = (json(out).targets as TargetReport[])[0]!;
    assert.match(t.error!, /could not be reached: .*timed out/);
    assert.match(t.fix!, /check that the server is up/);
  } finally {
    hole.close();
    rmSync(hostRecordFile(cfg), { force: true });
  }
});

test('[what we delete] target add where a key file exists that the config does not name: refused, the file untouched', () => {
  const cfg = join(s.configDir, 'other.toml');
  writeFileSync(
    cfg,
    `host = "testhost"\nsources = []\n\n[target]\nmountpoint = ${JSON.stringify(s.dst.mountPoint)}\n`,
    { mode: 0o600 },
  );
  const r = s.cli([
    'target',
    'add',
    'offsite',
    '--ssh',
    'root@127.0.0.1',
    '--port',
    String(sshd.port),
    '--fingerprint',
    sshd.fingerprint(),
    '--config',
    cfg,
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /exists already, and no backup server of the config names it/);
  assert.doesNotMatch(readFileSync(cfg, 'utf8'), /offsite/);
  assert.ok(addLine.length > 0);
});
