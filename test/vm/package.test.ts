import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { assertScenarios, bootVm, makeDisk, requireVmTools } from './harness.js';
import { requireRoot } from '../support/loop-disk.js';
import { tempDir } from '../support/scratch.js';

// The Debian package, built as `npm run package` builds it (after the build this test
// runs on), checked by lintian here and installed, used and removed in a VM: the VM's
// root is the machine's under a RAM overlay, so dpkg -i there changes nothing here.

let dir: string;
let share: string;
const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

before(() => {
  requireRoot();
  requireVmTools();
  dir = tempDir('vm');
  share = join(dir, 'share');
  mkdirSync(share);
  execFileSync('node', ['scripts/deb.mjs', share], { stdio: ['ignore', 'ignore', 'inherit'] });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('the .deb: lintian finds no error and no warning', () => {
  const deb = join(share, `btrfs-vault_${version}_all.deb`);
  const r = spawnSync('lintian', ['--fail-on', 'error,warning', deb], { encoding: 'utf8' });
  assert.equal(r.error, undefined, 'lintian is missing: scripts/deps.sh installs it');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /^[EW]: /m);
});

test('vm, the .deb: dpkg -i; --version, man btrfs-vault, Tab through a restore, a backup, all by the installed program; dpkg -r leaves none of its files', async () => {
  const disks = [makeDisk(dir, 'bv-src', 256), makeDisk(dir, 'bv-dst', 256)];
  const run = await bootVm({ dir, share, disks, script: 'package', timeoutMs: 300_000 });
  process.stdout.write(`# vm: the package boot took ${run.seconds.toFixed(1)} s\n`);
  assertScenarios(run, 4);
});
