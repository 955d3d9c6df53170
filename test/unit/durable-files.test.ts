import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendFileDurably, makeDirDurably, writeFileDurably } from '../../src/system/durable-files.js';
import { scratchDir } from '../support/scratch.js';

test('setup files: a keyfile or config is never overwritten, a token is replaced whole; no temporary file stays', () => {
  const dir = scratchDir('files');
  const key = join(dir, 'etc', 'deep', 'key');
  makeDirDurably(join(dir, 'etc', 'deep'), 0o700);
  assert.equal(statSync(join(dir, 'etc', 'deep')).mode & 0o777, 0o700);
  writeFileDurably(key, 'first', { mode: 0o600, replace: false });
  assert.throws(() => writeFileDurably(key, 'second', { mode: 0o600, replace: false }), /EEXIST/);
  assert.equal(readFileSync(key, 'utf8'), 'first');
  assert.equal(statSync(key).mode & 0o777, 0o600);
  writeFileDurably(key, 'third', { mode: 0o600, replace: true });
  assert.equal(readFileSync(key, 'utf8'), 'third');
  assert.deepEqual(readdirSync(join(dir, 'etc', 'deep')), ['key']);
});

test('setup files: appending keeps what the system file had', () => {
  const file = join(scratchDir('files'), 'fstab');
  writeFileSync(file, '# fstab\n');
  appendFileDurably(file, '/dev/backup/h /media/backup btrfs noauto 0 0\n');
  assert.equal(readFileSync(file, 'utf8'), '# fstab\n/dev/backup/h /media/backup btrfs noauto 0 0\n');
});
