import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { luksLayer } from '../../src/stack/luks.js';
import { FakeRunner } from '../support/fake-runner.js';
import type { StackContext } from '../../src/stack/layer.js';
import { TargetError, UserError } from '../../src/core/errors.js';
import { scratchDir } from '../support/scratch.js';

function ctx(keyfile: string, runner = new FakeRunner()): StackContext {
  return {
    runner,
    mounts: async () => [],
    config: {
      target: { layers: ['luks'], luksName: 'bv-unit-test-none', keyfile, partition: keyfile, array: '/dev/md/none' },
    },
  } as unknown as StackContext;
}

// npm test runs as root (the keyfile must be root's), so these run as root too
test('a keyfile readable by others is refused before cryptsetup runs, with the chmod', async () => {
  const dir = scratchDir('key');
  const key = join(dir, 'key');
  writeFileSync(key, 'k');
  chmodSync(key, 0o644);
  const runner = new FakeRunner(); // any command would throw
  const err = await luksLayer.open(ctx(key, runner)).catch((e) => e);
  assert.ok(err instanceof UserError, String(err));
  assert.match(err.fix!, /chmod 600/);
  assert.deepEqual(runner.calls, []);
});

test('a keyfile that does not open the disk is a target error that says so', async () => {
  const dir = scratchDir('key');
  const key = join(dir, 'key');
  writeFileSync(key, 'k', { mode: 0o600 });
  chmodSync(key, 0o600);
  const runner = new FakeRunner().on(
    ['cryptsetup', ['open', '--type', 'luks', '--key-file', key, '--', key, 'bv-unit-test-none']],
    {
      exitCode: 2,
      stderr: 'No key available with this passphrase.',
    },
  );
  const err = await luksLayer.open(ctx(key, runner)).catch((e) => e);
  assert.ok(err instanceof TargetError, String(err));
  assert.match(err.message, /does not open/);
});
