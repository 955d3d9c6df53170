import { test, before, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeScenario, type Scenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { scratchDir } from '../support/scratch.js';
import { unitNames } from '../../src/flows/schedule/schedule.js';
import { BIN, RELEASE_BIN } from '../support/cli.js';
import { sh } from '../support/sh.js';
import { execWords, udevRules } from '../support/unit-text.js';

// Issue 19, the hostile way: notify (its URL is a secret, its command a program we do
// not know), schedule (what we write into systemd units and udev rules), and the release
// build (no test switch in what npm pack ships). One scenario (256 MiB loop
// filesystems) for all; each case writes the config it needs.
before(() => requireRoot());

let s: Scenario;
let baseConfig: string;
let server: Server;
let port: number;
/** what the local server answers, and what it was sent */
let answer = 200;
const posts: { url: string; body: string }[] = [];
const pids: number[] = [];

before(async () => {
  s = makeScenario({ sizeMiB: 256 });
  baseConfig = readFileSync(s.config, 'utf8');
  writeFileSync(join(s.data, 'f'), 'x');
  assert.equal(s.cli(['backup', '--config', s.config]).code, 0, 'a first backup: later runs find the source unchanged');
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      posts.push({ url: req.url ?? '', body });
      res.statusCode = answer;
      res.end(answer === 200 ? 'OK' : 'no');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

// each case starts from the plain config
beforeEach(() => {
  if (s && baseConfig) writeFileSync(s.config, baseConfig);
});

after(() => {
  server?.close();
  // the children the notify commands left behind, by the PIDs they wrote down
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  s?.dispose();
});

/** The base config with a [notify] table. */
function withNotify(toml: string): void {
  writeFileSync(s.config, `${baseConfig}\n[notify]\n${toml}\n`);
}

/** The CLI without blocking this process (the notify server runs here), killed after `ms`. */
function cliAsync(
  args: string[],
  ms = 60_000,
  bin = BIN,
): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const t = Date.now();
    let stdout = '';
    let stderr = '';
    const child = spawn('node', [bin, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t });
    });
  });
}

/** running (a zombie nobody reaped yet is dead) */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

function pidFrom(file: string): number {
  const pid = Number(readFileSync(file, 'utf8').trim());
  pids.push(pid);
  return pid;
}

// ---------------------------------------------------------------- secrets

test('[secrets] a notify URL with user:password@: refused by the config check with the fix, the password shown nowhere', async () => {
  withNotify(`url = "http://alice:pw-S3CRET@127.0.0.1:${port}/ping/KEY-1"\non = ["success", "failure"]`);
  const before = posts.length;
  for (const args of [['backup'], ['backup', '--json'], ['status', '--json'], ['doctor', '--json']]) {
    const r = await cliAsync([...args, '--config', s.config]);
    const all = r.stdout + r.stderr;
    assert.doesNotMatch(all, /pw-S3CRET|KEY-1|alice/, `${args.join(' ')}: nothing of the URL\n${all}`);
    if (args[0] === 'backup') {
      assert.equal(r.code, 2, all);
      assert.match(all, /notify\.url .*user name or password.*never sent.*(path|notify\.command)/s);
    }
  }
  assert.equal(posts.length, before, 'nothing was sent');
});

test('[secrets] a ping key in the path and a token in the query, answered 500: every failure line names scheme and host only, in stderr and --json', async () => {
  withNotify(`url = "http://127.0.0.1:${port}/ping/KEY-2b7f?token=TOK-99"\non = ["success", "failure"]`);
  answer = 500;
  try {
    for (const args of [['backup'], ['backup', '--json']]) {
      const r = await cliAsync([...args, '--config', s.config]);
      assert.equal(r.code, 0, r.stderr);
      const all = r.stdout + r.stderr;
      assert.match(r.stderr, new RegExp(`notify\\.url http://127\\.0\\.0\\.1:${port}/… answered 500`));
      assert.doesNotMatch(all, /KEY-2b7f|TOK-99|\/ping/, all);
    }
    for (const args of [['status', '--json'], ['doctor', '--json'], ['status'], ['doctor']]) {
      const r = await cliAsync([...args, '--config', s.config]);
      assert.doesNotMatch(r.stdout + r.stderr, /KEY-2b7f|TOK-99|\/ping/, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    }
    assert.equal(posts.at(-1)?.url, '/ping/KEY-2b7f?token=TOK-99', 'the whole URL is what is sent');
  } finally {
    answer = 200;
  }
});

test('[secrets] the notify host refuses the connection: the cause is named (connection refused, ECONNREFUSED), the key is not', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const dead = (closed.address() as { port: number }).port;
  await new Promise((r) => closed.close(r));
  withNotify(`url = "http://127.0.0.1:${dead}/KEY-refused"\non = ["success"]`);
  const r = await cliAsync(['backup', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `notify\\.url http://127\\.0\\.0\\.1:${dead}/… could not be reached: connection refused \\(ECONNREFUSED\\)`,
    ),
  );
  assert.doesNotMatch(r.stderr, /KEY-refused|fetch failed$/m);
});

