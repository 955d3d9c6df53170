import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { namedSources, pickSources, restoreSource } from '../../src/flows/session/source-pick.js';
import type { SourceConfig, VaultConfig } from '../../src/config/config.js';
import { UserError } from '../../src/core/errors.js';
import { sourceName, sourceNameProblem } from '../../src/core/naming.js';
import { scratchDir } from '../support/scratch.js';

function configWith(sources: { path: string; name?: string }[], snapshotDir = '/snaps'): VaultConfig {
  const list: SourceConfig[] = sources.map((s) => ({
    path: s.path,
    name: s.name ?? sourceName(s.path),
    snapshotDir: join(snapshotDir, s.name ?? sourceName(s.path)),
  }));
  return {
    file: '/etc/btrfs-vault/config.toml',
    dir: '/etc/btrfs-vault',
    host: 'h',
    snapshotDir,
    sources: list,
    sourcesFromFile: [],
    target: { mountpoint: '/media/btrfs-vault-no-such-disk' } as VaultConfig['target'],
  };
}

function refusal(fn: () => unknown): UserError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UserError, String(err));
    assert.equal(err.exitCode, 2);
    assert.ok(err.fix, 'names the fix');
    return err;
  }
  assert.fail('accepted');
}

test('folder names come from the normalised path; names that cannot be one folder are explained', () => {
  assert.equal(sourceName('/a//data'), 'a-data');
  assert.equal(sourceName('/a/./data'), 'a-data');
  assert.equal(sourceName('/a/x/../data'), 'a-data');
  assert.equal(sourceName('//'), 'root');
  assert.equal(sourceNameProblem('a'.repeat(255)), undefined);
  assert.match(sourceNameProblem('a'.repeat(256))!, /256 bytes long; a folder name may have at most 255/);
  assert.match(sourceNameProblem('ü'.repeat(128))!, /256 bytes/, 'bytes, not characters');
  assert.match(sourceNameProblem('..')!, /not a folder name/);
  assert.match(sourceNameProblem('.token')!, /starts with "\."/);
  assert.match(sourceNameProblem('a/b')!, /contains "\/"/);
});

test('command line: /x-y and /x/y map to one folder and are refused, naming both and the name = fix', () => {
  const err = refusal(() => pickSources(configWith([]), ['/x-y', '/x/y'], false));
  assert.match(err.message, /\/x-y and \/x\/y would both be stored as "x-y"/);
  assert.match(err.fix!, /sources = \[\{ path = "\/x\/y", name = "\.\.\." \}\]/);
});

test('command line: a path colliding with a configured source of another path is refused', () => {
  const err = refusal(() => pickSources(configWith([{ path: '/x-y' }]), ['/x/y'], false));
  assert.match(err.message, /\/x\/y would be stored as "x-y", the folder of the configured source \/x-y/);
  assert.match(err.fix!, /name = "\.\.\."/);
  const named = refusal(() => pickSources(configWith([{ path: '/srv/www', name: 'www' }]), ['/www'], false));
  assert.match(named.message, /configured source \/srv\/www/);
});

test('command line: a configured path, written another way or through a symlink, is that source with its settings', () => {
  const dir = scratchDir('pick');
  const data = join(dir, 'data');
  mkdirSync(data);
  symlinkSync(data, join(dir, 'link'));
  const config = configWith([{ path: data, name: 'mine' }], join(dir, 'snaps'));
  for (const given of [data, `${dir}//data`, `${dir}/x/../data/`, join(dir, 'link')]) {
    assert.deepEqual(pickSources(config, [given], false), [config.sources[0]], given);
  }
  // a path not configured gets the name of its real path, so a symlink never starts a second chain
  const other = join(dir, 'other');
  mkdirSync(other);
  symlinkSync(other, join(dir, 'other-link'));
  const [viaLink] = pickSources(config, [join(dir, 'other-link')], false);
  assert.deepEqual(viaLink, {
    path: other,
    name: sourceName(other),
    snapshotDir: join(dir, 'snaps', sourceName(other)),
  });
  const twice = refusal(() => pickSources(config, [data, join(dir, 'link')], false));
  assert.match(twice.message, /are the same subvolume/);
});

