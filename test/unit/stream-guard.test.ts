import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ATTR,
  CMD,
  streamCommand as cmd,
  streamHeader,
  throughGuard,
  u64,
  uuidBytes,
  type Attr,
} from '../support/send-stream.js';

const NAME = '2026-12-06_08-00-00';
const UUID = '11111111-2222-3333-4444-555555555555';
const PARENT = '66666666-7777-8888-9999-aaaaaaaaaaaa';
const FOREIGN = 'deadbeef-0000-4000-8000-00000000beef';

const full = { name: NAME, uuid: UUID, parent: null };
const incremental = { name: NAME, uuid: UUID, parent: PARENT };

function subvol(name = NAME, uuid = UUID, v = 1): Buffer {
  return cmd(
    CMD.subvol,
    [
      [ATTR.path, name],
      [ATTR.uuid, uuidBytes(uuid)],
      [ATTR.ctransid, u64(7)],
    ],
    v,
  );
}

function snapshot(from = PARENT, name = NAME, uuid = UUID): Buffer {
  return cmd(CMD.snapshot, [
    [ATTR.path, name],
    [ATTR.uuid, uuidBytes(uuid)],
    [ATTR.ctransid, u64(9)],
    [ATTR.cloneUuid, uuidBytes(from)],
    [ATTR.cloneCtransid, u64(7)],
  ]);
}

function write(path: string, data: Buffer, v = 1): Buffer {
  return cmd(
    CMD.write,
    [
      [ATTR.path, path],
      [ATTR.fileOffset, u64(0)],
      [ATTR.data, data],
    ],
    v,
  );
}

function clone(from: string, path = 'b', clonePath = 'a'): Buffer {
  return cmd(CMD.clone, [
    [ATTR.path, path],
    [ATTR.fileOffset, u64(0)],
    [ATTR.cloneLen, u64(4096)],
    [ATTR.cloneUuid, uuidBytes(from)],
    [ATTR.cloneCtransid, u64(7)],
    [ATTR.clonePath, clonePath],
    [ATTR.cloneOffset, u64(0)],
  ]);
}

const end = (): Buffer => cmd(CMD.end, []);
const mkfile = (path: string): Buffer => cmd(CMD.mkfile, [[ATTR.path, path] as Attr, [ATTR.ino, u64(257)]]);

function fullStream(...middle: Buffer[]): Buffer {
  return Buffer.concat([streamHeader(1), subvol(), mkfile('a'), write('a', Buffer.alloc(5000, 7)), ...middle, end()]);
}

test('stream guard: a full stream passes through byte for byte, whatever the chunking', async () => {
  const s = fullStream();
  for (const sizes of [[65536], [1], [3, 7, 11], [17, 10], [5000, 1, 2]]) {
    const r = await throughGuard(s, full, sizes);
    assert.equal(r.error, undefined, `chunks ${sizes.join(',')}: ${r.error?.message}`);
    assert.ok(r.out.equals(s), `chunks ${sizes.join(',')}: the bytes changed`);
  }
});

test('stream guard: an incremental stream (clones from itself and its parent) passes', async () => {
  const s = Buffer.concat([streamHeader(1), snapshot(), mkfile('b'), clone(PARENT), clone(UUID, 'c', 'b'), end()]);
  const r = await throughGuard(s, incremental, [13]);
  assert.equal(r.error, undefined, r.error?.message);
  assert.ok(r.out.equals(s));
});

test("stream guard: version 2, a DATA attribute runs to its command's end (bytes that look like attributes are data)", async () => {
  const data = Buffer.concat([Buffer.from([15, 0, 3, 0]), Buffer.from('../../etc'), Buffer.alloc(70000, 1)]);
  const s = Buffer.concat([streamHeader(2), subvol(NAME, UUID, 2), write('a', data, 2), cmd(CMD.end, [], 2)]);
  const r = await throughGuard(s, full, [4096]);
  assert.equal(r.error, undefined, r.error?.message);
  assert.ok(r.out.equals(s));
});

test('stream guard: a symlink may point anywhere (its target is text, not a path receive follows)', async () => {
  const link = cmd(CMD.symlink, [
    [ATTR.path, 'l'],
    [ATTR.ino, u64(258)],
    [ATTR.pathLink, '/etc/../../shadow'],
  ]);
  const r = await throughGuard(fullStream(link), full);
  assert.equal(r.error, undefined, r.error?.message);
});

/** a refused stream: exit 3's error, and not one byte of the offending command let through */
async function refusedAt(s: Buffer, bad: number, expect: typeof full | typeof incremental, why: RegExp) {
  for (const sizes of [[65536], [1], [7]]) {
    const r = await throughGuard(s, expect, sizes);
    assert.ok(r.error, `chunks ${sizes.join(',')}: the stream passed`);
    assert.match(r.error.message, why);
    assert.equal((r.error as { exitCode?: number }).exitCode, 3);
    assert.ok(
      r.out.length <= bad,
      `chunks ${sizes.join(',')}: ${r.out.length} bytes passed, the bad command is at ${bad}`,
    );
    assert.ok(r.out.equals(s.subarray(0, r.out.length)), 'what passed is unchanged');
  }
}

