import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeScenario, type Scenario } from '../support/scenario.js';
import { makeLoopBtrfs, requireRoot, type LoopFs } from '../support/loop-disk.js';
import { sh } from '../support/sh.js';
import { execWords, udevRules } from '../support/unit-text.js';
import { unitNames } from '../../src/flows/schedule/schedule.js';

// Several backup disks on one host (rotation), what the host keeps for each: a plug
// service and udev rule per disk, each starting a run for that disk alone; doctor
// checks every disk's lines and tells each mounted disk by its token. Two plain btrfs
// disks on loop devices, `home` and `office`.
before(() => requireRoot());

let s: Scenario;
let office: LoopFs;
let twoDisks: string;

before(() => {
  s = makeScenario({ sizeMiB: 256 });
  office = makeLoopBtrfs(s.dir, 'office', 256);
  const token = randomBytes(64);
  writeFileSync(join(office.mountPoint, '.token'), token, { mode: 0o600 });
  writeFileSync(
    join(s.configDir, 'token-office.sha512'),
    `${createHash('sha512').update(token).digest('hex')}  ${join(office.mountPoint, '.token')}\n`,
    { mode: 0o600 },
  );
  const base = readFileSync(s.config, 'utf8').replace(/\n\[target\]\n[\s\S]*$/, '\n');
  twoDisks =
    `${base}[targets.home]\nmountpoint = ${JSON.stringify(s.dst.mountPoint)}\ntoken_sha512 = "token.sha512"\n\n` +
    `[targets.office]\nmountpoint = ${JSON.stringify(office.mountPoint)}\n`;
  writeFileSync(s.config, twoDisks);
});

after(() => {
  office?.dispose();
  s?.dispose();
});

const uuidOf = (fs: LoopFs) => sh('blkid', ['-s', 'UUID', '-o', 'value', fs.device]).trim();
const unitDir = (root: string) => join(root, 'etc/systemd/system');
const ruleDir = (root: string) => join(root, 'etc/udev/rules.d');

function execStart(file: string): string[] {
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ExecStart='))!;
  return execWords(line.slice('ExecStart='.length));
}

test('schedule install --on-plug with two disks: a rule and a plug service per disk, each matching that disk alone and starting a run for it alone', () => {
  const root = join(s.dir, 'root-two');
  const r = s.cli(['schedule', 'install', '--root', root, '--every', 'daily', '--on-plug', '--config', s.config]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /when a backup disk \(home, office\) is plugged in/);
  const single = unitNames(s.config);
  assert.ok(!existsSync(join(unitDir(root), single.plugService)) && !existsSync(join(ruleDir(root), single.rule)));
  const services: string[] = [];
  for (const [name, fs] of [
    ['home', s.dst],
    ['office', office],
  ] as const) {
    const n = unitNames(s.config, name);
    const rules = udevRules(readFileSync(join(ruleDir(root), n.rule), 'utf8'));
    assert.equal(rules.length, 1, JSON.stringify(rules));
    assert.deepEqual(
      rules[0]!.map((p) => [p.key, p.op, p.value]),
      [
        ['ACTION', '==', 'add'],
        ['SUBSYSTEM', '==', 'block'],
        ['ENV{ID_FS_UUID}', '==', uuidOf(fs)],
        ['TAG', '+=', 'systemd'],
        ['ENV{SYSTEMD_WANTS}', '+=', n.plugService],
      ],
    );
    const service = join(unitDir(root), n.plugService);
    assert.deepEqual(execStart(service).slice(-6), ['backup', '--on-plug', '--target', name, '--config', s.config]);
    services.push(service);
  }
  assert.notEqual(uuidOf(s.dst), uuidOf(office));
  // the timer's runs use whichever disks are attached: no --target
  assert.deepEqual(execStart(join(unitDir(root), single.service)).slice(-4), [
    'backup',
    '--scheduled',
    '--config',
    s.config,
  ]);
  const verify = spawnSync(
    'systemd-analyze',
    ['verify', join(unitDir(root), single.service), join(unitDir(root), single.timer), ...services],
    { encoding: 'utf8' },
  );
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'no complaint at all');
});

