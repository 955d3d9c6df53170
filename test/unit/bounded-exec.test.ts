import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ExecRunner } from '../../src/system/exec-runner.js';

// A program we do not know (the notify command), through the real adapter with
// harmless programs: a time limit for its whole process group, bounded output, and no
// wait for a child it leaves holding its output.

const gone = (pid: number) => {
  try {
    return /^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
};

test('bounded run: a child left holding the output does not hold the run; its exit code is kept', async () => {
  const t = Date.now();
  const r = await new ExecRunner().run(['sh', ['-c', 'sleep 30 & echo $!; exit 7']], {
    timeoutMs: 20_000,
    outputLimit: 1024,
    allowFailure: true,
  });
  assert.ok(Date.now() - t < 5_000, `${Date.now() - t} ms`);
  assert.equal(r.exitCode, 7);
  assert.equal(r.timedOut, false);
  const child = Number(r.stdout.trim());
  assert.ok(!gone(child), 'the child is its own business');
  process.kill(child, 'SIGKILL');
});

test('bounded run: past the time limit the whole group is ended (SIGKILL after SIGTERM is ignored: host tier)', async () => {
  const r = await new ExecRunner().run(['sh', ['-c', 'sleep 30 & echo $!; sleep 30']], {
    timeoutMs: 300,
    allowFailure: true,
  });
  assert.equal(r.timedOut, true);
  const child = Number(r.stdout.trim());
  // the signal is delivered at once, the exit a moment later: polled, not a guessed wait
  for (let end = Date.now() + 5000; !gone(child) && Date.now() < end;) await new Promise((res) => setTimeout(res, 20));
  assert.ok(gone(child), 'the background child went with the group');
  await assert.rejects(
    new ExecRunner().run(['sleep', ['30']], { timeoutMs: 200 }),
    /command killed by SIGTERM: sleep 30/,
  );
});

test('bounded run: of a flood only the last bytes are kept, the rest counted as cut', async () => {
  const r = await new ExecRunner().run(['sh', ['-c', 'head -c 3000000 /dev/zero | tr "\\0" a; echo END']], {
    outputLimit: 4096,
  });
  assert.equal(r.stdout.length, 4096);
  assert.ok(r.stdout.endsWith('aEND\n'));
  assert.equal(r.outputCut, 3_000_004 - 4096);
});

test('bounded run with endPastLimit: a flood without end ends the group once stdout passes the limit, not at the time limit', async () => {
  const t = Date.now();
  const r = await new ExecRunner().run(['sh', ['-c', 'sleep 30 & echo $! >&2; exec yes']], {
    timeoutMs: 10_000,
    outputLimit: 1024 * 1024,
    endPastLimit: true,
    allowFailure: true,
  });
  assert.ok(Date.now() - t < 3_000, `${Date.now() - t} ms`);
  assert.equal(r.timedOut, false);
  assert.ok((r.outputCut ?? 0) > 0);
  const child = Number(r.stderr.trim());
  const deadline = Date.now() + 3_000;
  while (!gone(child) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  assert.ok(gone(child), 'the group is ended, its children too');
});
