import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// The "Reliability" table of docs/TESTING.md counts the hostile cases `npm test` runs, by class.
// It is generated here from the test sources, so it cannot drift: a hostile case is a
// `test('[class] …')` in any tier, and each entry of the bad-input corpus.

const CLASSES: Record<string, string> = {
  'what we delete': 'is every deletion backed by a record that we made the thing?',
  'paths we are given': 'option-like, relative, `..`, symlinks on the way, non-UTF-8 bytes, newlines',
  'what we write into other formats':
    'systemd units, udev rules, fstab, TOML, JSON, log lines: newline, `%`, `$`, quotes',
  secrets: 'passphrase, keyfile, token, URLs with keys: never on argv, in the environment or a log',
  'programs we run': 'hangs, huge output, non-zero exit, killed, children that outlive them',
  space: 'target full, restore destination full, space freed but not yet reclaimed',
  time: 'clock set forward then back, names in the future, time zones',
  'ordering and agreement': 'do two verbs that describe the same thing agree?',
  'two of us at once': 'two runs, two configs on one source or target, a timer run during an interactive verb',
  'signals and power': 'kill -9 at each step, SIGHUP, a disk pulled out, a power cut',
  'remote input': 'every byte from the other side is hostile',
  'the release build': 'test-only switches (weak LUKS keys, kill points) absent from what users install',
  'what the kernel tells us': 'log lines of other filesystems, addresses that are a stripe, not a block',
  'what we read back': 'our own records (the host record) edited by hand, torn, or of another shape',
  'the key press': 'a Tab: no disk opened, no program run, fast; a word from the config never run by the shell',
};
const BAD_INPUT = 'bad input';
const BAD_INPUT_ASK = 'configs, sources files, command lines: refused with the fix, exit 2, nothing written';

const root = process.cwd();
const START = '<!-- hostile-census:start -->';
const END = '<!-- hostile-census:end -->';

function sources(): { file: string; text: string }[] {
  return ['test/unit', 'test/host', 'test/vm'].flatMap((dir) =>
    readdirSync(join(root, dir))
      .filter((f) => f.endsWith('.test.ts') && f !== 'hostile-census.test.ts') // this file names the form in a comment
      .map((f) => ({ file: `${dir}/${f}`, text: readFileSync(join(root, dir, f), 'utf8') })),
  );
}

/** Cases per class, in the order of CLASSES, then any class a test names that is not listed (refused below). */
function census(): Map<string, number> {
  const counts = new Map<string, number>(Object.keys(CLASSES).map((c) => [c, 0]));
  counts.set(BAD_INPUT, 0);
  for (const { file, text } of sources()) {
    for (const m of text.matchAll(/\btest\(\s*(['"`])\[([^\]]+)\]/g)) counts.set(m[2]!, (counts.get(m[2]!) ?? 0) + 1);
    if (file.endsWith('bad-input.test.ts')) counts.set(BAD_INPUT, [...text.matchAll(/^\s*(\{ )?name: '/gm)].length);
  }
  return counts;
}

function table(counts: Map<string, number>): string {
  const rows = [...counts].map(([c, n]) => `| ${c} | ${c === BAD_INPUT ? BAD_INPUT_ASK : CLASSES[c]} | ${n} |`);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return ['| class | what is tried | cases |', '|---|---|---|', ...rows, `| **all** | | **${total}** |`].join('\n');
}

test('every hostile case names a known class', () => {
  const unknown = [...census().keys()].filter((c) => c !== BAD_INPUT && !(c in CLASSES));
  assert.deepEqual(
    unknown,
    [],
    'a test names a class that is not in the list: add it to CLASSES (and shared/HOSTILE.md) or fix its spelling',
  );
});

test("docs/TESTING.md's Reliability table is the census of the hostile cases npm test runs", () => {
  const doc = readFileSync(join(root, 'docs/TESTING.md'), 'utf8');
  const at = doc.indexOf(START);
  const end = doc.indexOf(END);
  assert.ok(at >= 0 && end > at, `docs/TESTING.md has no ${START} … ${END} block`);
  const shown = doc.slice(at + START.length, end).trim();
  const expected = table(census());
  assert.equal(shown, expected, `docs/TESTING.md's table is stale; put this between the markers:\n${expected}`);
});
