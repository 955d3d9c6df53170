import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { InterruptedError, StalledError } from '../../src/core/errors.js';
import { ExecRunner } from '../../src/system/exec-runner.js';
import { StallWatch } from '../../src/system/stall-watch.js';
import { transfer } from '../../src/btrfs/transfer.js';
import { btrfs } from '../../src/btrfs/commands.js';
import { FakeRunner } from '../support/fake-runner.js';
import { backupSchema } from '../../src/config/schema.js';
import { parseStallTimeout } from '../../src/config/values.js';

// The pipe's progress watchdog: the rule on a given clock, then the real adapter with
// harmless programs standing in for a receive that stops reading, a writer that goes
// quiet, a reader that never ends after the last byte, and a trickle that must live.

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('StallWatch: stalled once the limit passed without a move; a move starts it again; after the writer ended, three times the limit; no limit never stalls', () => {
  const w = new StallWatch(1000, 0);
  assert.equal(w.stalled(999), false);
  assert.equal(w.stalled(1000), true);
  w.moved(900);
  assert.equal(w.stalled(1899), false);
  assert.equal(w.stalled(1900), true);
  // once the writer ended, the reader gets three times the limit (a server syncs before it answers)
  w.writerEnded(2000);
  assert.equal(w.stalled(4999), false);
  assert.equal(w.stalled(5000), true);
  assert.equal(w.currentLimitMs, 3000);
  const off = new StallWatch(undefined, 0);
  assert.equal(off.stalled(Number.MAX_SAFE_INTEGER), false);
});

test('StalledError: the limit written as stall_timeout is, both commands, what to check and the key', () => {
  const e = new StalledError(600_000, 'btrfs send -- /a', 'ssh … receive', false);
  assert.match(e.message, /^no data moved for 10m between `btrfs send -- \/a` and `ssh … receive`; both were ended$/);
  assert.match(e.fix ?? '', /disk.*network.*backup server.*stall_timeout in \[backup\]/);
  assert.equal(e.exitCode, 1);
  assert.match(
    new StalledError(6000, 'a', 'b', true).message,
    /^`b` did not end within 6s \(3 × stall_timeout\) after the last byte of `a`/,
  );
  assert.match(new StalledError(90_000, 'a', 'b', false).message, /for 90s /);
});

test('[programs we run] a receive that stops reading mid-stream: both ends killed within the limit, a StalledError naming the stall', async () => {
  const r = new ExecRunner();
  const started = Date.now();
  const pidFile = `/tmp/btrfs-vault-stall-${process.pid}`;
  const err = await r
    .pipe(['cat', ['/dev/zero']], ['sh', ['-c', `echo $$ > ${pidFile}; head -c 100000 >/dev/null; kill -STOP $$`]], {
      stallMs: 400,
    })
    .then(
      () => assert.fail('a stalled pipe resolved'),
      (e: unknown) => e,
    );
  assert.ok(err instanceof StalledError, String(err));
  assert.match(err.message, /^no data moved for 400 ms between `cat \/dev\/zero` and `sh -c /);
  const took = Date.now() - started;
  assert.ok(took >= 400 && took < 3000, `took ${took} ms`);
  const reader = Number(readFileSync(pidFile, 'utf8'));
  rmSync(pidFile);
  // the stopped reader was killed, not left stopped
  assert.equal(alive(reader), false);
});

test('[time] a 1-byte-per-interval trickle slower than the sampling but within the limit: not killed, every byte counted', async () => {
  const r = new ExecRunner();
  const started = Date.now();
  const res = await r.pipe(
    ['sh', ['-c', 'i=0; while [ $i -lt 12 ]; do printf x; sleep 0.2; i=$((i+1)); done']],
    ['wc', ['-c']],
    { stallMs: 700 },
  );
  assert.equal(res.bytes, 12);
  assert.equal(res.output?.trim(), '12');
  // the whole stream took far longer than the limit: only silence counts
  assert.ok(Date.now() - started > 2000);
});

test('[time] a trickle through a transform (a restore from a server): not killed; a writer gone quiet behind it is', async () => {
  const r = new ExecRunner();
  const res = await r.pipe(
    ['sh', ['-c', 'i=0; while [ $i -lt 8 ]; do printf ab; sleep 0.2; i=$((i+1)); done']],
    ['wc', ['-c']],
    { stallMs: 700, through: new PassThrough() },
  );
  assert.equal(res.bytes, 16);
  const started = Date.now();
  await assert.rejects(
    r.pipe(['sh', ['-c', 'printf abc; exec sleep 30']], ['cat', []], { stallMs: 500, through: new PassThrough() }),
    (e: unknown) => e instanceof StalledError && /no data moved for 500 ms/.test(e.message),
  );
  assert.ok(Date.now() - started < 3000);
});

test('[programs we run] a stall after the last byte: the reader read everything and does not end: killed within three times the limit', async () => {
  const r = new ExecRunner();
  const started = Date.now();
  await assert.rejects(
    r.pipe(['head', ['-c', '10', '/dev/zero']], ['sh', ['-c', 'cat >/dev/null; kill -STOP $$']], { stallMs: 300 }),
    (e: unknown) =>
      e instanceof StalledError &&
      /^`sh -c .*` did not end within 900 ms \(3 × stall_timeout\) after the last byte of `head/.test(e.message),
  );
  const took = Date.now() - started;
  assert.ok(took >= 900 && took < 3000, `took ${took} ms`);
});

