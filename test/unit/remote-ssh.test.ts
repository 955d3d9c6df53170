import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { namedTargets, targetsOf } from '../../src/config/target-view.js';
import type { RemoteTargetConfig } from '../../src/config/config.js';
import { CommandFailedError, ProblemsError, TargetError, UserError } from '../../src/core/errors.js';
import { ServeClient, sshError } from '../../src/flows/remote/serve-client.js';
import { sshExit, sshVerb } from '../../src/flows/remote/ssh.js';
import { FakeRunner } from '../support/fake-runner.js';
import { scratchDir } from '../support/scratch.js';

// A backup server as a target: its table, the ssh command line, and what a reply or a
// failure of ssh means.

async function load(toml: string) {
  const dir = scratchDir('cfg');
  writeFileSync(join(dir, 'config.toml'), toml);
  return { dir, config: await loadConfig(join(dir, 'config.toml')) };
}

const REMOTE: RemoteTargetConfig = {
  name: 'offsite',
  user: 'backup',
  host: 'vault.example.org',
  port: 2222,
  identity: '/etc/btrfs-vault/ssh/id_ed25519',
  knownHosts: '/etc/btrfs-vault/ssh/known_hosts',
  keepForAbsentSeconds: 86_400,
  maxAgeSeconds: 86_400,
};

test('a [targets.NAME] with ssh is a backup server with its defaults, beside the disks', async () => {
  const { dir, config } = await load(
    '[targets.home]\nmountpoint = "/media/b-home"\n\n[targets.offsite]\nssh = "backup@vault.example.org"\n',
  );
  assert.deepEqual(
    targetsOf(config).map((t) => t.name),
    ['home'],
  );
  assert.equal(config.remotes?.length, 1);
  const r = config.remotes[0];
  assert.ok(r);
  assert.equal(r.user, 'backup');
  assert.equal(r.host, 'vault.example.org');
  assert.equal(r.port, 22);
  assert.equal(r.identity, join(dir, 'ssh/id_ed25519'));
  assert.equal(r.knownHosts, join(dir, 'ssh/known_hosts'));
  assert.deepEqual(namedTargets(config, 'offsite'), []);
});

test('a config of a backup server alone loads, with no disk', async () => {
  const { config } = await load('[targets.offsite]\nssh = "backup@[::1]"\nport = 2200\n');
  assert.deepEqual(targetsOf(config), []);
  assert.equal(config.remotes![0]!.host, '::1');
  assert.equal(config.remotes![0]!.port, 2200);
});