test('command line: a name over 255 bytes, -S with paths, and a line break are refused', () => {
  const long = `/${'a'.repeat(200)}/${'b'.repeat(60)}`;
  assert.match(refusal(() => pickSources(configWith([]), [long], false)).message, /261 bytes long/);
  const both = refusal(() => pickSources(configWith([]), ['/home'], true));
  assert.match(both.message, /-S backs up the paths of the sources file, and paths were given too/);
  assert.match(refusal(() => pickSources(configWith([]), ['/a\nb'], false)).message, /line break/);
});

test('restore takes a configured source, else a backup folder on the disk by its name (a rebuilt machine has no sources yet)', () => {
  const config = configWith([{ path: '/home' }]);
  assert.equal(restoreSource(config, 'home'), config.sources[0]);
  assert.equal(restoreSource(config, '/home'), config.sources[0]);
  assert.deepEqual(restoreSource(configWith([]), 'home'), {
    path: 'home',
    name: 'home',
    snapshotDir: '/snaps/home',
    fromDisk: true,
  });
  assert.deepEqual(restoreSource(configWith([]), '/srv/www'), {
    path: '/srv/www',
    name: 'srv-www',
    snapshotDir: '/snaps/srv-www',
    fromDisk: true,
  });
  assert.match(refusal(() => restoreSource(configWith([]), '.token')).message, /not a configured source/);
});

test('a source is named the same way by every command: by its name or its path (also through a symlink), in pickSources, restoreSource and namedSources alike', () => {
  const dir = scratchDir('pick-name');
  const data = join(dir, 'data');
  mkdirSync(data);
  symlinkSync(data, join(dir, 'link'));
  const config = configWith([{ path: data, name: 'mine' }, { path: '/srv/www' }], join(dir, 'snaps'));
  const mine = config.sources[0]!;
  for (const given of ['mine', data, join(dir, 'link'), `${data}/`]) {
    assert.deepEqual(pickSources(config, [given], false), [mine], `pickSources ${given}`);
    assert.equal(restoreSource(config, given), mine, `restoreSource ${given}`);
    assert.deepEqual(namedSources(config, [given]), [mine], `namedSources ${given}`);
  }
  // by name and by path is one source, named once
  assert.match(refusal(() => pickSources(config, ['mine', data], false)).message, /are the same subvolume/);
  assert.deepEqual(namedSources(config, ['mine', data, 'srv-www']), [mine, config.sources[1]]);
  assert.deepEqual(namedSources(config, []), config.sources);
  // list, like restore and files, takes a backup folder by its name (its snapshots here, or
  // its backups on a mounted disk); a name that is nowhere is no source, as on every verb
  assert.match(refusal(() => namedSources(config, ['old-host'])).message, /"old-host" is no source/);
  assert.match(refusal(() => pickSources(config, ['old-host'], false)).message, /"old-host" is no source/);
  mkdirSync(join(dir, 'snaps', 'old-host'), { recursive: true });
  assert.equal(namedSources(config, ['old-host'])[0]!.name, 'old-host');
});

test('[paths we are given] a word that is a source name and also another subvolume here is refused as ambiguous, naming ./WORD', () => {
  const dir = scratchDir('pick-ambiguous');
  const data = join(dir, 'data');
  mkdirSync(data);
  mkdirSync(join(dir, 'here'));
  mkdirSync(join(dir, 'here', 'mine'));
  const config = configWith([{ path: data, name: 'mine' }], join(dir, 'snaps'));
  const cwd = process.cwd();
  process.chdir(join(dir, 'here'));
  try {
    for (const pick of [
      () => pickSources(config, ['mine'], false),
      () => restoreSource(config, 'mine'),
      () => namedSources(config, ['mine']),
    ]) {
      const e = refusal(pick);
      assert.match(e.message, /both the name of the source .* and a path here/);
      assert.match(e.fix!, /\.\/mine/);
    }
    // ./mine is the folder here, not the source
    assert.notEqual(pickSources(config, ['./mine'], false)[0]!.path, data);
  } finally {
    process.chdir(cwd);
  }
  // the word as the path of the source itself (run in its parent folder) is no ambiguity
  process.chdir(dir);
  try {
    const named = configWith([{ path: data, name: 'data' }], join(dir, 'snaps'));
    assert.deepEqual(pickSources(named, ['data'], false), [named.sources[0]]);
  } finally {
    process.chdir(cwd);
  }
});