test('[remote input] a stream that creates another NAME: refused before receive sees its first command', async () => {
  const s = Buffer.concat([streamHeader(1), subvol('other'), end()]);
  await refusedAt(s, 17, full, /creates the subvolume "other", not "2026-12-06_08-00-00"/);
});

test('[remote input] a stream whose subvolume has another UUID than announced: refused', async () => {
  const s = Buffer.concat([streamHeader(1), subvol(NAME, FOREIGN), end()]);
  await refusedAt(s, 17, full, /UUID deadbeef-0000-4000-8000-00000000beef, not the announced/);
});

test("[remote input] a snapshot of another host's UUID (not the announced parent): refused", async () => {
  const s = Buffer.concat([streamHeader(1), snapshot(FOREIGN), end()]);
  await refusedAt(s, 17, incremental, /snapshot of deadbeef-0000-4000-8000-00000000beef, not of the announced parent/);
});

test('[remote input] an incremental stream announced as full, and a full one announced as incremental: refused', async () => {
  await refusedAt(Buffer.concat([streamHeader(1), snapshot(), end()]), 17, full, /announced/);
  await refusedAt(Buffer.concat([streamHeader(1), subvol(), end()]), 17, incremental, /announced/);
});

test('[remote input] a clone from a foreign UUID (another host could be found by receive): refused', async () => {
  const s = Buffer.concat([streamHeader(1), snapshot(), mkfile('b')]);
  const bad = s.length;
  await refusedAt(Buffer.concat([s, clone(FOREIGN), end()]), bad, incremental, /clones from subvolume deadbeef/);
});

test('[remote input] a second stream header after the end, and any byte after the end: refused', async () => {
  const one = fullStream();
  await refusedAt(Buffer.concat([one, streamHeader(1), subvol(), end()]), one.length, full, /follow the end command/);
  await refusedAt(Buffer.concat([one, Buffer.from([0])]), one.length, full, /follow the end command/);
});

test('[remote input] a stream with a second stream after its end: receive never sees the end command (it would finish the subvolume there)', async () => {
  const one = fullStream();
  const r = await throughGuard(Buffer.concat([one, one]), full);
  assert.ok(r.error);
  assert.equal(r.out.length, one.length - 10, 'all but the end command passed');
});

test('[remote input] a second subvolume in the stream: refused', async () => {
  const s = Buffer.concat([streamHeader(1), subvol(), mkfile('a')]);
  await refusedAt(Buffer.concat([s, subvol('x', FOREIGN), end()]), s.length, full, /creates a second subvolume/);
});

const start = Buffer.concat([streamHeader(1), subvol(), mkfile('a')]);
const PATHS: [string, Buffer, RegExp][] = [
  ['a rename to ../', cmd(CMD.rename, [[ATTR.path, 'a'] as Attr, [ATTR.pathTo, '../../escape']]), /with "\.\."/],
  ['a rename into a/../..', cmd(CMD.rename, [[ATTR.path, 'a'] as Attr, [ATTR.pathTo, 'a/../../x']]), /with "\.\."/],
  ['a write to an absolute path', write('/etc/shadow', Buffer.alloc(10)), /absolute path/],
  ['a mkfile of ..', mkfile('..'), /with "\.\."/],
  ['a hard link to ../', cmd(CMD.link, [[ATTR.path, 'l'] as Attr, [ATTR.pathLink, '../other/secret']]), /with "\.\."/],
  ['a clone from ../', clone(UUID, 'b', '../x'), /with "\.\."/],
  ['a NUL in a path', mkfile('a\0/../../x'), /NUL/],
];
for (const [what, bad, why] of PATHS) {
  test(`[remote input] a stream with ${what}: refused before receive sees that command`, async () => {
    await refusedAt(Buffer.concat([start, bad, end()]), start.length, full, why);
  });
}

test('[remote input] malformed streams (no header, version 3, unknown command, truncated, an attribute twice, no end): refused', async () => {
  await refusedAt(Buffer.from('not a stream at all, just text'), 0, full, /header/);
  await refusedAt(Buffer.concat([streamHeader(3), subvol(), end()]), 0, full, /version 3/);
  await refusedAt(Buffer.concat([start, cmd(99, []), end()]), start.length, full, /type 99/);
  const twice = cmd(CMD.mkfile, [
    [ATTR.path, 'ok'],
    [ATTR.path, '../x'],
  ]);
  await refusedAt(Buffer.concat([start, twice, end()]), start.length, full, /twice/);
  const cut = Buffer.concat([start, cmd(CMD.mkfile, [[ATTR.path, 'a']]).subarray(0, 12)]);
  await refusedAt(cut, start.length, full, /without its end command/);
  await refusedAt(start, start.length + 1, full, /without its end command/);
  await refusedAt(Buffer.alloc(0), 0, full, /before its header/);
  const big = Buffer.alloc(10);
  big.writeUInt32LE(0xffffffff, 0);
  await refusedAt(Buffer.concat([start, big]), start.length, full, /a command of 4294967295 bytes/);
});
