import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listedIds, parseSubvolumeList } from '../../src/core/subvolumes.js';
import { findMount, parseMountinfo } from '../../src/core/mountinfo.js';

// Fixtures are recorded output of btrfs-progs 6.2 (Debian 12) on loop devices.
const fixture = (name: string) => readFileSync(join(process.cwd(), 'test', 'fixtures', name), 'utf8');

test('subvolume list: top-level and <FS_TREE>-prefixed paths, uuids, received uuids', () => {
  const rows = parseSubvolumeList(fixture('subvolume-list-source.txt'));
  assert.equal(rows.length, 4);
  assert.deepEqual(rows[0], {
    id: 256,
    gen: 8,
    cgen: undefined,
    parentUuid: undefined,
    receivedUuid: undefined,
    uuid: '1f2426ea-bfcd-4b42-ac18-2619c1ce9c32',
    path: 'data',
  });
  assert.equal(rows[1]!.path, 'data/nested');
  assert.equal(rows[3]!.path, 'snapshots/tmp-btrfs-vault-scn-TzsweI-src-data/2026-11-26_12-18-05_2');
  assert.equal(rows[3]!.parentUuid, '1f2426ea-bfcd-4b42-ac18-2619c1ce9c32');
  const target = parseSubvolumeList(fixture('subvolume-list-target.txt'));
  assert.equal(target[1]!.receivedUuid, rows[3]!.uuid, 'received uuid of the copy is the source snapshot uuid');
});

test('subvolume list: the IDs alone (the read-only listing) are those of the whole parse', () => {
  for (const f of ['subvolume-list-source.txt', 'subvolume-list-target.txt', 'subvolume-list-cgen.txt']) {
    const text = fixture(f);
    assert.deepEqual(
      [...listedIds(text)],
      parseSubvolumeList(text).map((r) => r.id),
      f,
    );
  }
  assert.deepEqual(
    [
      ...listedIds(
        'ID 7 gen 1 top level 5 parent_uuid - received_uuid - uuid x path a/ID 9 b\nID 12 gen 1 top level 5 path b\n',
      ),
    ],
    [7, 12],
  );
});

test('subvolume list -c: generations tell a changed source from its snapshot', () => {
  const [data, snap] = parseSubvolumeList(fixture('subvolume-list-cgen.txt'));
  assert.deepEqual([data!.gen, data!.cgen, snap!.gen, snap!.cgen], [8, 7, 7, 7]);
  assert.ok(data!.gen > snap!.cgen!, 'written to after the snapshot was taken');
});

test('subvolume list: a path with spaces and non-ASCII survives', () => {
  const line =
    'ID 300 gen 9 top level 5 parent_uuid -                                    received_uuid -                                    uuid 566c9212-ca67-764c-b6ed-b32c0aafbd64 path <FS_TREE>/my data ü/x';
  assert.equal(parseSubvolumeList(line)[0]!.path, 'my data ü/x');
});

test('mountinfo: btrfs mounts of one filesystem share the device; escapes decoded', () => {
  const mounts = parseMountinfo(fixture('mountinfo.txt'));
  const src = mounts.find((m) => m.mountPoint.endsWith('/src'))!;
  assert.equal(src.fsType, 'btrfs');
  assert.equal(src.source, '/dev/loop0');
  assert.equal(src.root, '/');
  assert.notEqual(src.device, mounts.find((m) => m.mountPoint.endsWith('/dst'))!.device);
  const spaced = parseMountinfo('50 27 0:39 /@my\\040data /mnt/a\\040b rw - btrfs /dev/loop0 rw,subvol=/@my\\040data');
  assert.equal(spaced[0]!.mountPoint, '/mnt/a b');
  assert.equal(spaced[0]!.root, '/@my data');
});

test('findMount: the longest mount point wins; a prefix that is not a folder boundary does not', () => {
  const mounts = parseMountinfo(fixture('mountinfo.txt'));
  assert.equal(findMount(mounts, '/etc')!.mountPoint, '/');
  const src = mounts.find((m) => m.mountPoint.endsWith('/src'))!;
  assert.equal(findMount(mounts, `${src.mountPoint}/data/x`)!.mountPoint, src.mountPoint);
  assert.equal(findMount(mounts, `${src.mountPoint}x/data`)!.mountPoint, '/');
});

test('rsync --itemize-changes (3.x): what differs, by path', async () => {
  const { parseItemize } = await import('../../src/core/itemize.js');
  const out = [
    'hf+++++++++ big => hard',
    '>f.s....... d/f',
    '>fc........ same size.txt',
    '.d..t...... ./',
    'cL+++++++++ link -> d/f',
    'cLc.t...... moved -> elsewhere',
    '.f...po.... owned',
    '.f........x tagged',
    '*deleting   extra.txt',
    '',
  ].join('\n');
  assert.deepEqual(parseItemize(out), [
    { path: 'big', what: 'hard link missing from the backup (hard)' },
    { path: 'd/f', what: 'file differs in size' },
    { path: 'same size.txt', what: 'file differs in content' },
    { path: './', what: 'folder differs in modification time' },
    { path: 'link', what: 'symlink missing from the backup' },
    { path: 'moved', what: 'symlink target' },
    { path: 'owned', what: 'file differs in permissions, owner' },
    { path: 'tagged', what: 'file differs in extended attributes' },
    { path: 'extra.txt', what: 'only in the backup' },
  ]);
});
