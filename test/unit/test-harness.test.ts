import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

// The tests' own tools are one set, in test/support, for every tier: a helper defined
// twice drifts into two meanings (the host's waitFor polled a probe, the guest's waited
// for a device node). And test doubles stay out of the production tree and the release.

const root = process.cwd();

function files(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name), ext) : e.name.endsWith(ext) ? [join(dir, e.name)] : [],
  );
}

test('each helper of the tests is defined once, whatever the tier (host, VM guest, unit)', () => {
  const defined = new Map<string, string[]>();
  for (const f of files(join(root, 'test'), '.ts')) {
    for (const m of readFileSync(f, 'utf8').matchAll(/^export (?:async )?function (\w+)/gm)) {
      defined.set(m[1]!, [...(defined.get(m[1]!) ?? []), relative(root, f)]);
    }
  }
  const twice = [...defined]
    .filter(([, where]) => where.length > 1)
    .map(([name, where]) => `${name}: ${where.join(', ')}`);
  assert.deepEqual(
    twice,
    [],
    'one definition per name: give what differs a name of its own, or share the one in test/support',
  );
  for (const name of ['sh', 'cli', 'waitFor', 'waitForDevice', 'drivePty'])
    assert.match(defined.get(name)?.[0] ?? '', /^test\/support\//, name);
});

test('no test double in the production tree, none in the release bundle', () => {
  const doubles = files(join(root, 'src'), '.ts').filter(
    (f) =>
      /(^|\/)(fake|mock|stub)[-.]/.test(relative(root, f)) ||
      /\bclass (Fake|Mock|Stub)\w*/.test(readFileSync(f, 'utf8')),
  );
  assert.deepEqual(
    doubles.map((f) => relative(root, f)),
    [],
    'test doubles belong in test/support',
  );
  const bundle = join(root, 'dist', 'bundle');
  assert.ok(existsSync(bundle), 'the release bundle is built before the tests (npm run build)');
  const shipped = readdirSync(bundle).filter((f) => f.endsWith('.cjs'));
  assert.ok(shipped.includes('commands.cjs'), shipped.join(' '));
  assert.deepEqual(
    shipped.filter((f) => /\bFakeRunner\b/.test(readFileSync(join(bundle, f), 'utf8'))),
    [],
  );
});
