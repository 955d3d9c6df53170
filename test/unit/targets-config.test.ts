import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { forTarget, namedTargets, targetsOf } from '../../src/config/target-view.js';
import { ProblemsError, UserError } from '../../src/core/errors.js';
import { scratchDir } from '../support/scratch.js';

// [targets.<name>]: several backup disks, each with its name, its defaults and its rules;
// [target] is the one named `backup`.

async function load(toml: string) {
  const dir = scratchDir('cfg');
  writeFileSync(join(dir, 'config.toml'), toml);
  return { dir, config: await loadConfig(join(dir, 'config.toml')) };
}

async function problemsOf(toml: string): Promise<readonly string[]> {
  const err = await load(toml).catch((e: unknown) => e);
  assert.ok(err instanceof ProblemsError, `refused with problems: ${(err as Error)?.message ?? 'accepted'}`);
  for (const p of err.problems) assert.match(p, /\n {4}fix: \S/, `a fix for: ${p}`);
  return err.problems;
}

test('a config with [target] alone is one target named backup, with the keys it always had', async () => {
  const { config } = await load('sources = ["/home"]\n[target]\n');
  assert.deepEqual(
    targetsOf(config).map((t) => [t.name, t.mountpoint, t.keepForAbsentSeconds, t.maxAgeSeconds]),
    [['backup', '/media/backup', 90 * 86_400, 30 * 86_400]],
  );
  assert.equal(forTarget(config, 'backup').target.mountpoint, '/media/backup');
});

test('each [targets.<name>]: defaults derived from the name, so two disks never share a device or a mount point', async () => {
  const { config, dir } = await load(
    'sources = ["/home"]\n[retention.target]\ndaily = 31\n' +
      '[targets.home]\nlayers = ["raid", "luks", "lvm"]\n' +
      '[targets.office]\nmountpoint = "/mnt/office"\nkeep_for_absent = "12w"\nmax_age = "36h"\n' +
      '[targets.office.retention]\ndaily = 7\n',
  );
  const [home, office] = targetsOf(config);
  assert.equal(home!.name, 'home');
  assert.equal(home!.mountpoint, '/media/backup-home');
  assert.equal(home!.array, '/dev/md/backup-home');
  assert.equal(home!.luksName, 'enc-backup-home');
  assert.equal(home!.volumeGroup, 'backup-home');
  assert.equal(home!.tokenHashFile, join(dir, 'token-home.sha512'));
  assert.equal(home!.keyfile, join(dir, 'key-home'));
  assert.equal(office!.mountpoint, '/mnt/office');
  assert.equal(office!.keepForAbsentSeconds, 12 * 604_800);
  assert.equal(office!.maxAgeSeconds, 36 * 3600);
  // the first is `target` for the flows written for one disk
  assert.equal(config.target.mountpoint, '/media/backup-home');
  // retention: each disk's own over [retention.target], key by key
  assert.equal(forTarget(config, 'home').retention!.target.daily, 31);
  assert.equal(forTarget(config, 'office').retention!.target.daily, 7);
  assert.equal(forTarget(config, 'office').retention!.target.weekly, config.retention!.target.weekly);
  assert.equal(forTarget(config, 'office').target.mountpoint, '/mnt/office');
});

test('a config with [target] beside [targets.office]: two targets, backup first', async () => {
  const { config } = await load('sources = ["/home"]\n[target]\n[targets.office]\n');
  assert.deepEqual(
    targetsOf(config).map((t) => t.name),
    ['backup', 'office'],
  );
  assert.deepEqual(
    namedTargets(config, 'office').map((t) => t.name),
    ['office'],
  );
  assert.throws(
    () => namedTargets(config, 'attic'),
    (e: unknown) => e instanceof UserError && /backup, office/.test(e.fix ?? ''),
  );
});

test('a [targets.<name>.retention] with no [retention]: that disk is pruned, the source never', async () => {
  const { config } = await load('sources = ["/home"]\n[targets.a]\n[targets.a.retention]\ndaily = 3\n[targets.b]\n');
  assert.equal(forTarget(config, 'a').retention!.target.daily, 3);
  assert.equal(forTarget(config, 'a').retention!.source.keepLast, Infinity);
  assert.equal(forTarget(config, 'b').retention, undefined);
});

test('no [target] nor [targets.*]: the missing target, once', async () => {
  const problems = await problemsOf('sources = ["/home"]\n[targets]\n');
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /there is no \[target\] table/);
});

test('a config with [target] and [targets.backup]: a clash of names, with the fix', async () => {
  const problems = await problemsOf('sources = ["/home"]\n[target]\n[targets.backup]\nmountpoint = "/mnt/b"\n');
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /targets\.backup: \[target\] is the target named "backup" already/);
});

test('target names: "/", "..", a newline, upper case and long names are refused with the rule', async () => {
  for (const name of ['"a/b"', '".."', '"a\\nb"', '"Office"', '"-x"', `"${'a'.repeat(25)}"`, '""']) {
    const problems = await problemsOf(`sources = ["/home"]\n[targets.${name}]\n`);
    assert.ok(
      problems.some((p) => /is not a target name \(at most 24 characters/.test(p)),
      `${name}: ${problems.join('\n')}`,
    );
  }
});

test('two targets with one mount point, one inside the other, or one token hash: problems naming both tables', async () => {
  const same = await problemsOf('sources = ["/home"]\n[target]\n[targets.b]\nmountpoint = "/media/backup/"\n');
  assert.ok(
    same.some((p) => /targets\.b\.mountpoint: \[target\] and \[targets\.b\] have the same mount point/.test(p)),
  );
  const nested = await problemsOf(
    'sources = ["/home"]\n[targets.a]\nmountpoint = "/mnt/a"\n[targets.b]\nmountpoint = "/mnt/a/b"\n',
  );
  assert.ok(
    nested.some((p) => /one is inside the other/.test(p)),
    nested.join('\n'),
  );
  const token = await problemsOf(
    'sources = ["/home"]\n[targets.a]\ntoken_sha512 = "t"\n[targets.b]\ntoken_sha512 = "./t"\n',
  );
  assert.ok(
    token.some((p) => /same token_sha512 file/.test(p)),
    token.join('\n'),
  );
  const vg = await problemsOf(
    'sources = ["/home"]\n[targets.a]\nvolume_group = "vg"\n[targets.b]\nvolume_group = "vg"\n',
  );
  assert.ok(
    vg.some((p) => /targets\.b\.volume_group: .* same volume_group/.test(p)),
    vg.join('\n'),
  );
});

test('a problem inside [targets.<name>] names the key and how it is written', async () => {
  const problems = await problemsOf(
    'sources = ["/home"]\n[targets.office]\nmountpont = "/x"\nkeep_for_absent = "soon"\n',
  );
  assert.ok(
    problems.some((p) => /\[targets\.office\] unknown key mountpont[\s\S]*did you mean mountpoint/.test(p)),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) =>
      /targets\.office\.keep_for_absent = "soon" is not a duration; expected a string: a number of hours/.test(p),
    ),
    problems.join('\n'),
  );
  const rel = await problemsOf('sources = ["/home"]\n[targets.office]\nmountpoint = "rel"\n');
  assert.ok(
    rel.some((p) =>
      /targets\.office\.mountpoint: "rel" is not an absolute path[\s\S]*under \[targets\.office\]/.test(p),
    ),
    rel.join('\n'),
  );
});