test('[secrets] https to a server that speaks plain HTTP: named as a TLS failure with its code, the key is not shown', async () => {
  withNotify(`url = "https://127.0.0.1:${port}/KEY-tls"\non = ["success"]`);
  const r = await cliAsync(['backup', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`notify\\.url https://127\\.0\\.0\\.1:${port}/… could not be reached: (TLS failed|.*SSL|.*TLS)`),
  );
  assert.match(r.stderr, /\((ERR_SSL_|EPROTO|ERR_TLS)\w*\)/, 'the code of the cause');
  assert.doesNotMatch(r.stderr, /KEY-tls/);
});

test('[secrets] a wrong value elsewhere in [notify]: the problem list does not show the URL; a wrong URL is named, not shown', async () => {
  withNotify(`url = "http://127.0.0.1:${port}/KEY-list"\ntimeout = "soon"`);
  const r = await cliAsync(['backup', '--config', s.config]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /notify\.timeout/);
  assert.doesNotMatch(r.stderr, /KEY-list/);
  withNotify('url = "ftp://KEY-ftp.example/x"');
  const bad = await cliAsync(['backup', '--config', s.config]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /notify\.url = \(not shown: a secret\) is not an http\(s\) URL/);
  assert.doesNotMatch(bad.stderr, /KEY-ftp/);
});

// ---------------------------------------------------------------- programs we run

test('[programs we run] a notify command leaves a child holding its output (sleep 1000 & echo started): the run does not wait for the child', async () => {
  const pidFile = join(s.dir, 'child-1.pid');
  withNotify(`command = ["/bin/sh", "-c", "sleep 1000 & echo $! > ${pidFile}; echo started"]\non = ["success"]`);
  const r = await cliAsync(['backup', '--config', s.config], 30_000);
  assert.equal(r.code, 0, `the run ended by itself (it was killed after 30 s otherwise)\n${r.stderr}`);
  assert.ok(r.ms < 15_000, `${r.ms} ms`);
  assert.ok(alive(pidFrom(pidFile)), 'a child that outlives a notify command that succeeded is its own business');
});

test('[programs we run] a notify command that never ends: ended after notify.timeout with its whole process group, and the log says so', async () => {
  const pidFile = join(s.dir, 'child-2.pid');
  withNotify(
    `command = ["/bin/sh", "-c", "sleep 1000 & echo $! > ${pidFile}; sleep 1000"]\ntimeout = 2\non = ["success"]`,
  );
  const r = await cliAsync(['backup', '--config', s.config], 40_000);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.ms < 15_000, `${r.ms} ms`);
  assert.match(
    r.stderr,
    /notify\.command \/bin\/sh was still running after 2 s \(notify\.timeout\): it and its children were ended/,
  );
  assert.ok(!alive(pidFrom(pidFile)), 'its background child went with it');
});

test('[programs we run] a notify command that ignores SIGTERM, and so does its child: SIGKILL of the group after the grace', async () => {
  const pidFile = join(s.dir, 'child-3.pid');
  withNotify(
    `command = ["/bin/sh", "-c", "trap '' TERM; sleep 1000 & echo $! > ${pidFile}; sleep 1000"]\ntimeout = 1\non = ["success"]`,
  );
  const r = await cliAsync(['backup', '--config', s.config], 40_000);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.ms >= 5_000 && r.ms < 20_000, `TERM ignored, KILL after the 5 s grace: ${r.ms} ms`);
  assert.match(r.stderr, /still running after 1 s/);
  assert.ok(!alive(pidFrom(pidFile)));
});

