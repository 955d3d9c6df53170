import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeArgv } from '../../src/cli/argv.js';
import { DryRunRunner } from '../../src/system/dry-run-runner.js';
import { FakeRunner } from '../support/fake-runner.js';
import { formatArgv } from '../../src/system/runner.js';
import { reportError } from '../../src/cli/exit.js';
import { CommandFailedError, TargetError } from '../../src/core/errors.js';

test("the original script's command lines", () => {
  assert.deepEqual(normalizeArgv(['/']), ['backup', '/']);
  assert.deepEqual(normalizeArgv(['-b', '/']), ['backup', '-b', '/']);
  assert.deepEqual(normalizeArgv(['-S']), ['backup', '-S']);
  assert.deepEqual(normalizeArgv([]), ['backup']);
  assert.deepEqual(normalizeArgv(['-o']), ['open']);
  assert.deepEqual(normalizeArgv(['--config', 'x.toml', '-c']), ['close', '--config', 'x.toml']);
  assert.deepEqual(normalizeArgv(['list', '--json']), ['list', '--json']);
  assert.deepEqual(normalizeArgv(['--config', 'list']), ['backup', '--config', 'list']);
  assert.deepEqual(normalizeArgv(['--help']), ['--help']);
});

test('commands are shell-quoted for display', () => {
  assert.equal(
    formatArgv(['btrfs', ['receive', '/media/my backup', "it's"]]),
    `btrfs receive '/media/my backup' 'it'\\''s'`,
  );
});

test('fake runner answers exact argv and throws on anything else', async () => {
  const r = new FakeRunner().on(['btrfs', ['subvolume', 'show', '/a']], { stdout: 'x' });
  assert.equal((await r.query(['btrfs', ['subvolume', 'show', '/a']])).stdout, 'x');
  await assert.rejects(r.query(['btrfs', ['subvolume', 'show', '/b']]), /unexpected command btrfs subvolume show \/b/);
  await assert.rejects(r.run(['rm', ['-rf', '/']]), /unexpected command/);
});

test('dry-run runs inspections, prints changes and runs none of them', async () => {
  const inner = new FakeRunner().on(['btrfs', ['subvolume', 'list', '/']], { stdout: 'list' });
  const lines: string[] = [];
  const dry = new DryRunRunner(inner, (l) => lines.push(l));
  assert.equal((await dry.query(['btrfs', ['subvolume', 'list', '/']])).stdout, 'list');
  await dry.run(['btrfs', ['subvolume', 'delete', '/x']]);
  await dry.pipe(['btrfs', ['send', '/s']], ['btrfs', ['receive', '/t']]);
  assert.deepEqual(lines, ['would run: btrfs subvolume delete /x', 'would run: btrfs send /s | btrfs receive /t']);
  assert.deepEqual(inner.calls, ['btrfs subvolume list /'], 'only the inspection reached the real runner');
});

test('errors: message, failing command with stderr, fix, exit code', () => {
  let out = '';
  const code = reportError(new CommandFailedError('btrfs receive /t', 1, 'ERROR: no space left'), {
    stderr: (t) => (out += t),
  });
  assert.equal(code, 1);
  assert.match(out, /command failed \(exit 1\): btrfs receive \/t\n {4}ERROR: no space left/);
  out = '';
  assert.equal(reportError(new TargetError('refused', 'attach the right disk'), { stderr: (t) => (out += t) }), 3);
  assert.match(out, /fix: attach the right disk/);
  assert.equal(reportError(new Error('boom'), { stderr: () => {} }), 70);
});
