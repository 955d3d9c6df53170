import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

// Programs run through execa, in the exec adapter. child_process is used only where
// execa cannot do the job, and each such call says why next to it.

const root = process.cwd();

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

test('child_process only in the exec adapter and bounded-exec, each call with its reason (not execa) beside it', () => {
  const users = files(join(root, 'src')).filter((f) => /from 'node:child_process'/.test(readFileSync(f, 'utf8')));
  assert.deepEqual(users.map((f) => relative(root, f)).sort(), [
    'src/system/bounded-exec.ts',
    'src/system/exec-runner.ts',
  ]);
  const unexplained: string[] = [];
  let calls = 0;
  for (const f of users) {
    const text = readFileSync(f, 'utf8');
    const imported =
      /import \{([^}]*)\} from 'node:child_process'/
        .exec(text)?.[1]
        ?.split(',')
        .map((n) => n.trim())
        .filter((n) => n && !n.startsWith('type ')) ?? [];
    const call = new RegExp(`(?<![.\\w])(${imported.join('|')})\\(`);
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (!call.test(line) || /^\s*(\/\/|\*)/.test(line)) return;
      calls++;
      if (!/not execa/.test(lines.slice(Math.max(0, i - 8), i).join('\n')))
        unexplained.push(`${relative(root, f)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.ok(calls > 0, 'the check sees the calls');
  assert.deepEqual(unexplained, [], 'run it through execa (ExecRunner), or say beside the call why execa cannot');
});