test("[programs we run] 150 MB on a notify command's stdout: read and dropped, the run stays small", (t) => {
  const done = join(s.dir, 'wrote-150MB');
  withNotify(`command = ["/bin/sh", "-c", "head -c 150000000 /dev/zero && touch ${done}"]\non = ["success"]`);
  const rss = join(s.dir, 'rss');
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rss, 'node', BIN, 'backup', '--config', s.config], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const kib = Number(readFileSync(rss, 'utf8').trim().split('\n').at(-1));
  t.diagnostic(`max RSS of the run: ${Math.round(kib / 1024)} MiB`);
  assert.ok(kib < 200 * 1024, `max RSS ${Math.round(kib / 1024)} MiB`);
  assert.doesNotMatch(r.stderr, /notify/, 'a command that succeeded is not news');
  assert.ok(existsSync(done), 'all 150 MB were read: head ended well');
});

test("[programs we run] 5 MB of a failing notify command's stderr: a few short lines in the log, not 5 MB", async () => {
  withNotify(
    'command = ["/bin/sh", "-c", "yes this-is-a-complaint | head -c 5000000 >&2; echo LAST-WORDS >&2; exit 3"]\non = ["success"]',
  );
  const r = await cliAsync(['backup', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  const from = r.stderr.indexOf('notify.command');
  assert.ok(from >= 0, r.stderr.slice(0, 2000));
  const told = r.stderr.slice(from);
  assert.match(told, /^notify\.command \/bin\/sh failed \(exit 3\)/);
  assert.match(told, /LAST-WORDS/, 'the end of what it said');
  assert.match(told, /earlier (lines|bytes).* not shown/);
  assert.ok(
    told.split('\n').length <= 10 && told.length < 4096,
    `${told.split('\n').length} lines, ${told.length} characters`,
  );
});

test('[programs we run] a notify command that does not exist: one line naming it, the run still succeeds', async () => {
  withNotify('command = ["/nonexistent/tell-me", "--token", "ARG-SECRET"]\non = ["success"]');
  const r = await cliAsync(['backup', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /notify\.command \/nonexistent\/tell-me failed/);
  assert.doesNotMatch(r.stderr, /ARG-SECRET/, 'the program is named, not its arguments');
});

test('[programs we run] doctor on a host whose target is LUKS alone: cryptsetup is required, mdadm and lvm are not asked for, sgdisk only for setup', async () => {
  writeFileSync(s.config, `${baseConfig}layers = ["luks"]\n`);
  const r = await cliAsync(['doctor', '--json', '--config', s.config]);
  const checks: { name: string; level: string; detail: string }[] = JSON.parse(r.stdout).checks;
  const programs = checks.filter((c) => ['mdadm', 'cryptsetup', 'lvm', 'sgdisk'].includes(c.name)).map((c) => c.name);
  assert.deepEqual(programs.sort(), ['cryptsetup', 'sgdisk'], r.stdout);
  writeFileSync(s.config, `${baseConfig}layers = []\n`);
  const plain = JSON.parse((await cliAsync(['doctor', '--json', '--config', s.config])).stdout).checks.map(
    (c: { name: string }) => c.name,
  );
  assert.ok(!plain.includes('cryptsetup') && !plain.includes('mdadm') && plain.includes('sgdisk'), plain.join(', '));
});

test('[programs we run] doctor without mdadm, lvm and sgdisk on the PATH, target LUKS alone: no error for a program the layers do not use', async () => {
  // a PATH of every program but mdadm, lvm and sgdisk
  const bin = join(s.dir, 'path-without-mdadm');
  mkdirSync(bin, { recursive: true });
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d))
      if (!['mdadm', 'lvm', 'sgdisk'].includes(f) && !existsSync(join(bin, f))) symlinkSync(join(d, f), join(bin, f));
  }
  writeFileSync(s.config, `${baseConfig}layers = ["luks"]\n`);
  const r = spawnSync('node', [BIN, 'doctor', '--json', '--config', s.config], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', PATH: bin },
  });
  const checks: { name: string; level: string; detail: string }[] = JSON.parse(r.stdout).checks;
  const errors = checks.filter((c) => c.level === 'error').map((c) => `${c.name}: ${c.detail}`);
  assert.deepEqual(
    errors.filter((e) => /mdadm|lvm|sgdisk/.test(e)),
    [],
    errors.join('\n'),
  );
  assert.equal(checks.find((c) => c.name === 'sgdisk')?.level, 'warn', 'setup would need it: a warning');
  assert.match(checks.find((c) => c.name === 'sgdisk')!.detail, /setup and add-mirror need it/);
  writeFileSync(s.config, baseConfig);
});

