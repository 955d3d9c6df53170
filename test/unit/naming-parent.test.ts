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
  assert.deepEqual([...names].sort(compareSnapshotNames), [
    '2026-11-25_23-00-00',
    '2026-11-26_09-05-07',
    '2026-11-26_09-05-07_2',
    '2026-11-26_09-05-07_10',
  ]);
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

test('parent: the newest snapshot present on both sides as the same data', () => {
  const c = chooseParent({ source: [S('a', 'u1'), S('b', 'u2'), S('c', 'u3')], target: [T('a', 'u1'), T('b', 'u2')] });
  assert.deepEqual(c, { kind: 'incremental', parent: 'b', targetName: 'b' });
});

test('parent: paired by UUID, not by name: a renamed copy still pairs', () => {
  const c = chooseParent({ source: [S('a', 'u1'), S('b', 'u2')], target: [T('a', 'u1'), T('renamed', 'u2')] });
  assert.deepEqual(c, { kind: 'incremental', parent: 'b', targetName: 'renamed' });
});

test('parent: a same-named target copy of other data does not count; incomplete copies never count', () => {
  assert.equal(chooseParent({ source: [S('a', 'u1')], target: [T('a', 'other')] }).kind, 'full');
  assert.equal(chooseParent({ source: [S('a', 'u1')], target: [T('a')] }).kind, 'full');
  const c = chooseParent({ source: [S('a', 'u1'), S('b', 'u2')], target: [T('a', 'u1'), T('b')] });
  assert.deepEqual(c, { kind: 'incremental', parent: 'a', targetName: 'a' });
});

test('parent: first backup is full; no common snapshot is full with the reason', () => {
  assert.deepEqual(chooseParent({ source: [], target: [] }), { kind: 'full', reason: 'first backup of this source' });
  assert.deepEqual(chooseParent({ source: [S('a', 'u1')], target: [T('x', 'u9')] }), {
    kind: 'full',
    reason: 'no snapshot is present on both sides',
  });
});
