import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeDeadStaging, stagingDir } from '../../src/flows/serve/staging.js';
import { FakeRunner } from '../support/fake-runner.js';
import { scratchDir } from '../support/scratch.js';

test("[signals and power] serve's staging folders: a dead serve's and one under this very pid (a reused pid) are removed, a live one's is kept", async () => {
  const root = scratchDir('serve-staging');
  const dead = join(root, '.incoming', 'a.999999999');
  const mine = stagingDir(root, 'b');
  const live = join(root, '.incoming', `c.${process.ppid}`);
  const other = join(root, '.incoming', 'received');
  for (const d of [dead, mine, live, other]) mkdirSync(d, { recursive: true });
  const runner = new FakeRunner();
  for (const d of [dead, mine]) runner.on(['rmdir', ['--', d]]);
  const removed = await removeDeadStaging(runner, root);
  assert.deepEqual(removed.sort(), ['a.999999999', `b.${process.pid}`]);
  assert.deepEqual(runner.changes.sort(), [`rmdir -- ${dead}`, `rmdir -- ${mine}`].sort());
});