// ---------------------------------------------------------------- what we write into other formats

/** The config copied to a folder of the given name (with its token hash beside it). */
function configIn(folder: string): string {
  const dir = join(s.dir, folder);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  copyFileSync(join(s.configDir, 'token.sha512'), join(dir, 'token.sha512'));
  const file = join(dir, 'config.toml');
  writeFileSync(file, baseConfig, { mode: 0o600 });
  return file;
}

const INJECTION = 'u\nACTION=="add", SUBSYSTEM=="block", RUN+="/bin/touch /tmp/bv-pwned"\n#';

test('[what we write into other formats] a config path with newlines that would make a second root udev rule: refused before anything is written, dry-run too', () => {
  const config = configIn(INJECTION);
  const root = join(s.dir, 'root-nl');
  for (const dry of [['--dry-run'], []]) {
    const r = s.cli(['schedule', 'install', '--root', root, '--on-plug', ...dry, '--config', config]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /the config path .* holds a control character \(\\x0a\).*\n.*fix: move the config to a path without control characters/,
    );
    assert.doesNotMatch(r.stdout, /RUN\+=/, 'not even shown as a unit to copy');
    assert.ok(!existsSync(root), 'nothing written');
  }
});

test('[what we write into other formats] a config path with % $ " \\ ; and spaces: units systemd-analyze accepts, whose ExecStart gives back the exact path, and exactly one udev rule', () => {
  const config = configIn('we%Zird $HOME ${PATH} "q" back\\slash ; x');
  const root = join(s.dir, 'root-odd');
  const r = s.cli(['schedule', 'install', '--root', root, '--every', 'daily', '--on-plug', '--config', config]);
  assert.equal(r.code, 0, r.stderr);
  const n = unitNames(config);
  const unit = (f: string) => join(root, 'etc/systemd/system', f);
  for (const f of [n.service, n.plugService]) {
    const line = readFileSync(unit(f), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('ExecStart='))!;
    const words = execWords(line.slice('ExecStart='.length));
    assert.equal(words.at(-1), config, line);
    assert.equal(words.at(-2), '--config');
  }
  const verify = spawnSync('systemd-analyze', ['verify', unit(n.service), unit(n.timer), unit(n.plugService)], {
    encoding: 'utf8',
  });
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'no complaint at all');
  const rules = udevRules(readFileSync(join(root, 'etc/udev/rules.d', n.rule), 'utf8'));
  assert.equal(rules.length, 1, JSON.stringify(rules));
  assert.deepEqual(
    rules[0]!.map((p) => p.key),
    ['ACTION', 'SUBSYSTEM', 'ENV{ID_FS_UUID}', 'TAG', 'ENV{SYSTEMD_WANTS}'],
  );
});

