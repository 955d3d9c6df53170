import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareSnapshotNames, isSnapshotName, snapshotName, sourceName } from '../../src/core/naming.js';
import { chooseParent } from '../../src/core/parent.js';

test('snapshot names: UTC time, a suffix on collision, numeric order', () => {
  const t = new Date(Date.UTC(2026, 10, 26, 9, 5, 7));
  assert.equal(snapshotName(t, []), '2026-11-26_09-05-07');
  assert.equal(snapshotName(t, ['2026-11-26_09-05-07']), '2026-11-26_09-05-07_2');
  assert.equal(snapshotName(t, ['2026-11-26_09-05-07', '2026-11-26_09-05-07_2']), '2026-11-26_09-05-07_3');
  const names = ['2026-11-26_09-05-07_10', '2026-11-26_09-05-07', '2026-11-25_23-00-00', '2026-11-26_09-05-07_2'];
  assert.deepEqual([...names].sort(compareSnapshotNames), ['2026-11-25_23-00-00', '2026-11-26_09-05-07', '2026-11-26_09-05-07_2', '2026-11-26_09-05-07_10']);
  assert.ok(isSnapshotName('2026-11-26_09-05-07_2'));
  assert.ok(!isSnapshotName('latest'));
});

test('source names', () => {
  assert.equal(sourceName('/'), 'root');
  assert.equal(sourceName('/home'), 'home');
  assert.equal(sourceName('/var/lib/my data/'), 'var-lib-my data');
});

const S = (name: string, uuid: string) => ({ name, uuid });
const T = (name: string, receivedUuid?: string) => ({ name, receivedUuid });

test('parent: the latest pair when both sides agree', () => {
  const c = chooseParent({ source: [S('a', 'u1'), S('b', 'u2')], target: [T('a', 'u1'), T('b', 'u2')], sourceLatest: 'b', targetLatest: 'b' });
  assert.deepEqual(c, { kind: 'incremental', parent: 'b', via: 'latest' });
});

test('parent: latest pointing at different data is a mismatch, not a full send', () => {
  const c = chooseParent({ source: [S('a', 'u1'), S('b', 'u2')], target: [T('a', 'u1'), T('b', 'u2')], sourceLatest: 'b', targetLatest: 'a' });
  assert.deepEqual(c, { kind: 'mismatch', sourceLatest: 'b', targetLatest: 'a' });
});

test('parent: without links, the newest snapshot present on both sides as the same data', () => {
  const c = chooseParent({ source: [S('a', 'u1'), S('b', 'u2'), S('c', 'u3')], target: [T('a', 'u1'), T('b', 'u2')] });
  assert.deepEqual(c, { kind: 'incremental', parent: 'b', via: 'newest-common' });
});

test('parent: a same-named target copy of other data does not count; incomplete copies never count', () => {
  assert.equal(chooseParent({ source: [S('a', 'u1')], target: [T('a', 'other')] }).kind, 'full');
  assert.equal(chooseParent({ source: [S('a', 'u1')], target: [T('a')] }).kind, 'full');
  // an incomplete target `latest` falls back to the newest common pair
  const c = chooseParent({ source: [S('a', 'u1'), S('b', 'u2')], target: [T('a', 'u1'), T('b')], sourceLatest: 'b', targetLatest: 'b' });
  assert.deepEqual(c, { kind: 'incremental', parent: 'a', via: 'newest-common' });
});

test('parent: first backup is full; the new snapshot itself is never its own parent', () => {
  assert.deepEqual(chooseParent({ source: [], target: [] }), { kind: 'full', reason: 'first backup of this source' });
  assert.equal(chooseParent({ source: [S('a', 'u1')], target: [T('a', 'u1')], exclude: 'a' }).kind, 'full');
});
