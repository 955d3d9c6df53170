import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeScenario, type Scenario } from '../support/scenario.js';
import { requireRoot } from '../support/loop-disk.js';
import { tree } from '../support/tree.js';
import { sh } from '../support/sh.js';
import { sourceName } from '../../src/core/naming.js';
import { unitNames } from '../../src/flows/schedule/schedule.js';

// One consistent command line (issue 24), through the real CLI on loop-device btrfs: an
// option that does not apply is refused with the fix (exit 2, nothing written), never
// ignored; the flags the units pass are hidden from --help and still accepted; a source
// is named by path or name everywhere; every command's --json is one object with
// `version`, and its errors one shape. One scenario serves every case: it has a backup,
// so a case that were not refused could write a restore, a snapshot or a deletion.

before(() => requireRoot());

let s: Scenario;
let backupName: string;
let restoreTo: string;
const packageVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

before(() => {
  s = makeScenario({ sizeMiB: 256 });
  writeFileSync(join(s.data, 'f.txt'), 'one');
  const first = s.cli(['backup', '--config', s.config]);
  assert.equal(first.code, 0, first.stderr);
  backupName = (JSON.parse(s.cli(['list', '--json', '--config', s.config]).stdout) as ListJson).sources[0]!
    .snapshots[0]!.name;
  restoreTo = join(s.src.mountPoint, 'restore-to');
  mkdirSync(restoreTo);
});

after(() => s?.dispose());

interface ListJson {
  sources: { name: string; snapshots: { name: string }[] }[];
}

/** Everything a run could write: the subvolumes of both filesystems and every file on them. */
function state(): string {
  sh('sync', []);
  const subvolumes = [s.src.mountPoint, s.dst.mountPoint].map((m) =>
    sh('btrfs', ['subvolume', 'list', m]).replace(/ gen \d+/g, ''),
  );
  return JSON.stringify([subvolumes, tree(s.src.mountPoint), tree(s.dst.mountPoint)]);
}

/** The JSON object of a run: parseable, `version` first, `ok` and `exitCode` as the run ended. */
function jsonOf(r: { code: number; stdout: string; stderr: string }, what: string): Record<string, unknown> {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    assert.fail(`${what}: stdout is not one JSON object:\n${r.stdout}\n${r.stderr}`);
  }
  assert.equal(Object.keys(doc)[0], 'version', `${what}: version first`);
  assert.equal(doc.version, packageVersion, what);
  assert.equal(typeof doc.ok, 'boolean', `${what}: ok`);
  assert.equal(doc.exitCode, r.code, `${what}: exitCode is the exit code`);
  return doc;
}

/** Refused: exit 2, the message and the fix on stderr, the error object with --json, nothing written. */
function refused(args: string[], message: RegExp, fix: RegExp): void {
  const what = args.join(' ');
  const before = state();
  // a case about --json itself is run with it only
  const j = s.cli([...args, ...(args.includes('--json') ? [] : ['--json']), '--config', s.config]);
  if (!args.includes('--json')) {
    const r = s.cli([...args, '--config', s.config]);
    assert.equal(r.code, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, message, what);
    assert.match(r.stderr.split('\n').find((l) => l.startsWith('fix: ')) ?? '', fix, `${what}: the fix`);
  }
  assert.match(j.stderr, message, `${what}: stderr says it too`);
  assert.equal(j.code, 2, `${what} --json: ${j.stderr}`);
  const doc = jsonOf(j, `${what} --json`);
  assert.deepEqual(Object.keys(doc), ['version', 'ok', 'error', 'fix', 'exitCode'], `${what}: the error object`);
  assert.equal(doc.ok, false);
  assert.match(String(doc.error), message);
  assert.match(String(doc.fix), fix);
  assert.equal(state(), before, `${what}: nothing written`);
}

