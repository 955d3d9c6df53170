import { test, before, after } from 'node:test';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { assertScenarios, bootVm, makeDisk, requireVmTools, type VmDisk, type VmRun } from './harness.js';
import { requireRoot } from '../support/loop-disk.js';
import { tempDir } from '../support/scratch.js';

// The whole disk stack in a throw-away VM (this machine's kernel has no md and no
// device-mapper). Two boots share disk images: the second is a reboot after an "unplug".

let dir: string;
let disks: Record<string, VmDisk>;
let share: string;

before(() => {
  requireRoot();
  requireVmTools();
  dir = tempDir('vm');
  share = join(dir, 'share');
  mkdirSync(share);
  disks = {
    a: makeDisk(dir, 'bv-a'),
    src: makeDisk(dir, 'bv-src'),
    f: makeDisk(dir, 'bv-f'),
    r: makeDisk(dir, 'bv-r', 512),
  };
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function boot(phase: string, ds: VmDisk[]): Promise<VmRun> {
  const run = await bootVm({ dir, share, disks: ds, script: 'stack', args: [phase], timeoutMs: 400_000 });
  process.stdout.write(`# vm: boot ${phase} took ${run.seconds.toFixed(1)} s\n`);
  return run;
}

test('vm stack, first boot: create the stack, open/backup/close round trip, idempotent open and close, dry-run on the closed stack, busy mount', async () => {
  assertScenarios(await boot('first-boot', [disks.a!, disks.src!]), 5);
});

test('vm stack, after a reboot, open assembles the degraded array and backups continue; restore through the whole stack closes it again; the on-plug udev rule matches; a foreign disk with the same layout in its place is refused and closed again', async () => {
  assertScenarios(await boot('after-reboot', [disks.a!, disks.src!, disks.r!, disks.f!]), 4);
});
