import { test, before, after } from 'node:test';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { assertScenarios, bootVm, makeDisk, requireVmTools } from './harness.js';
import { requireRoot } from '../support/loop-disk.js';
import { tempDir } from '../support/scratch.js';

// Unattended operation as on a real host: systemd is PID 1 of the VM (a boot of its
// own), so the timer, the udev rule and the services run as they will for a user.

let dir: string;

before(() => {
  requireRoot();
  requireVmTools();
  dir = tempDir('vm');
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('vm, systemd as PID 1: the timer backs up; plugging both mirrors in starts one backup that closes the disk; pulling it out idle leaves nothing', async () => {
  const share = join(dir, 'share');
  mkdirSync(share);
  const disks = ['bv-a', 'bv-b', 'bv-src'].map((s) => makeDisk(dir, s));
  const run = await bootVm({ dir, share, disks, script: 'unattended', init: 'systemd', timeoutMs: 500_000 });
  process.stdout.write(`# vm: the systemd boot took ${run.seconds.toFixed(1)} s\n`);
  assertScenarios(run, 4);
});