test('[what we write into other formats] a disk key in a server table, a server key in a disk table, a bad ssh: problems naming the fix', async () => {
  const err = await load(
    '[targets.offsite]\nssh = "backup@vault"\nmountpoint = "/media/x"\nlayers = []\n\n[targets.home]\nport = 22\n',
  ).catch((e: unknown) => e);
  assert.ok(err instanceof ProblemsError, String(err));
  const text = err.problems.join('\n');
  assert.match(text, /targets\.offsite.*backup disk's key\(s\): mountpoint, layers/);
  assert.match(text, /remove mountpoint, layers/);
  assert.match(text, /targets\.home\.port.*a backup server's key/);
  for (const ssh of ['-oProxyCommand=sh@x', 'backup@-oProxyCommand=x', 'backup@host;id', 'backup@host name', 'host'])
    await assert.rejects(load(`[targets.evil]\nssh = ${JSON.stringify(ssh)}\n`), /is not user@host/, ssh);
});

test('the ssh command: our options only, -- before the destination, the verb line last', () => {
  const [file, args] = sshVerb(REMOTE, { verb: 'list', folder: 'home' }, '/run/x');
  assert.equal(file, 'ssh');
  assert.deepEqual(args.slice(-3), ['--', 'backup@vault.example.org', 'list home']);
  const text = args.join(' ');
  for (const o of [
    '-F /dev/null',
    '-o BatchMode=yes',
    '-o StrictHostKeyChecking=yes',
    '-o UserKnownHostsFile="/etc/btrfs-vault/ssh/known_hosts"',
    '-o GlobalKnownHostsFile=/dev/null',
    '-o IdentitiesOnly=yes',
    '-o IdentityFile="/etc/btrfs-vault/ssh/id_ed25519"',
    '-o ControlMaster=auto',

    '-o ControlPersist=60',
    '-p 2222',
  ])
    assert.ok(text.includes(o), `${o} in ${text}`);
  assert.deepEqual(sshExit(REMOTE, '/run/x')[1].slice(-4), ['-O', 'exit', '--', 'backup@vault.example.org']);
  // [two of us at once] another key for the same server is another connection (ssh's %C would share one)
  const path = (r: RemoteTargetConfig) =>
    sshVerb(r, { verb: 'hello' }, '/run/x')[1].find((a) => a.startsWith('ControlPath='));
  assert.match(path(REMOTE)!, new RegExp(`^ControlPath=/run/x/ssh-[0-9a-f]{24}-${process.pid}$`));
  assert.notEqual(path(REMOTE), path({ ...REMOTE, identity: '/etc/other/id' }));
  assert.notEqual(path(REMOTE), path({ ...REMOTE, knownHosts: '/etc/other/known_hosts' }));
  assert.equal(path(REMOTE), path({ ...REMOTE, name: 'renamed' }));
});

test('[what we write into other formats] a key path with a blank or % reaches ssh as one path; a quote is refused', () => {
  const args = sshVerb({ ...REMOTE, identity: '/etc/b v/100%/id' }, { verb: 'hello' })[1];
  assert.ok(args.includes('IdentityFile="/etc/b v/100%%/id"'), args.join(' '));
  assert.throws(() => sshVerb({ ...REMOTE, knownHosts: '/etc/a"b' }, { verb: 'hello' }), UserError);
  assert.throws(() => sshVerb({ ...REMOTE, knownHosts: '/etc/a\nb' }, { verb: 'hello' }), UserError);
});

test("ssh's failures become the target's errors naming the fix, never an empty answer", () => {
  const failed = (stderr: string, code = 255) => sshError(REMOTE, new CommandFailedError('ssh …', code, stderr));
  const changed = failed(
    '@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n',
  );
  assert.ok(changed instanceof TargetError);
  assert.match(changed.message, /did not show the host key pinned/);
  assert.match(changed.fix!, /--fingerprint/);
  const refused = failed('backup@127.0.0.1: Permission denied (publickey).\n');
  assert.ok(refused instanceof TargetError);
  assert.match(refused.fix!, /authorized_keys/);
  const down = failed('ssh: connect to host 127.0.0.1 port 2222: Connection refused\n');
  assert.ok(down instanceof TargetError);
  assert.match(down.message, /could not be reached: ssh: connect to host 127\.0\.0\.1 port 2222: Connection refused/);
  const serve = failed('btrfs-vault serve: the parent is not a complete backup here; run a full backup\n', 3);
  assert.ok(serve instanceof TargetError);
  assert.match(serve.message, /refused: the parent is not a complete backup here/);
  assert.equal(serve.fix, 'run a full backup');
});

test('[remote input] a reply that is not protocol 1 (two lines, not JSON, a name with "/" or "..", a writable backup) is refused, never read as empty', async () => {
  const runner = new FakeRunner();
  const client = new ServeClient(runner, REMOTE, '/run/x');
  const good = {
    name: 'b',
    uuid: '11111111-1111-1111-1111-111111111111',
    receivedUuid: '22222222-2222-2222-2222-222222222222',
    parentUuid: null,
    readonly: true,
  };
  const replies = [
    '',
    'not json\n',
    `${JSON.stringify({ folders: {} })}\n${JSON.stringify({ folders: {} })}\n`,
    JSON.stringify({ folders: { home: { latest: null, backups: [{ ...good, name: '../etc' }] } } }),
    JSON.stringify({ folders: { home: { latest: null, backups: [{ ...good, readonly: false }] } } }),
    JSON.stringify({ folders: { '../x': { latest: null, backups: [] } } }),
    JSON.stringify({ folders: { home: { latest: null, backups: [{ ...good, receivedUuid: '$(reboot)' }] } } }),
  ];
  for (const stdout of replies) {
    runner.on(sshVerb(REMOTE, { verb: 'list', folder: 'home' }, '/run/x'), { stdout });
    await assert.rejects(
      client.list('home'),
      (e: unknown) => e instanceof TargetError && /not a protocol 1 reply/.test(e.message),
      stdout,
    );
  }
  runner.on(sshVerb(REMOTE, { verb: 'list', folder: 'home' }, '/run/x'), {
    stdout: `${JSON.stringify({ folders: { home: { latest: 'b', backups: [good] } } })}\n`,
  });
  assert.equal((await client.list('home')).home?.backups[0]?.name, 'b');
});

test('[remote input] a receive answered with another copy than the one sent is not counted as done', () => {
  const client = new ServeClient(new FakeRunner(), REMOTE, '/run/x');
  const backup = {
    name: 'b',
    uuid: '11111111-1111-1111-1111-111111111111',
    receivedUuid: '22222222-2222-2222-2222-222222222222',
    parentUuid: null,
    readonly: true,
  };
  assert.throws(
    () => client.received(JSON.stringify({ received: backup }), 'b', '33333333-3333-3333-3333-333333333333'),
    /answered the receive of b .* not counted as done/,
  );
  assert.equal(client.received(JSON.stringify({ received: backup }), 'b', backup.receivedUuid).name, 'b');
});

/** a client whose key file is there and root's alone (open checks it before the first call) */
function openClient(runner: FakeRunner): { client: ServeClient; remote: RemoteTargetConfig } {
  const identity = join(scratchDir('key'), 'id');
  writeFileSync(identity, 'key', { mode: 0o600 });
  const remote = { ...REMOTE, identity };
  return { client: new ServeClient(runner, remote, '/run/x'), remote };
}

const BACKUP = {
  name: 'b',
  uuid: '11111111-1111-1111-1111-111111111111',
  receivedUuid: '22222222-2222-2222-2222-222222222222',
  parentUuid: null,
  readonly: true,
};

test("open: the run's one list says hello's answer too; no hello is asked", async () => {
  const runner = new FakeRunner();
  const { client, remote } = openClient(runner);
  const folders = { home: { latest: 'b', backups: [BACKUP] } };
  runner.on(sshVerb(remote, { verb: 'list' }, '/run/x'), {
    stdout: `${JSON.stringify({ protocol: 1, version: '0.1.0', folders })}\n`,
  });
  const opened = await client.open();
  assert.deepEqual(opened, { hello: { protocol: 1, version: '0.1.0' }, folders });
  assert.equal(runner.calls.filter((c) => c.includes(' hello')).length, 0);
});

test('open against an older server (its list says no protocol): hello is asked, then the list is used', async () => {
  const runner = new FakeRunner();
  const { client, remote } = openClient(runner);
  const folders = { home: { latest: null, backups: [BACKUP] } };
  runner.on(sshVerb(remote, { verb: 'list', folder: 'home' }, '/run/x'), { stdout: JSON.stringify({ folders }) });
  // an older server's hello tells its free space too: not asked for, not kept
  runner.on(sshVerb(remote, { verb: 'hello' }, '/run/x'), {
    stdout: JSON.stringify({ protocol: 1, version: '0.0.9', freeBytes: 7 }),
  });
  assert.deepEqual(await client.open('home'), { hello: { protocol: 1, version: '0.0.9' }, folders });
});

test('[remote input] open: a list that says another protocol is refused before its folders are read; an older server whose hello says another is refused too', async () => {
  const runner = new FakeRunner();
  const { client, remote } = openClient(runner);
  // folders a protocol 1 client could not read: the protocol is what is reported
  runner.on(sshVerb(remote, { verb: 'list' }, '/run/x'), {
    stdout: JSON.stringify({ protocol: 2, version: '9.0.0', freeBytes: 1, folders: [['home']] }),
  });
  await assert.rejects(client.open(), (e: unknown) => e instanceof TargetError && /speaks protocol 2/.test(e.message));
  runner.on(sshVerb(remote, { verb: 'list' }, '/run/x'), { stdout: JSON.stringify({ folders: {} }) });
  runner.on(sshVerb(remote, { verb: 'hello' }, '/run/x'), {
    stdout: JSON.stringify({ protocol: 2, version: '9.0.0', freeBytes: 1 }),
  });
  await assert.rejects(client.open(), (e: unknown) => e instanceof TargetError && /speaks protocol 2/.test(e.message));
});

test('[remote input] open: a list that says protocol 1 with a version or folders of the wrong kind is no protocol 1 reply', async () => {
  const runner = new FakeRunner();
  const { client, remote } = openClient(runner);
  for (const reply of [
    { protocol: 1, folders: {} },
    { protocol: 1, version: '1', folders: [] },
    { protocol: '1', version: '1', folders: {} },
    { protocol: 1, version: 1, folders: {} },
  ]) {
    runner.on(sshVerb(remote, { verb: 'list' }, '/run/x'), { stdout: JSON.stringify(reply) });
    await assert.rejects(
      client.open(),
      (e: unknown) => e instanceof TargetError && /not a protocol 1 reply/.test(e.message),
      JSON.stringify(reply),
    );
  }
});
