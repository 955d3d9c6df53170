import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childrenOf, nestedIn, type Subvolume } from '../../src/btrfs/subvolumes.js';

const sub = (id: number, path: string): Subvolume => ({
  id,
  path,
  name: path.slice(path.lastIndexOf('/') + 1),
  uuid: `u${id}`,
  gen: 1,
});
const rows = [
  sub(256, '/m/home'),
  sub(257, '/m/snaps'),
  sub(258, '/m/snaps/home/2026-01-01_00-00-00'),
  sub(259, '/m/home/nested'),
  sub(260, '/m/snaps/home/2026-01-02_00-00-00'),
  sub(261, '/m/home/nested/deeper'),
  sub(262, '/m/homework'),
  sub(263, '/m/snaps/var/2026-01-01_00-00-00'),
  sub(264, '/top'),
];

test('a listing as read (frozen) is indexed by folder: the same answers as a plain list, in listing order, never stale', () => {
  const frozen = Object.freeze([...rows]);
  const plain = [...rows];
  for (const dir of ['/m/snaps/home', '/m/snaps/var', '/m', '/m/home', '/nowhere', '/']) {
    assert.deepEqual(childrenOf(frozen, dir), childrenOf(plain, dir), dir);
    assert.deepEqual(nestedIn(frozen, dir), nestedIn(plain, dir), dir);
  }
  assert.deepEqual(
    childrenOf(frozen, '/m/snaps/home').map((s) => s.id),
    [258, 260],
  );
  assert.deepEqual(
    nestedIn(frozen, '/m/home').map((s) => s.id),
    [259, 261],
  );
  assert.deepEqual(
    childrenOf(frozen, '/').map((s) => s.id),
    [264],
  );
  assert.equal(nestedIn(frozen, '/').length, rows.length);
  // the caller gets its own array: changing it changes nothing of the next answer
  childrenOf(frozen, '/m/snaps/home').pop();
  assert.equal(childrenOf(frozen, '/m/snaps/home').length, 2);
  // a list that can change is read as it is at each call
  plain.push(sub(265, '/m/snaps/home/2026-01-03_00-00-00'));
  assert.equal(childrenOf(plain, '/m/snaps/home').length, 3);
});
