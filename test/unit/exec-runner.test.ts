import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ExecRunner } from '../../src/system/exec-runner.js';
import { holdArgv } from '../../src/system/lock.js';

// The real adapter with harmless programs: exit codes, signals, a missing program, and
// children that die with the process that started them.

const MODULE = fileURLToPath(new URL('../../src/system/exec-runner.js', import.meta.url));

test('exec: output and exit codes; a failure names the command, how it ended and its stderr; a missing program names its package', async () => {
  const r = new ExecRunner();
  assert.equal((await r.query(['echo', ['hi']])).stdout, 'hi\n');
  assert.equal((await r.query(['sh', ['-c', 'exit 3']], { allowFailure: true })).exitCode, 3);
  await assert.rejects(
    r.run(['sh', ['-c', 'echo oops >&2; exit 4']]),
    /command failed \(exit 4\): sh -c 'echo oops >&2; exit 4'\n {4}oops/,
  );
  await assert.rejects(r.run(['sh', ['-c', 'kill -KILL $$']]), /command killed by SIGKILL: sh/);
  await assert.rejects(r.run(['btrfs-vault-no-such-program', []]), (err: Error & { fix?: string }) =>
    /install btrfs-vault-no-such-program/.test(err.fix ?? ''),
  );
});

test('exec and pipe: exact byte count of the writer; the reader named when it fails first', async () => {
  const r = new ExecRunner();
  const { bytes } = await r.pipe(['head', ['-c', '123457', '/dev/zero']], ['wc', ['-c']]);
  assert.equal(bytes, 123457);
  await assert.rejects(
    r.pipe(['head', ['-c', '100000000', '/dev/zero']], ['sh', ['-c', 'head -c 10 >/dev/null; kill -KILL $$']]),
    /command killed by SIGKILL: sh -c/,
  );
});

test('pipe through a transform: the bytes pass it on the way; its own error stops both programs and is the error', async () => {
  const r = new ExecRunner();
  let seen = 0;
  const count = new Transform({
    transform(chunk: Buffer, _e, done) {
      seen += chunk.length;
      done(null, chunk);
    },
  });
  const ok = await r.pipe(['head', ['-c', '300000', '/dev/zero']], ['wc', ['-c']], { through: count });
  assert.equal(ok.bytes, 300000);
  assert.equal(ok.output?.trim(), '300000');
  assert.equal(seen, 300000);
  const started = Date.now();
  const refuse = new Transform({
    transform(_chunk: Buffer, _e, done) {
      done(new Error('refused by the guard'));
    },
  });
  // both would run for ever: the transform's error ends them
  await assert.rejects(r.pipe(['cat', ['/dev/zero']], ['sleep', ['60']], { through: refuse }), /refused by the guard/);
  assert.ok(Date.now() - started < 10_000);
  // a writer that fails of itself is the cause, not the short stream `through` saw
  const wantsMore = new Transform({
    transform(chunk: Buffer, _e, done) {
      done(null, chunk);
    },
    flush(done) {
      done(new Error('the stream ended before its header'));
    },
  });
  await assert.rejects(
    r.pipe(['sh', ['-c', 'echo "busy; try later" >&2; exit 4']], ['cat', []], { through: wantsMore }),
    /command failed \(exit 4\): sh -c .*\n.*busy; try later/s,
  );
});

test('children die with the run: kill -9 of the parent ends them', async () => {
  // durations of this run's own (another run's sleeps, at the same time, are not ours to count)
  const secs = 90_000 + (process.pid % 9_000);
  const code = `import { ExecRunner } from ${JSON.stringify(MODULE)};
new ExecRunner().run(['sleep', ['${secs}7']]); new ExecRunner().pipe(['sleep', ['${secs}6']], ['sleep', ['${secs}5']]);
setInterval(() => {}, 1000);`;
  const parent = spawn('node', ['--input-type=module', '-e', code], { stdio: 'ignore' });
  const alive = () =>
    spawnSync('pgrep', ['-f', `^sleep ${secs}[567]$`])
      .stdout.toString()
      .trim()
      .split('\n')
      .filter(Boolean);
  const until = async (ok: () => boolean) => {
    for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
  };
  await until(() => alive().length === 3);
  assert.equal(alive().length, 3, 'all three children started');
  parent.kill('SIGKILL');
  await until(() => alive().length === 0);
  assert.deepEqual(alive(), [], 'none outlived the killed parent');
});

test('hold: a program that says it holds runs on until released; one that ends first gives its exit and stderr', async () => {
  const r = new ExecRunner();
  const dir = mkdtempSync(join(tmpdir(), 'btrfs-vault-hold-'));
  try {
    const file = join(dir, 'a.lock');
    const first = await r.hold(holdArgv([file]));
    assert.equal(first.held, true);
    const second = await r.hold(holdArgv([join(dir, 'b.lock'), file]));
    assert.deepEqual(second, { held: false, exitCode: 75, stderr: file }, 'the lock someone holds, named; exit 75');
    if (first.held) await first.release();
    const third = await r.hold(holdArgv([file]));
    assert.equal(third.held, true, 'free once released');
    if (third.held) {
      await third.release();
      await third.release();
    }
    assert.deepEqual(await r.hold(['sh', ['-c', 'echo no >&2; exit 3']]), { held: false, exitCode: 3, stderr: 'no' });
    assert.deepEqual(await r.hold(['sh', ['-c', 'kill -KILL $$']]), { held: false, exitCode: 137, stderr: '' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
