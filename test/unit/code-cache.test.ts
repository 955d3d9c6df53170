import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Real V8 code caches of a small CommonJS file in a temporary folder. Each load runs
// in a fresh node, as each start of btrfs-vault does: within one process V8 would
// answer a second compile of the same source from memory and never read the cache.

const MODULE = fileURLToPath(new URL('../../src/cli/code-cache.js', import.meta.url));

interface Loaded {
  status: string;
  saved?: boolean;
  answer: number;
  base: string;
  self: boolean;
}

function loadScript(file: string, cacheDir: string, key: string, save = false): Loaded {
  const code = `import { loadScript } from ${JSON.stringify(MODULE)};
const s = loadScript(${JSON.stringify(file)}, ${JSON.stringify(cacheDir)}, ${JSON.stringify(key)});
const out = { status: s.status, answer: s.exports.answer(), base: s.exports.base, self: s.exports.self };
if (${save}) out.saved = s.save();
console.log(JSON.stringify(out));`;
  return JSON.parse(execFileSync('node', ['--input-type=module', '-e', code], { encoding: 'utf8' })) as Loaded;
}

interface Fixture {
  dir: string;
  file: string;
  cacheDir: string;
}

/** a small CommonJS file in a folder of its own, removed afterwards */
function withFixture(fn: (f: Fixture) => void): () => void {
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'btrfs-vault-code-cache-'));
    const file = join(dir, 'lib.cjs');
    writeFileSync(file, `const path = require('node:path');\nexports.answer = () => 6 * 7;\nexports.base = path.basename(__filename);\nexports.self = module.exports === exports;\n`);
    try {
      fn({ dir, file, cacheDir: join(dir, 'cache') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('a script runs like require(); its cache is written 0600 in a 0700 folder and used by the next load', withFixture((f) => {
  const first = loadScript(f.file, f.cacheDir, 'list', true);
  assert.equal(first.status, 'miss');
  assert.equal(first.answer, 42);
  assert.equal(first.base, 'lib.cjs');
  assert.equal(first.self, true);
  assert.equal(first.saved, true);
  assert.equal(statSync(f.cacheDir).mode & 0o777, 0o700);
  const [name, ...more] = readdirSync(f.cacheDir);
  assert.equal(more.length, 0);
  assert.match(name!, new RegExp(`^lib\\.list-\\d+-\\d+-${process.version.replaceAll('.', '\\.')}-${process.arch}\\.v8$`));
  assert.equal(statSync(join(f.cacheDir, name!)).mode & 0o777, 0o600);

  const second = loadScript(f.file, f.cacheDir, 'list', true);
  assert.equal(second.status, 'hit', 'V8 accepted the cache');
  assert.equal(second.answer, 42);
  assert.equal(second.saved, false, 'a used cache is not written again');
}));

test("a changed script gets a new cache; every command's cache of the old build is removed", withFixture((f) => {
  loadScript(f.file, f.cacheDir, 'list', true);
  loadScript(f.file, f.cacheDir, 'backup', true);
  writeFileSync(join(f.cacheDir, 'other.list-1-2-v20.0.0-x64.v8'), 'another bundle', { mode: 0o600 });
  assert.equal(readdirSync(f.cacheDir).length, 3);
  writeFileSync(f.file, readFileSync(f.file, 'utf8').replace('6 * 7', '43'));
  utimesSync(f.file, new Date(), new Date(Date.now() + 5000));
  const changed = loadScript(f.file, f.cacheDir, 'list', true);
  assert.equal(changed.status, 'miss');
  assert.equal(changed.answer, 43, 'the new code runs, not the cached old one');
  const names = readdirSync(f.cacheDir).sort();
  assert.deepEqual(names.map((n) => n.replace(/-.*/, '')), ['lib.list', 'other.list'], 'the old build\'s list and backup caches are gone');
  assert.ok(names[0]!.includes(`-${statSync(f.file).size}-`));
}));

test('a corrupt cache is rejected by V8, the script still runs, and the cache is replaced', withFixture((f) => {
  loadScript(f.file, f.cacheDir, 'list', true);
  const cache = join(f.cacheDir, readdirSync(f.cacheDir)[0]!);
  const good = readFileSync(cache);
  writeFileSync(cache, Buffer.alloc(good.length, 0x5a));
  const loaded = loadScript(f.file, f.cacheDir, 'list', true);
  assert.equal(loaded.status, 'rejected');
  assert.equal(loaded.answer, 42);
  assert.equal(loaded.saved, true);
  assert.equal(loadScript(f.file, f.cacheDir, 'list').status, 'hit');
}));

test('a cache others could have written is never read: group-writable file or folder, or a symlink', withFixture((f) => {
  loadScript(f.file, f.cacheDir, 'list', true);
  const cache = join(f.cacheDir, readdirSync(f.cacheDir)[0]!);
  chmodSync(cache, 0o620);
  assert.equal(loadScript(f.file, f.cacheDir, 'list').status, 'unsafe');
  chmodSync(cache, 0o600);
  chmodSync(f.cacheDir, 0o770);
  const inOpenDir = loadScript(f.file, f.cacheDir, 'list', true);
  assert.equal(inOpenDir.status, 'unsafe');
  assert.equal(inOpenDir.saved, false, 'nor written into such a folder');
  chmodSync(f.cacheDir, 0o700);
  const real = join(f.dir, 'elsewhere.v8');
  writeFileSync(real, readFileSync(cache), { mode: 0o600 });
  rmSync(cache);
  symlinkSync(real, cache);
  assert.equal(loadScript(f.file, f.cacheDir, 'list').status, 'unsafe');
}));

test('no cache folder can be made: the script runs, save says no', withFixture((f) => {
  // a file where the folder should be: mkdir fails even for root
  writeFileSync(join(f.dir, 'blocked'), '');
  const loaded = loadScript(f.file, join(f.dir, 'blocked', 'cache'), 'list', true);
  assert.equal(loaded.answer, 42);
  assert.equal(loaded.saved, false);
}));
