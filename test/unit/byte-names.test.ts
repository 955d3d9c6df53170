import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeName, fromBytes, fsPath, hasRawBytes, toBytes } from '../../src/core/byte-names.js';
import { exactArgs } from '../../src/cli/exact-argv.js';
import { withExactBytes } from '../../src/system/exec-runner.js';
import { formatArgv } from '../../src/system/runner.js';
import { rsyncName } from '../../src/core/itemize.js';

const raw = (latin1: string) => Buffer.from(latin1, 'latin1');

test('names are bytes: every byte sequence comes back exactly, valid UTF-8 stays text', () => {
  const cases = [
    raw('x\xff\xfe'),
    raw('\xc3'),
    raw('\xe2\x82x'),
    raw('\xed\xa0\x80'),
    raw('\xc0\xaf'),
    raw('\xf4\x90\x80\x80'),
    Buffer.from('é ü 😀 \uFFFD'),
    raw('a\x80\x9f'),
  ];
  for (const b of cases) assert.deepEqual(toBytes(fromBytes(b)), b, b.toString('hex'));
  assert.equal(fromBytes(Buffer.from('plain é')), 'plain é');
  assert.equal(hasRawBytes(fromBytes(raw('x\xff'))), true);
  assert.equal(hasRawBytes('x\uFFFD 😀'), false, 'U+FFFD and surrogate pairs are text');
  assert.equal(fsPath('/a/b'), '/a/b');
  assert.deepEqual(fsPath(fromBytes(raw('/a/\xff'))), raw('/a/\xff'));
});

test("escapeName: bash $'…' escapes for bytes, newlines, control characters, direction marks and backslashes; text as it is", () => {
  assert.equal(escapeName(fromBytes(raw('x\xff\xfe'))), 'x\\xff\\xfe');
  assert.equal(escapeName('weird\nname\ttab\r'), 'weird\\nname\\ttab\\r');
  assert.equal(escapeName('red\x1b[31m\x7f'), 'red\\x1b[31m\\x7f');
  assert.equal(escapeName('a\u202eb\u0085'), 'a\\xe2\\x80\\xaeb\\xc2\\x85');
  assert.equal(escapeName('back\\slash'), 'back\\\\slash');
  assert.equal(escapeName('Grüße 😀 \uFFFD'), 'Grüße 😀 \uFFFD');
});

test('exactArgs: an argument Node decoded with U+FFFD gets its bytes from /proc/self/cmdline; others are left alone', () => {
  const cmdline = Buffer.concat([
    Buffer.from('node\0--stack-size=900\0/bin/btrfs-vault.js\0files\0'),
    raw('x\xff\0'),
    Buffer.from('--path=\uFFFD\0'),
  ]);
  const argv = ['/usr/bin/node', '/bin/btrfs-vault.js', 'files', 'x\uFFFD', '--path=\uFFFD'];
  assert.deepEqual(
    exactArgs(argv, () => cmdline).map((a) => toBytes(a)),
    [Buffer.from('files'), raw('x\xff'), Buffer.from('--path=\uFFFD')],
  );
  let read = false;
  assert.deepEqual(
    exactArgs(['n', 's', 'a', 'b'], () => ((read = true), Buffer.alloc(0))),
    ['a', 'b'],
  );
  assert.equal(read, false, 'no U+FFFD: /proc is not read');
  // not lined up (a changed process title): argv as Node gave it
  assert.deepEqual(
    exactArgs(argv, () => Buffer.from('node\0other\0')),
    argv.slice(2),
  );
});

test("a command with an argument of bytes goes through perl as hex, and is shown with $'…' quoting", () => {
  const name = fromBytes(raw('/b/x\xff'));
  assert.deepEqual(withExactBytes(['cp', ['--', '/a', '/b']]), ['cp', '--', '/a', '/b']);
  const wrapped = withExactBytes(['cp', ['--', name, '/b']]);
  assert.equal(wrapped[0], 'perl');
  assert.deepEqual(
    wrapped.slice(3).map((h) => Buffer.from(h, 'hex')),
    [Buffer.from('cp'), Buffer.from('--'), raw('/b/x\xff'), Buffer.from('/b')],
  );
  assert.equal(formatArgv(['cp', ['--', name, 'a b', 'new\nline']]), "cp -- $'/b/x\\xff' 'a b' $'new\\nline'");
});

test("rsync's \\#ooo names come back as bytes, then escaped; a backslash rsync escaped is one backslash", () => {
  assert.equal(rsyncName('x\\#377\\#376'), 'x\\xff\\xfe');
  assert.equal(rsyncName('\\#303\\#251t\\#303\\#251'), 'été');
  assert.equal(rsyncName('new\\#012line'), 'new\\nline');
  assert.equal(rsyncName('lit\\#134#123'), 'lit\\\\#123');
  assert.equal(rsyncName('back\\slash'), 'back\\\\slash');
});
