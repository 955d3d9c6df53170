import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forgedListingCandidates, parseSubvolumeList } from '../../src/core/subvolumes.js';

// btrfs-progs prints a subvolume's name as it is: newlines included.

test('subvolume list: a name with newlines is one row, also one ending in a newline', () => {
  const row = (id: number, path: string) =>
    `ID ${id} gen 7 top level 5 parent_uuid -                                    received_uuid -                                    uuid 6b3a3e2c-0000-4000-8000-00000000000${id % 10} path ${path}`;
  const rows = parseSubvolumeList(
    `${row(256, 'd/weird\nname')}\n${row(257, 'd/2026-01-01_00-00-00\nx')}\n${row(258, 'd/end\n')}\n`,
  );
  assert.deepEqual(
    rows.map((r) => r.path),
    ['d/weird\nname', 'd/2026-01-01_00-00-00\nx', 'd/end\n'],
  );
});

test('subvolume list: a line in a name that imitates the row of a subvolume listed already is part of that name', () => {
  const line = (id: number, gen: number, path: string) =>
    `ID ${id} gen ${gen} cgen 7 top level 5 parent_uuid -                                    received_uuid -                                    uuid cd1483a7-f200-bb4d-a0cc-543fcb3c818${id % 10} path ${path}`;
  const rows = parseSubvolumeList(
    `${line(256, 8, 'data')}\n${line(259, 9, '<FS_TREE>/data/u')}\n${line(256, 1, 'data')}\n${line(260, 9, 'data/v')}\n`,
  );
  assert.deepEqual(
    rows.map((r) => [r.id, r.gen, r.path]),
    [
      [256, 8, 'data'],
      [259, 9, `data/u\n${line(256, 1, 'data')}`],
      [260, 9, 'data/v'],
    ],
  );
});

test('subvolume list: a listing as btrfs prints it (IDs rising, each once) is not forged; one that repeats an ID or goes back gives every reading as a candidate', () => {
  const line = (id: number, path: string) =>
    `ID ${id} gen 9 cgen 7 top level 5 parent_uuid -                                    received_uuid -                                    uuid cd1483a7-f200-bb4d-a0cc-543fcb3c818${id % 10} path ${path}`;
  assert.equal(
    forgedListingCandidates(`${line(256, 'data')}\n${line(257, 'data/weird\nname')}\n${line(300, 'snaps/a')}\n`),
    undefined,
  );
  // the user's 258 names a row 259, the ID of the snapshot made next
  const forged = `${line(256, 'data')}\n${line(258, `data/u\n${line(259, 'nowhere')}`)}\n${line(259, 'snaps/b')}\n`;
  const candidates = forgedListingCandidates(forged)!;
  assert.ok(candidates, 'forged');
  const readings = candidates.map((r) => `${r.id} ${r.path}`);
  for (const r of ['256 data', '258 data/u', '259 nowhere', '259 snaps/b'])
    assert.ok(readings.includes(r), `${r} is among ${JSON.stringify(readings)}`);
});