test('[what we write into other formats] --every with a newline or a % specifier: refused before anything is written', () => {
  const root = join(s.dir, 'root-every');
  for (const every of ['daily\nExecStartPre=/bin/touch /tmp/bv-pwned', 'daily %n']) {
    const r = s.cli(['schedule', 'install', '--root', root, '--every', every, '--config', s.config]);
    assert.equal(r.code, 2, r.stdout);
    assert.ok(!existsSync(root));
  }
  const r = s.cli(['schedule', 'install', '--root', root, '--every', 'daily', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  const timer = readFileSync(join(root, 'etc/systemd/system', unitNames(s.config).timer), 'utf8');
  assert.deepEqual(
    timer.split('\n').filter((l) => /^(OnCalendar|ExecStart)/.test(l)),
    ['OnCalendar=daily'],
  );
});

test('[paths we are given] --every=--help (an option to systemd-analyze, which would print its help and exit 0): refused as no calendar expression, nothing written', () => {
  const root = join(s.dir, 'root-every-option');
  const r = s.cli(['schedule', 'install', '--root', root, '--every=--help', '--config', s.config]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /--every --help is not a calendar expression systemd understands/);
  assert.ok(!existsSync(root), 'nothing written');
});

// ---------------------------------------------------------------- what we delete

test('[what we delete] schedule install again without --on-plug: our rule and plug service go, and the output says so', () => {
  const root = join(s.dir, 'root-again');
  const n = unitNames(s.config);
  assert.equal(s.cli(['schedule', 'install', '--root', root, '--on-plug', '--config', s.config]).code, 0);
  const rule = join(root, 'etc/udev/rules.d', n.rule);
  const plug = join(root, 'etc/systemd/system', n.plugService);
  assert.ok(existsSync(rule) && existsSync(plug));
  const dry = s.cli(['schedule', 'install', '--root', root, '--dry-run', '--config', s.config]);
  assert.match(dry.stdout, /would remove \(on plug-in not asked for\)/);
  assert.ok(existsSync(rule), 'a dry-run removes nothing');
  const r = s.cli(['schedule', 'install', '--root', root, '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(`removed \\(on plug-in was not asked for this time\\):\\n  \\S+${n.plugService}\\n  \\S+${n.rule}`),
  );
  assert.ok(!existsSync(rule) && !existsSync(plug));
  assert.ok(existsSync(join(root, 'etc/systemd/system', n.timer)), 'the timer stays');
});

test("[what we delete] a file under our rule's name that we did not write: left alone by a reinstall", () => {
  const root = join(s.dir, 'root-foreign');
  const n = unitNames(s.config);
  const rule = join(root, 'etc/udev/rules.d', n.rule);
  mkdirSync(join(root, 'etc/udev/rules.d'), { recursive: true });
  writeFileSync(
    rule,
    '# the admin\'s own rule\nACTION=="add", SUBSYSTEM=="block", ENV{ID_FS_UUID}=="x", RUN+="/bin/true"\n',
  );
  const r = s.cli(['schedule', 'install', '--root', root, '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /removed/);
  assert.match(readFileSync(rule, 'utf8'), /the admin's own rule/);
});

test('[what we delete] schedule remove: a unit under our name that we did not write is left alone and named; ours go', () => {
  const root = join(s.dir, 'root-remove');
  const n = unitNames(s.config);
  assert.equal(s.cli(['schedule', 'install', '--root', root, '--on-plug', '--config', s.config]).code, 0);
  const service = join(root, 'etc/systemd/system', n.service);
  writeFileSync(service, "[Unit]\nDescription=the admin's own service\n[Service]\nExecStart=/bin/true\n");
  const r = s.cli(['schedule', 'remove', '--root', root, '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`left alone \\(not written by btrfs-vault\\):\\n  \\S+${n.service}`));
  assert.match(readFileSync(service, 'utf8'), /the admin's own service/);
  for (const f of [
    join(root, 'etc/systemd/system', n.timer),
    join(root, 'etc/systemd/system', n.plugService),
    join(root, 'etc/udev/rules.d', n.rule),
  ])
    assert.ok(!existsSync(f), f);
});

// ---------------------------------------------------------------- the release build

test('[the release build] npm pack: no file of the tarball holds a BTRFS_VAULT_TEST switch (the test build does)', () => {
  const dir = scratchDir('pack-hooks');
  const tarball = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], {
    encoding: 'utf8',
  })
    .trim()
    .split('\n')
    .at(-1)!;
  sh('tar', ['-xzf', join(dir, tarball), '-C', dir]);
  const files = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(join(d, e.name)) : [join(d, e.name)],
    );
  const packed = files(join(dir, 'package'));
  assert.ok(
    packed.some((f) => f.endsWith('commands.cjs')),
    packed.join('\n'),
  );
  // the docs may name the switches (how the tests work); what runs must not hold them
  assert.deepEqual(
    packed.filter((f) => !f.endsWith('.md') && readFileSync(f, 'latin1').includes('BTRFS_VAULT_TEST')),
    [],
  );
  assert.ok(
    readFileSync(join(process.cwd(), 'dist/test-bundle/commands.cjs'), 'utf8').includes('BTRFS_VAULT_TEST_KILL_AT'),
    'the test build has the hooks',
  );
});

test("[the release build] a stale BTRFS_VAULT_TEST_KILL_AT in root's environment: the test build obeys it, the released program ignores it", () => {
  writeFileSync(s.config, baseConfig);
  writeFileSync(join(s.data, 'g'), String(Date.now()));
  const env = { ...process.env, NO_COLOR: '1', BTRFS_VAULT_TEST_KILL_AT: 'before-snapshot' };
  const killed = spawnSync('node', [BIN, 'backup', '--config', s.config], { encoding: 'utf8', env });
  assert.equal(killed.signal, 'SIGKILL', 'the switch is real in the test build');
  const released = spawnSync('node', [RELEASE_BIN, 'backup', '--json', '--config', s.config], {
    encoding: 'utf8',
    env,
  });
  assert.equal(released.status, 0, released.stderr);
  assert.equal(JSON.parse(released.stdout).sources[0].mode, 'incremental');
});