test('[paths we are given] restore: an option of the other mode is refused with the fix, nothing written', () => {
  const file = join(restoreTo, 'f.txt');
  refused(
    ['restore', s.data, '--path', 'f.txt', '--before', '2099-01-01', '--to', file],
    /--before picks a whole backup/,
    /btrfs-vault files .* f\.txt/,
  );
  refused(
    ['restore', s.data, '--path', 'f.txt', '--writable', '--to', file],
    /--writable makes a writable snapshot/,
    /leave out --writable/,
  );
  refused(['restore', s.data, '--overwrite', '--to', restoreTo], /--overwrite replaces what is at --to/, /add --path/);
  refused(
    ['restore', s.data, '--from', backupName, '--to', restoreTo],
    /--from names the backup of --path only/,
    new RegExp(`btrfs-vault restore \\S+ ${backupName} --to DIR`),
  );
  refused(
    ['restore', s.data, backupName, '--before', '2099-01-01', '--to', restoreTo],
    /both a backup .* and --before/,
    /give one of them/,
  );
  refused(
    ['restore', s.data, backupName, '--path', 'f.txt', '--from', '2000-01-01_00-00-00', '--to', file],
    /named twice, and differently/,
    /name it once, after the source/,
  );
  refused(['restore', '--path', 'f.txt', '--to', file], /--path without a SOURCE/, /name the source too/);
  refused(
    ['restore', '--to', restoreTo, '--json'],
    /without a SOURCE restore asks its questions there/,
    /name the source/,
  );
});

test('[paths we are given] add-mirror and setup: options of an unattended run without it are refused with the fix', () => {
  refused(['add-mirror', '--confirm', 'SERIAL'], /--confirm.* for an unattended add-mirror/, /--disk/);
  refused(['add-mirror', '--wipe-existing'], /--wipe-existing.* for an unattended add-mirror/, /--disk/);
  refused(['add-mirror', '--json'], /--json is for an unattended add-mirror/, /--disk .* --json/);
  refused(['setup', '--dry-run', '--json'], /without --answers setup asks its questions/, /--answers FILE --json/);
});

test('restore: the backup is named after the source in both modes; --from, hidden, gives the same', () => {
  const positional = JSON.parse(
    s.cli([
      'restore',
      s.data,
      backupName,
      '--path',
      'f.txt',
      '--to',
      join(restoreTo, 'a.txt'),
      '--json',
      '--config',
      s.config,
    ]).stdout,
  ) as { restored: { from: string } };
  const old = JSON.parse(
    s.cli([
      'restore',
      s.data,
      '--path',
      'f.txt',
      '--from',
      backupName,
      '--to',
      join(restoreTo, 'b.txt'),
      '--json',
      '--config',
      s.config,
    ]).stdout,
  ) as { restored: { from: string } };
  assert.equal(positional.restored.from, backupName);
  assert.equal(old.restored.from, backupName);
  assert.equal(readFileSync(join(restoreTo, 'a.txt'), 'utf8'), 'one');
  assert.equal(readFileSync(join(restoreTo, 'b.txt'), 'utf8'), 'one');
});

test('the flags the units pass are hidden from --help, still accepted, and still what the units pass', () => {
  const help = s.cli(['backup', '--help']);
  assert.equal(help.code, 0);
  assert.doesNotMatch(help.stdout, /--scheduled|--on-plug/);
  assert.match(s.cli(['schedule', 'install', '--help']).stdout, /--on-plug/, 'install the rule: visible');
  assert.doesNotMatch(s.cli(['restore', '--help']).stdout, /--from/);

  const root = join(s.dir, 'units');
  const r = s.cli(['schedule', 'install', '--root', root, '--on-plug', '--config', s.config]);
  assert.equal(r.code, 0, r.stderr);
  const n = unitNames(s.config);
  const unit = (f: string) => readFileSync(join(root, 'etc/systemd/system', f), 'utf8');
  assert.match(unit(n.service), /^ExecStart=.* backup --scheduled --config /m);
  assert.match(unit(n.plugService), /^ExecStart=.* backup --on-plug --config /m);
  assert.match(readFileSync(join(root, 'etc/udev/rules.d', n.rule), 'utf8'), new RegExp(n.plugService));
  for (const flag of ['--scheduled', '--on-plug']) {
    writeFileSync(join(s.data, 'f.txt'), flag);
    const run = s.cli(['backup', flag, '--json', '--config', s.config]);
    assert.equal(run.code, 0, `${flag}: ${run.stderr}`);
    const doc = jsonOf(run, `backup ${flag}`) as { sources: { status: string }[] };
    assert.equal(doc.sources[0]!.status, 'ok', flag);
  }
  assert.equal(s.cli(['schedule', 'remove', '--root', root, '--config', s.config]).code, 0);
});

