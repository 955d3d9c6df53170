import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

// npm run demo is not part of npm test (it boots a VM for minutes); this only checks
// that its scripts parse and that what they start exists in the build.

test('the demo scripts parse, and what they start is built', () => {
  for (const script of ['scripts/demo.sh', 'scripts/demo-quick.sh']) {
    const r = spawnSync('bash', ['-n', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${script}: ${r.stderr}`);
  }
  const demo = readFileSync('scripts/demo.sh', 'utf8');
  for (const started of [...demo.matchAll(/exec (?:node|bash) (\S+)/g)].map((m) => m[1]!))
    assert.ok(existsSync(started), `demo.sh starts ${started}`);
  assert.match(demo, /--quick\) exec bash scripts\/demo-quick\.sh/);
  const driver = readFileSync('dist/test/vm/demo.js', 'utf8');
  const guest = /script: '([a-z-]+)'/.exec(driver)?.[1];
  assert.ok(guest && existsSync(`dist/test/vm/guest/${guest}.js`), `the guest script ${guest} is built`);
});

test('npm run demo refuses an unknown option with its usage, before anything is done', () => {
  const r = spawnSync('bash', ['scripts/demo.sh', '--fast'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /usage: npm run demo \[-- --quick\]/);
});
