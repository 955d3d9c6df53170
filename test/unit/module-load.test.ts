import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
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

test('every module of src loads when it is the first one imported (no import cycle reads a constant before it is set)', async () => {
  const all = modules(SRC);
  assert.ok(all.length > 50, `${all.length} modules found under ${SRC}`);
  // one Node per module, a few modules a process at a time would hide an order: each alone,
  // as many side by side as there are cores (each is mostly Node's start)
  const failed: string[] = [];
  const queue = [...all];
  const worker = async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const r = await loadAlone(file);
      if (r.code !== 0)
        failed.push(
          `${file.slice(SRC.length + 1)}: ${r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr.slice(0, 200)}`,
        );
    }
  };
  await Promise.all(Array.from({ length: Math.min(availableParallelism(), 4) }, worker));
  assert.deepEqual(failed.sort(), []);
});

/** `file` imported first, in a fresh Node of its own */
function loadAlone(file: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('node', ['--input-type=module', '-e', `await import(${JSON.stringify(file)})`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