test('[signals and power] interrupted (SIGTERM) while the receive is stopped: the interrupt is the error, the watchdog ends the stopped end at once', async () => {
  const r = new ExecRunner();
  const stop = new AbortController();
  const started = Date.now();
  // the interrupt's SIGTERM waits while a process is stopped (its SIGKILL comes 2 s later); the watchdog fires in the same moment
  setTimeout(() => stop.abort(new InterruptedError('SIGTERM')), 350);
  await assert.rejects(
    r.pipe(['cat', ['/dev/zero']], ['sh', ['-c', 'head -c 1000 >/dev/null; kill -STOP $$']], {
      stallMs: 400,
      signal: stop.signal,
    }),
    (e: unknown) => e instanceof InterruptedError && e.signal === 'SIGTERM',
  );
  assert.ok(Date.now() - started < 1900, `took ${Date.now() - started} ms`);
});

test('transfer hands the stall limit to the pipe (fake runner): the config reaches every send | receive', async () => {
  const fake = new FakeRunner();
  let seen: number | undefined;
  const pipe = fake.pipe.bind(fake);
  fake.pipe = (from, to, options) => {
    seen = options?.stallMs;
    return pipe(from, to, options);
  };
  fake.on([btrfs.send('/snap/s1'), btrfs.receive('/t')]);
  // what follows the pipe (the received copy's proof) is not this test's: it fails on the fake
  await transfer(fake, { snapshot: '/snap/s1', targetDir: '/t', stallMs: 123_000 }).catch(() => {});
  assert.equal(seen, 123_000);
});

test('[time] the clock set forward an hour (or a suspend) mid-stream: no stall; the watchdog counts on the monotonic clock', async () => {
  const r = new ExecRunner();
  const realNow = Date.now;
  const jump = setTimeout(() => (Date.now = () => realNow() + 3_600_000), 300);
  try {
    const res = await r.pipe(
      ['sh', ['-c', 'i=0; while [ $i -lt 5 ]; do printf x; sleep 0.3; i=$((i+1)); done']],
      ['wc', ['-c']],
      { stallMs: 60_000 },
    );
    assert.equal(res.bytes, 5);
  } finally {
    clearTimeout(jump);
    Date.now = realNow;
  }
});

test('stall_timeout: "10m", "90s", "24h" in ms, "off" no limit; 0, a sign, a space, over 24h, a number refused by the schema', () => {
  assert.equal(parseStallTimeout('10m'), 600_000);
  assert.equal(parseStallTimeout('90s'), 90_000);
  assert.equal(parseStallTimeout('24h'), 86_400_000);
  assert.equal(parseStallTimeout('off'), undefined);
  for (const ok of ['1s', '10m', '24h', '1440m', 'off'])
    assert.equal(backupSchema.safeParse({ stall_timeout: ok }).success, true, ok);
  for (const bad of ['0', '0s', '-5m', '+5m', '5 m', '5', '5d', '25h', '1441m', '86401s', 'abc', 'OFF', '', 600])
    assert.equal(backupSchema.safeParse({ stall_timeout: bad }).success, false, String(bad));
});
