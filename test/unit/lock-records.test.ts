import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLocks, lockFile } from '../../src/system/lock.js';
import { FakeRunner } from '../../src/system/fake-runner.js';
import { readReceiveRecord, RECEIVE_RECORD, writeReceiveRecord } from '../../src/btrfs/receive-record.js';
import { clearOpenRecord, readOpenRecord, writeOpenRecord } from '../../src/stack/open-record.js';
import { LATEST, moveLinks, PREVIOUS, removeStaleLinks } from '../../src/btrfs/links.js';
import { scratchDir } from '../support/scratch.js';

const keys = [
  { what: 'the backup target /media/backup', key: 'target /media/backup' },
  { what: 'the source /home', key: 'source 0:42 /home' },
];

test('locks: every key in one flock chain ending in cat; released on request', async () => {
  const dir = join(scratchDir('lock'), 'locks');
  const [a, b] = keys.map((k) => lockFile(k.key, dir));
  const chain = ['flock', ['-nFE', '75', a!, 'flock', '-nFE', '75', b!, 'cat']] as const;
  const r = new FakeRunner().on(chain);
  const lock = await acquireLocks(r, keys, 'config /etc/btrfs-vault/config.toml', dir);
  assert.deepEqual([...r.holding], [`flock -nFE 75 ${a} flock -nFE 75 ${b} cat`]);
  assert.match(readFileSync(`${a}.owner`, 'utf8'), new RegExp(`^${process.pid}\\nconfig /etc/btrfs-vault/config.toml\\nthe backup target`));
  await lock.release();
  assert.equal(r.holding.size, 0);
});

test('locks: a conflict names the holder and what it holds; nothing else is held', async () => {
  const dir = join(scratchDir('lock'), 'locks');
  const [a, b] = keys.map((k) => lockFile(k.key, dir));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(`${b}.owner`, '4242\nconfig /other.toml\nthe source /home\n');
  const r = new FakeRunner()
    .on(['flock', ['-nFE', '75', a!, 'flock', '-nFE', '75', b!, 'cat']], { exitCode: 75 })
    .on(['flock', ['-nE', '75', a!, 'true']], { exitCode: 0 })
    .on(['flock', ['-nE', '75', b!, 'true']], { exitCode: 75 });
  await assert.rejects(acquireLocks(r, keys, 'config /etc/x.toml', dir), (err: Error & { exitCode?: number }) => {
    assert.equal(err.exitCode, 4);
    assert.match(err.message, /another btrfs-vault run \(pid 4242, config \/other\.toml\) is working with the source \/home/);
    return true;
  });
  assert.equal(r.holding.size, 0);
});

test('locks: a lock folder someone else could write is refused', async () => {
  const base = scratchDir('lock');
  const dir = join(base, 'locks');
  mkdirSync(dir, { mode: 0o777 });
  chmodSync(dir, 0o777);
  await assert.rejects(acquireLocks(new FakeRunner(), keys, 'x', dir), /not this user's alone/);
});

test('receive record: written without following a planted link, read back; a record naming a path outside the folder is ignored', () => {
  const dir = scratchDir('rec');
  const victim = join(scratchDir('victim'), 'file');
  writeFileSync(victim, 'precious');
  symlinkSync(victim, join(dir, RECEIVE_RECORD));
  writeReceiveRecord(new FakeRunner(), dir, { name: '2026-11-27_10-00-00', run: 'host pid 1', started: 'now' });
  assert.equal(readFileSync(victim, 'utf8'), 'precious', 'the link was replaced, not followed');
  assert.equal(readReceiveRecord(dir)?.name, '2026-11-27_10-00-00');
  writeFileSync(join(dir, RECEIVE_RECORD), JSON.stringify({ name: '../../etc', run: 'x' }));
  assert.equal(readReceiveRecord(dir), undefined);
  writeFileSync(join(dir, RECEIVE_RECORD), '{torn');
  assert.equal(readReceiveRecord(dir), undefined);
});

test('open record: what a run opened, kept until someone closes or keeps it open', () => {
  const dir = scratchDir('open');
  assert.equal(readOpenRecord('/media/backup', dir), undefined);
  writeOpenRecord('/media/backup', { from: 'raid', pid: 7 }, dir);
  assert.deepEqual(readOpenRecord('/media/backup', dir), { from: 'raid', pid: 7 });
  assert.equal(readOpenRecord('/media/other', dir), undefined);
  clearOpenRecord('/media/backup', dir);
  assert.equal(readOpenRecord('/media/backup', dir), undefined);
});

test('links: previous only takes a valid latest; stale temporaries that are links go, anything else stays', () => {
  const dir = scratchDir('links');
  const r = new FakeRunner();
  moveLinks(r, dir, 'a', new Set());
  moveLinks(r, dir, 'b', new Set(['a']));
  assert.deepEqual([readlinkSync(join(dir, LATEST)), readlinkSync(join(dir, PREVIOUS))], ['b', 'a']);
  symlinkSync('garbage', join(dir, 'tmp'));
  renameSync(join(dir, 'tmp'), join(dir, LATEST));
  moveLinks(r, dir, 'c', new Set(['a', 'b']));
  assert.deepEqual([readlinkSync(join(dir, LATEST)), readlinkSync(join(dir, PREVIOUS))], ['c', 'a'], 'a garbage latest is not copied to previous');
  symlinkSync('x', join(dir, '.btrfs-vault-link-latest'));
  mkdirSync(join(dir, '.btrfs-vault-link-mine'));
  assert.deepEqual(removeStaleLinks(r, dir), ['.btrfs-vault-link-latest']);
});
