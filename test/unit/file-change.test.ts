import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FileChange } from '../../src/system/file-change.js';
import { DryRunRunner } from '../../src/system/dry-run-runner.js';
import { FakeRunner } from '../support/fake-runner.js';
import { scratchDir } from '../support/scratch.js';

/** One change of every kind, in a scratch folder; `victim` is what a planted link points at. */
function world() {
  const dir = scratchDir('file-change');
  const victim = join(scratchDir('file-change-victim'), 'precious');
  writeFileSync(victim, 'precious');
  writeFileSync(join(dir, 'fstab'), '# fstab\n');
  writeFileSync(join(dir, 'sync_action'), 'idle');
  writeFileSync(join(dir, 'old'), 'old');
  symlinkSync(victim, join(dir, 'record'));
  const changes: FileChange[] = [
    { op: 'write', path: join(dir, 'record'), text: 'ours\n', durable: true, about: 'receiving a' },
    { op: 'write', path: join(dir, 'run', 'opened.json'), text: '{}\n', folder: 0o700 },
    {
      op: 'write-durably',
      path: join(dir, 'etc', 'key'),
      data: Buffer.alloc(16),
      mode: 0o600,
      replace: false,
      about: '16 B random',
      folder: 0o700,
    },
    { op: 'append', path: join(dir, 'fstab'), text: '/dev/x /media/x btrfs noauto 0 0\n' },
    { op: 'set', path: join(dir, 'sync_action'), text: 'check' },
    { op: 'mkdir', path: join(dir, 'a', 'b'), parents: true, mode: 0o700 },
    { op: 'symlink', target: 'snap-1', tmp: join(dir, '.tmp-latest'), path: join(dir, 'latest'), durable: true },
    { op: 'remove', path: join(dir, 'old') },
    { op: 'remove', path: join(dir, 'fstab'), onlyLink: true },
  ];
  return { dir, victim, changes };
}

test('file changes in a dry-run: each printed as the command a person would type, none made', () => {
  const { dir, victim, changes } = world();
  const before = readdirSync(dir).sort();
  const printed: string[] = [];
  const inner = new FakeRunner();
  const dry = new DryRunRunner(inner, (l) => printed.push(l));
  for (const c of changes) dry.change(c);
  assert.deepEqual(printed, [
    `would run: write ${dir}/record (receiving a, mode 0600)`,
    `would run: write ${dir}/run/opened.json (mode 0600)`,
    `would run: write ${dir}/etc/key (16 B random, mode 0600)`,
    `would run: append to ${dir}/fstab: /dev/x /media/x btrfs noauto 0 0`,
    `would run: echo check > ${dir}/sync_action`,
    `would run: mkdir -p -m 700 ${dir}/a/b`,
    `would run: ln -sfT snap-1 ${dir}/.tmp-latest && mv -T ${dir}/.tmp-latest ${dir}/latest`,
    `would run: rm -f ${dir}/old`,
    `would run: rm -f ${dir}/fstab`,
  ]);
  assert.deepEqual(readdirSync(dir).sort(), before, 'nothing made, nothing removed');
  assert.equal(readFileSync(join(dir, 'fstab'), 'utf8'), '# fstab\n');
  assert.equal(readFileSync(join(dir, 'sync_action'), 'utf8'), 'idle');
  assert.equal(readFileSync(victim, 'utf8'), 'precious');
  assert.deepEqual([inner.calls, inner.changes, inner.fileChanges], [[], [], []], 'nothing reached the runner below');
  assert.equal(dry.changesTakeEffect, false);
});

test('file changes through the fake: recorded as a dry-run shows them, and made the safe way (no link followed, modes kept)', () => {
  const { dir, victim, changes } = world();
  const fake = new FakeRunner();
  for (const c of changes) fake.change(c);
  assert.equal(fake.fileChanges.length, changes.length);
  assert.equal(fake.fileChanges[0], `write ${dir}/record (receiving a, mode 0600)`);
  assert.equal(readFileSync(victim, 'utf8'), 'precious', 'the planted link was replaced, not followed');
  assert.equal(readFileSync(join(dir, 'record'), 'utf8'), 'ours\n');
  assert.equal(statSync(join(dir, 'record')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'run')).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'etc')).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'etc', 'key')).mode & 0o777, 0o600);
  assert.throws(() => fake.change(changes[2]!), /EEXIST/, 'replace: false never overwrites');
  assert.equal(
    readFileSync(join(dir, 'fstab'), 'utf8'),
    '# fstab\n/dev/x /media/x btrfs noauto 0 0\n',
    'appended; a file under onlyLink stays',
  );
  assert.equal(readFileSync(join(dir, 'sync_action'), 'utf8'), 'check');
  assert.ok(lstatSync(join(dir, 'a', 'b')).isDirectory());
  assert.equal(readlinkSync(join(dir, 'latest')), 'snap-1');
  assert.deepEqual(
    readdirSync(dir).filter((n) => ['old', '.tmp-latest'].includes(n)),
    [],
  );
  assert.deepEqual(fake.changes, [], 'file changes are not commands');
});

test('[paths we are given] an exclusive mkdir where a folder, a file or a symlink is already: refused (EEXIST), nothing made through the link', () => {
  const dir = scratchDir('file-change-exclusive');
  const elsewhere = scratchDir('file-change-elsewhere');
  symlinkSync(elsewhere, join(dir, 'link'));
  symlinkSync(join(elsewhere, 'not-yet'), join(dir, 'dangling'));
  writeFileSync(join(dir, 'file'), 'x');
  const runner = new FakeRunner();
  for (const name of ['link', 'dangling', 'file']) {
    assert.throws(
      () => runner.change({ op: 'mkdir', path: join(dir, name), mode: 0o700, exclusive: true }),
      (err: NodeJS.ErrnoException) => err.code === 'EEXIST',
      name,
    );
  }
  assert.deepEqual(readdirSync(elsewhere), []);
  // without `exclusive` an existing folder is fine, as before
  runner.change({ op: 'mkdir', path: join(dir, 'fresh'), mode: 0o700, exclusive: true });
  assert.equal(statSync(join(dir, 'fresh')).mode & 0o777, 0o700);
  assert.throws(() => runner.change({ op: 'mkdir', path: join(dir, 'fresh'), exclusive: true }), /EEXIST/);
  runner.change({ op: 'mkdir', path: join(dir, 'fresh') });
});
