import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeServePath,
  MAX_LINE_BYTES,
  parseVerbLine,
  verbLine,
  type ServeVerb,
} from '../../src/core/serve-verbs.js';

const U1 = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const U2 = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

function accepted(line: string): ServeVerb {
  const r = parseVerbLine(line);
  assert.ok(r.ok, `${JSON.stringify(line)} should be accepted: ${r.ok ? '' : r.reason}`);
  return r.verb;
}

function refused(line: string, why: RegExp): void {
  const r = parseVerbLine(line);
  assert.ok(!r.ok, `${JSON.stringify(line)} should be refused, was ${JSON.stringify(r.ok && r.verb)}`);
  assert.match(r.reason, why, `the reason for ${JSON.stringify(line)}`);
}

test('serve verbs: each verb of protocol 1, read into its typed form', () => {
  assert.deepEqual(accepted('hello'), { verb: 'hello' });
  assert.deepEqual(accepted('list'), { verb: 'list' });
  assert.deepEqual(accepted('list home'), { verb: 'list', folder: 'home' });
  assert.deepEqual(accepted(`receive home 2026-12-06_08-00-00 ${U1} -`), {
    verb: 'receive',
    folder: 'home',
    name: '2026-12-06_08-00-00',
    uuid: U1,
    parent: null,
  });
  assert.deepEqual(accepted(`receive root@x a.b_c+d=e ${U1} ${U2}`), {
    verb: 'receive',
    folder: 'root@x',
    name: 'a.b_c+d=e',
    uuid: U1,
    parent: U2,
  });
  assert.deepEqual(accepted('send home 2026-12-06_08-00-00 -'), {
    verb: 'send',
    folder: 'home',
    name: '2026-12-06_08-00-00',
    parent: null,
  });
  assert.deepEqual(accepted('send home b a'), { verb: 'send', folder: 'home', name: 'b', parent: 'a' });
  for (const v of [accepted('hello'), accepted('list x'), accepted(`receive f n ${U1} ${U2}`), accepted('send f n -')])
    assert.equal(parseVerbLine(verbLine(v)).ok, true);
});

test('serve verbs: files FOLDER PATH, PATH base64url of its UTF-8 (a blank, a newline, a quote or a non-ASCII letter travels as printable ASCII)', () => {
  for (const path of ['etc/passwd', 'a b/c\nd', "it's \u00e9t\u00e9/x", '-rf', '.hidden/.x', 'a'.repeat(255)]) {
    const line = verbLine({ verb: 'files', folder: 'home', path });
    assert.match(line, /^files home [A-Za-z0-9_-]+$/);
    assert.deepEqual(accepted(line), { verb: 'files', folder: 'home', path });
  }
});

const FILES_REFUSED: [string, string, RegExp][] = [
  ['..', '..', /"\.\." component/],
  ['a .. inside', 'a/../../etc', /"\.\." component/],
  ['a . component', 'a/./b', /"\." or/],
  ['an absolute path', '/etc/shadow', /absolute/],
  ['an empty component', 'a//b', /empty/],
  ['a trailing /', 'a/', /empty/],
  ['NUL', 'a\0b', /NUL/],
];
for (const [what, path, why] of FILES_REFUSED) {
  test(`[paths we are given] serve files with a PATH that is ${what}: refused with the reason`, () =>
    refused(`files home ${encodeServePath(path)}`, why));
}

test('[remote input] serve files with a PATH that is not canonical base64url, not UTF-8, empty, or longer than a line: refused', () => {
  refused('files home YQ==', /not base64url/);
  refused('files home a+b/', /not base64url/);
  // "YR" decodes to the byte of "YQ": two spellings of one path are refused
  refused('files home YR', /not canonical/);
  refused(`files home ${Buffer.from([0x61, 0xff]).toString('base64url')}`, /not UTF-8/);
  refused('files home', /2 arguments, not 1/);
  refused(`files home ${encodeServePath('a'.repeat(400))}`, /longer than 512/);
});

const REFUSED: [string, string, RegExp][] = [
  ['a semicolon', 'list home;reboot', /not a name/],
  ['a semicolon as its own word', 'hello ; reboot', /takes 0 arguments/],
  ['$()', 'list $(reboot)', /not a name/],
  ['backticks', 'list `reboot`', /not a name/],
  ['a newline', 'hello\nreboot', /newline/],
  ['a newline at the end', 'hello\n', /newline/],
  ['a carriage return', 'hello\r', /0x0d/],
  ['a tab', 'list\thome', /0x09/],
  ['NUL', 'list home\0x', /NUL/],
  ['..', 'list ..', /not a name/],
  ['. ', 'list .', /not a name/],
  ['../ in a name', 'send ../B x -', /not a name/],
  ['a leading -', 'list -rf', /not a name/],
  ['a leading - as NAME', `receive home --help ${U1} -`, /not a name/],
  ['a leading .', 'list .ssh', /not a name/],
  ['a /', 'list home/x', /not a name/],
  ['an absolute path', 'list /etc', /not a name/],
  ['latest as a name', 'send home latest -', /not "latest"/],
  ['an unknown verb', 'delete home x', /unknown verb/],
  ['a verb in capitals', 'HELLO', /unknown verb/],
  ['an empty line', '', /empty/],
  ['two spaces', 'list  home', /one space/],
  ['a leading space', ' hello', /one space/],
  ['a trailing space', 'hello ', /one space/],
  ['too many arguments', 'list a b', /0 to 1 arguments, not 2/],
  ['too few arguments', `receive home x ${U1}`, /4 arguments, not 3/],
  ['an argument to hello', 'hello x', /0 arguments, not 1/],
  ['an over-long line', `list ${'a'.repeat(MAX_LINE_BYTES)}`, /longer than 512/],
  ['a name of 129 bytes', `list ${'a'.repeat(129)}`, /not a name/],
  ['non-ASCII', 'list h\u00e9', /0xe9/],
  ['a replaced non-UTF-8 byte', 'list h\ufffd', /0xfffd/],
  ['an uppercase UUID', `receive home x ${U1.toUpperCase()} -`, /not a lowercase UUID/],
  ['- as the new UUID', 'receive home x - -', /not a lowercase UUID$/],
  ['a UUID without dashes', `receive home x ${U1.replaceAll('-', '')} -`, /not a lowercase UUID/],
  ['a glob', 'list *', /not a name/],
  ['a quote', `list 'home'`, /not a name/],
  ['a redirection', 'list >x', /not a name/],
  ['a pipe', 'list |sh', /not a name/],
  ['a prototype key as verb', 'constructor', /unknown verb/],
  ['__proto__ as verb', '__proto__', /unknown verb/],
];

