import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

// An import cycle can leave a constant uninitialised while a module that reads it at load
// is evaluated: which one fails depends on which module a program imports first (the VM
// guests import the stack's modules in their own order). So each module of src is
// loaded first, on its own, in a fresh Node.

const SRC = join(process.cwd(), 'dist', 'src');
const modules = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? modules(join(dir, e.name))
      : e.name.endsWith('.js') && !e.name.endsWith('.pl.js')
        ? [join(dir, e.name)]
        : [],
  );

test('every module of src loads when it is the first one imported (no import cycle reads a constant before it is set)', () => {
  const all = modules(SRC);
  assert.ok(all.length > 50, `${all.length} modules found under ${SRC}`);
  // one Node per module, a few modules a process at a time would hide an order: each alone
  const failed = all.flatMap((file) => {
    const r = spawnSync('node', ['--input-type=module', '-e', `await import(${JSON.stringify(file)})`], {
      encoding: 'utf8',
    });
    return r.status === 0
      ? []
      : [
          `${file.slice(SRC.length + 1)}: ${r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr.slice(0, 200)}`,
        ];
  });
  assert.deepEqual(failed, []);
});