test('[what we delete] a disk that is away keeps its rule from an earlier install; the output says it could not be told now', () => {
  const root = join(s.dir, 'root-away');
  assert.equal(s.cli(['schedule', 'install', '--root', root, '--on-plug', '--config', s.config]).code, 0);
  const officeRule = join(ruleDir(root), unitNames(s.config, 'office').rule);
  const before = readFileSync(officeRule, 'utf8');
  sh('umount', [office.mountPoint]);
  try {
    const r = s.cli(['schedule', 'install', '--root', root, '--on-plug', '--config', s.config]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /the backup disk office \(.*\) is not attached, so udev cannot be told its UUID now; its rule from an earlier install \(if any\) stays/,
    );
    assert.doesNotMatch(r.stdout, /removed/);
    assert.equal(readFileSync(officeRule, 'utf8'), before, 'kept as it was');
    assert.ok(existsSync(join(ruleDir(root), unitNames(s.config, 'home').rule)));
  } finally {
    sh('mount', [office.device, office.mountPoint]);
  }
});

test("[what we delete] down to one disk: the per-disk rules go, the one-disk rule comes; files of our names we did not write, and another config's, stay", () => {
  const root = join(s.dir, 'root-one');
  assert.equal(s.cli(['schedule', 'install', '--root', root, '--on-plug', '--config', s.config]).code, 0);
  // an admin's own file under a per-disk name of ours, and another config's per-disk rule
  const theirs = join(ruleDir(root), unitNames(s.config, 'spare').rule);
  writeFileSync(theirs, '# the admin\'s own\nACTION=="add", ENV{ID_FS_UUID}=="x", RUN+="/bin/true"\n');
  const other = join(ruleDir(root), unitNames('/etc/other/config.toml', 'home').rule);
  writeFileSync(other, readFileSync(join(ruleDir(root), unitNames(s.config, 'home').rule), 'utf8'));
  writeFileSync(s.config, twoDisks.replace(/\n\[targets\.office\]\n[\s\S]*$/, '\n'));
  try {
    const r = s.cli(['schedule', 'install', '--root', root, '--on-plug', '--config', s.config]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const name of ['home', 'office']) {
      const n = unitNames(s.config, name);
      assert.ok(!existsSync(join(ruleDir(root), n.rule)) && !existsSync(join(unitDir(root), n.plugService)), name);
      assert.match(r.stdout, new RegExp(`removed .*:\\n(  \\S+\\n)*  \\S+${n.rule.replace(/\./g, '\\.')}`));
    }
    const single = unitNames(s.config);
    assert.deepEqual(execStart(join(unitDir(root), single.plugService)).slice(-4), [
      'backup',
      '--on-plug',
      '--config',
      s.config,
    ]);
    assert.ok(existsSync(join(ruleDir(root), single.rule)));
    assert.match(readFileSync(theirs, 'utf8'), /the admin's own/);
    assert.ok(existsSync(other), "another config's rule");
    const removed = s.cli(['schedule', 'remove', '--root', root, '--config', s.config]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.ok(!existsSync(join(ruleDir(root), single.rule)));
    assert.ok(existsSync(theirs) && existsSync(other));
  } finally {
    writeFileSync(s.config, twoDisks);
  }
});

test('[what we delete] schedule remove with two disks takes every per-disk rule and service away', () => {
  const root = join(s.dir, 'root-remove');
  assert.equal(s.cli(['schedule', 'install', '--root', root, '--on-plug', '--config', s.config]).code, 0);
  const r = s.cli(['schedule', 'remove', '--root', root, '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  for (const name of ['home', 'office']) {
    const n = unitNames(s.config, name);
    assert.ok(!existsSync(join(ruleDir(root), n.rule)) && !existsSync(join(unitDir(root), n.plugService)), name);
  }
  assert.ok(!existsSync(join(unitDir(root), unitNames(s.config).timer)));
});

type DoctorCheck = { area: string; name: string; level: string; detail: string; fix?: string };
function doctor(): { code: number; checks: DoctorCheck[] } {
  const r = s.cli(['doctor', '--json', '--config', s.config]);
  return { code: r.code, checks: (JSON.parse(r.stdout) as { checks: DoctorCheck[] }).checks };
}

test("a disk's plug service, run as systemd runs it, backs up to that disk alone", () => {
  const root = join(s.dir, 'root-run');
  assert.equal(s.cli(['schedule', 'install', '--root', root, '--on-plug', '--config', s.config]).code, 0);
  const latest = (mp: string) => {
    try {
      // the source's folder: its path with / as - (docs/CONFIG.md, "Folder names")
      return readlinkSync(join(mp, s.data.slice(1).replaceAll('/', '-'), 'latest'));
    } catch {
      return undefined;
    }
  };
  for (const [name, mine, other] of [
    ['office', office.mountPoint, s.dst.mountPoint],
    ['home', s.dst.mountPoint, office.mountPoint],
  ] as const) {
    const [before, untouched] = [latest(mine), latest(other)];
    const words = execStart(join(unitDir(root), unitNames(s.config, name).plugService));
    const r = spawnSync(words[0]!, words.slice(1), { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(
      latest(mine) !== undefined && latest(mine) !== before,
      `${name} got a new backup:\n${r.stdout}${r.stderr}`,
    );
    assert.equal(latest(other), untouched, `the other disk was left alone by ${name}'s run`);
  }
});

test("doctor with two disks: each disk's token hash and fstab, each mounted disk told by its token", () => {
  const { checks } = doctor();
  for (const name of ['home', 'office']) {
    const hash = checks.find((c) => c.name === `token hash ${name}`);
    assert.equal(hash?.level, 'ok', JSON.stringify(hash));
    assert.match(hash.detail, new RegExp(`^${name}: `));
    const token = checks.find((c) => c.name === `token ${name}`);
    assert.equal(token?.level, 'ok', JSON.stringify(token));
    assert.match(token.detail, new RegExp(`is the backup disk ${name}: its token matches`));
  }
  assert.match(checks.find((c) => c.area === 'config' && c.name === 'config')!.detail, /home .*, office /);
});

test("[ordering and agreement] doctor: a disk whose token hash matches no configured one, and two disks mounted at each other's places, are errors naming the fix", () => {
  const hashFile = join(s.configDir, 'token-office.sha512');
  const kept = readFileSync(hashFile, 'utf8');
  writeFileSync(hashFile, `${'0'.repeat(128)}  ${join(office.mountPoint, '.token')}\n`, { mode: 0o600 });
  try {
    const { code, checks } = doctor();
    const c = checks.find((x) => x.name === 'token office')!;
    assert.equal(c.level, 'error');
    assert.match(c.detail, /holds a token whose hash matches none of the configured backup disks'/);
    assert.match(c.fix ?? '', /if it is this host's disk office, write its hash again/);
    assert.doesNotMatch(JSON.stringify(checks), /[0-9a-f]{128}/, 'no hash, no token shown');
    assert.equal(code, 2);
  } finally {
    writeFileSync(hashFile, kept, { mode: 0o600 });
  }
  // each disk at the other's mount point
  const spare = join(s.dir, 'swap');
  mkdirSync(spare, { recursive: true });
  sh('umount', [office.mountPoint]);
  sh('umount', [s.dst.mountPoint]);
  sh('mount', [office.device, s.dst.mountPoint]);
  sh('mount', [s.dst.device, office.mountPoint]);
  try {
    const { code, checks } = doctor();
    const home = checks.find((x) => x.name === 'token home')!;
    assert.equal(home.level, 'error');
    assert.match(home.detail, /\(the backup disk home's place\) is the backup disk office/);
    assert.match(checks.find((x) => x.name === 'token office')!.detail, /is the backup disk home/);
    assert.equal(code, 2);
  } finally {
    sh('umount', [office.mountPoint]);
    sh('umount', [s.dst.mountPoint]);
    sh('mount', [s.dst.device, s.dst.mountPoint]);
    sh('mount', [office.device, office.mountPoint]);
  }
  assert.equal(doctor().checks.find((x) => x.name === 'token office')?.level, 'ok');
});