for (const [what, line, why] of REFUSED) {
  test(`[remote input] serve verb line with ${what}: refused with the reason`, () => refused(line, why));
}

/** mulberry32: a small seeded generator, so a failure is repeatable */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  'hello',
  'files',
  'YQ',
  'Li4',
  'L2V0Yw',
  'list',
  'receive',
  'send',
  ' ',
  ' ',
  ' ',
  '-',
  '.',
  '..',
  '/',
  ';',
  '$(',
  ')',
  '`',
  '\n',
  '\0',
  'latest',
  'home',
  'a',
  '2026-12-06_08-00-00',
  U1,
  U2,
  '\u00e9',
  '\t',
  '=',
  '@',
  '+',
  '_',
];

const VERBS = ['hello', 'list', 'receive', 'send', 'files'];
const WORD_PIECES = [
  'YS9i',
  'Li4vZXRj',
  'YQ',
  '-',
  '.',
  '..',
  '/',
  ';',
  'latest',
  'home',
  'a',
  'x.y',
  '2026-12-06_08-00-00',
  U1,
  U2,
  '\u00e9',
  '=',
  '@',
  '+',
  '_',
  '$(',
  '`',
  'Z9',
];

function fuzzLine(next: () => number): string {
  if (next() < 0.2) {
    // raw bytes, latin1: any code unit 0-255
    const n = Math.floor(next() * 40);
    return String.fromCharCode(...Array.from({ length: n }, () => Math.floor(next() * 256)));
  }
  if (next() < 0.5) {
    // near the grammar: a verb, then words made of a few pieces each
    const words = [VERBS[Math.floor(next() * VERBS.length)]!];
    const k = Math.floor(next() * 6);
    for (let i = 0; i < k; i++) {
      const m = 1 + Math.floor(next() * 2);
      let w = '';
      for (let j = 0; j < m; j++) w += WORD_PIECES[Math.floor(next() * WORD_PIECES.length)]!;
      words.push(w);
    }
    return words.join(' ');
  }
  const n = 1 + Math.floor(next() * 12);
  let line = '';
  for (let i = 0; i < n; i++) line += PIECES[Math.floor(next() * PIECES.length)]!;
  return line;
}

test('[remote input] serve verbs fuzzed: every accepted line is exactly what verbLine writes, and no argument breaks the name rules', () => {
  const next = random(0x5e57e);
  let acceptedCount = 0;
  const ITERATIONS = 200_000;
  for (let i = 0; i < ITERATIONS; i++) {
    const line = fuzzLine(next);
    const r = parseVerbLine(line);
    if (!r.ok) {
      assert.ok(r.reason.length > 0);
      continue;
    }
    acceptedCount++;
    assert.equal(verbLine(r.verb), line, `accepted ${JSON.stringify(line)} must re-serialise to itself`);
    const v = r.verb;
    const names =
      v.verb === 'list'
        ? v.folder === undefined
          ? []
          : [v.folder]
        : v.verb === 'receive'
          ? [v.folder, v.name]
          : v.verb === 'send'
            ? [v.folder, v.name, ...(v.parent ? [v.parent] : [])]
            : v.verb === 'files'
              ? [v.folder]
              : [];
    if (v.verb === 'files') {
      const parts = v.path.split('/');
      assert.ok(!v.path.startsWith('/') && !v.path.includes('\0'), JSON.stringify(v.path));
      assert.ok(!parts.some((p) => p === '' || p === '.' || p === '..'), JSON.stringify(v.path));
    }
    for (const name of names) {
      assert.ok(!['.', '..', 'latest', ''].includes(name), `${JSON.stringify(name)} from ${JSON.stringify(line)}`);
      assert.ok(!/[/\0\n ;$`]/.test(name) && !/^[-.]/.test(name) && name.length <= 128, JSON.stringify(name));
      assert.ok(/^[\x21-\x7e]+$/.test(name), JSON.stringify(name));
    }
  }
  // the generator must reach the accepting side too, or the test proves nothing
  assert.ok(acceptedCount > 5000, `only ${acceptedCount} of ${ITERATIONS} lines were accepted`);
});
