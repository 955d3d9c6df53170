import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, parseSourcesFile } from '../../src/config/load.js';
import { assertPrivateFile } from '../../src/config/permissions.js';
import { ProblemsError, UserError } from '../../src/core/errors.js';
import { scratchDir } from '../support/scratch.js';

function dirWith(files: Record<string, string>): string {
  const dir = scratchDir('cfg');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

test('defaults follow the original script; relative files sit beside the config', async () => {
  const dir = dirWith({ 'config.toml': 'sources = ["/", "/home"]\n' });
  const c = await loadConfig(join(dir, 'config.toml'));
  assert.equal(c.target.mountpoint, '/media/backup');
  assert.equal(c.target.tokenFile, '/media/backup/.token');
  assert.equal(c.target.tokenHashFile, join(dir, 'token.sha512'));
  assert.equal(c.snapshotDir, join(dir, 'snapshots'));
  assert.deepEqual(c.sources.map((s) => [s.path, s.name, s.snapshotDir]), [
    ['/', 'root', join(dir, 'snapshots', 'root')],
    ['/home', 'home', join(dir, 'snapshots', 'home')],
  ]);
  assert.deepEqual(c.target.layers, []);
});

test('sources file beside the config: comments, blanks, merged without duplicates', async () => {
  const dir = dirWith({ 'config.toml': 'sources = ["/home"]\n', sources: '# my sources\n/\n\n/home   # again\n/srv/my data\n' });
  const c = await loadConfig(join(dir, 'config.toml'));
  assert.deepEqual(c.sources.map((s) => s.path), ['/home', '/', '/srv/my data']);
  assert.deepEqual(c.sourcesFromFile.map((s) => s.path), ['/home', '/', '/srv/my data'], '-S takes every path in the file');
  assert.deepEqual(parseSourcesFile('a\n#b\n c # d'), [{ line: 1, path: 'a' }, { line: 3, path: 'c' }]);
});

test('per-source snapshot folder and name', async () => {
  const dir = dirWith({ 'config.toml': 'snapshot_dir = "/snapshots"\nsources = [{ path = "/home", snapshot_dir = "/home/.snaps", name = "h" }, "/"]\n' });
  const c = await loadConfig(join(dir, 'config.toml'));
  assert.equal(c.sources[0]!.snapshotDir, '/home/.snaps/h');
  assert.equal(c.sources[1]!.snapshotDir, '/snapshots/root');
});

test('every problem at once, each with file and key', async () => {
  const dir = dirWith({ 'config.toml': 'colour = 1\nsources = ["relative", "/a/b", "/a-b"]\n[target]\nmountpoint = "/m"\nlayer = []\n' });
  const err = await loadConfig(join(dir, 'config.toml')).catch((e) => e);
  assert.ok(err instanceof ProblemsError);
  assert.equal(err.exitCode, 2);
  assert.match(err.message, /unknown key colour/);
  assert.match(err.message, /\[target\] unknown key layer/);
});

test('normalization problems are collected together', async () => {
  const dir = dirWith({ 'config.toml': 'sources = ["relative", "/a/b", "/a-b"]\n' });
  const err = await loadConfig(join(dir, 'config.toml')).catch((e) => e);
  assert.ok(err instanceof ProblemsError);
  assert.equal(err.problems.length, 2);
  assert.match(err.problems[0]!, /sources\[0\].*not an absolute path/);
  assert.match(err.problems[1]!, /both be stored as "a-b".*name = /);
});

test('syntax error names file, line and column; a missing file names --config', async () => {
  const dir = dirWith({ 'config.toml': 'sources = ["/"\nhost = "x"\n' });
  const err = await loadConfig(join(dir, 'config.toml')).catch((e) => e);
  assert.ok(err instanceof UserError);
  assert.match(err.message, /config\.toml:\d+:\d+: TOML syntax error/);
  const missing = await loadConfig(join(dir, 'nope.toml')).catch((e) => e);
  assert.match(missing.message, /does not exist/);
  assert.match(missing.fix, /--config/);
});

test('a source path with a line break is refused', async () => {
  const dir = dirWith({ 'config.toml': 'sources = ["/a\\nb"]\n' });
  const err = await loadConfig(join(dir, 'config.toml')).catch((e) => e);
  assert.match(err.message, /line break/);
});

test('secrets must be private: the fix is the chmod', async () => {
  const dir = dirWith({ secret: 'x' });
  const f = join(dir, 'secret');
  chmodSync(f, 0o640);
  const err = await assertPrivateFile(f, 'token hash').catch((e) => e);
  // npm test runs as root, so the file is root's and only the mode is wrong
  assert.ok(err instanceof UserError);
  assert.equal(err.fix, `run: chmod 600 ${f}`);
  chmodSync(f, 0o600);
  await assertPrivateFile(f, 'token hash');
});