test('a source is named by its path or its name in backup, verify, prune, list, files and restore', () => {
  const name = sourceName(s.data);
  for (const source of [s.data, name]) {
    const list = jsonOf(
      s.cli(['list', source, '--json', '--config', s.config]),
      `list ${source}`,
    ) as unknown as ListJson;
    assert.deepEqual(
      list.sources.map((x) => x.name),
      [name],
      `list ${source}`,
    );
    for (const args of [
      ['backup', source],
      ['verify', source, '--no-scrub'],
      ['prune', source, '--dry-run'],
      ['files', source, 'f.txt'],
      ['restore', source, '--dry-run', '--to', restoreTo],
    ]) {
      const r = s.cli([...args, '--json', '--config', s.config]);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      const doc = jsonOf(r, args.join(' ')) as { name?: string; sources?: { name: string }[] };
      assert.deepEqual(doc.sources?.map((x) => x.name) ?? [doc.name], [name], args.join(' '));
    }
  }
});

test('[paths we are given] a word that is both a source name and another subvolume here is refused as ambiguous; ./WORD is the path', () => {
  const named = join(s.configDir, 'named.toml');
  writeFileSync(
    named,
    readFileSync(s.config, 'utf8').replace(
      /^sources = .*$/m,
      `sources = [{ path = ${JSON.stringify(s.data)}, name = "mine" }]`,
    ),
  );
  const here = join(s.src.mountPoint, 'here');
  mkdirSync(here);
  sh('btrfs', ['subvolume', 'create', join(here, 'mine')]);
  const cwd = process.cwd();
  const before = state();
  process.chdir(here);
  try {
    for (const args of [
      ['backup', 'mine'],
      ['list', 'mine'],
      ['files', 'mine', 'f.txt'],
    ]) {
      const r = s.cli([...args, '--json', '--config', named]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      const doc = jsonOf(r, args.join(' '));
      assert.match(String(doc.error), /both the name of the source .* and a path here/);
      assert.match(String(doc.fix), /\.\/mine/);
    }
  } finally {
    process.chdir(cwd);
  }
  assert.equal(state(), before, 'nothing written');
});

test("every command's --json is one parseable object with the version, ok and the exit code", () => {
  const root = join(s.dir, 'json-units');
  const runs: string[][] = [
    ['backup'],
    ['backup', '--dry-run'],
    ['list'],
    ['status'],
    ['verify'],
    ['prune', '--dry-run'],
    ['files', s.data, 'f.txt'],
    ['restore', s.data, '--dry-run', '--to', restoreTo],
    ['restore', s.data, '--path', 'f.txt', '--dry-run', '--to', join(restoreTo, 'c.txt')],
    ['doctor'],
    ['open', '--dry-run'],
    ['close', '--dry-run'],
    ['schedule', 'install', '--root', root, '--dry-run'],
    ['schedule', 'install', '--root', root],
    ['schedule', 'status'],
    ['schedule', 'remove', '--root', root, '--dry-run'],
    ['schedule', 'remove', '--root', root],
    // no disk is touched: each fails before (no raid layer; no answers file), as an error object
    ['add-mirror', '--disk', '/dev/null', '--confirm', 'x'],
    ['setup', '--answers', join(s.dir, 'no-such-answers.toml'), '--dry-run'],
    // usage errors and refusals, the same shape
    ['list', '--no-such-option'],
    ['restore', s.data],
  ];
  for (const args of runs) {
    const r = s.cli([...args, '--json', '--config', s.config]);
    jsonOf(r, args.join(' '));
  }
  const install = JSON.parse(s.cli(['schedule', 'install', '--root', root, '--json', '--config', s.config]).stdout) as {
    files: string[];
  };
  assert.ok(install.files.length >= 2, 'the files written are named');
});
