import { test, before, after } from 'node:test';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { assertScenarios, bootVm, makeDisk, requireVmTools, type VmRun } from './harness.js';
import { requireRoot } from '../support/loop-disk.js';
import { tempDir } from '../support/scratch.js';

// setup and add-mirror, unattended and in a terminal, on fresh virtual disks: one boot per
// group of situations; a scenario that must not see another's state has disks of its own.

let dir: string;

before(() => {
  requireRoot();
  requireVmTools();
  dir = tempDir('vm');
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function boot(phase: string, serials: string[]): Promise<VmRun> {
  const share = join(dir, `share-${phase}`);
  mkdirSync(share);
  return bootVm({
    dir,
    share,
    disks: serials.map((s) => makeDisk(dir, s)),
    script: 'setup',
    args: [phase],
    // a guard against a hung boot, with room for a machine busy with other work (these boots take ~4 min alone)
    timeoutMs: 900_000,
  });
}

test('vm setup: refuses a mounted disk, a wrong confirmation, a foreign mount point; unattended setup; dry-run for a second host; second host; add-mirror to [UU]; a failed member replaced; a rebuilt host reconnects with only the passphrase and restores (bare metal)', async () => {
  assertScenarios(await boot('unattended', ['bv-n', 'bv-m', 'bv-src', 'bv-x', 'bv-t']), 10);
});

test("vm setup: the interactive wizard in a real terminal, a refusal and the happy path; a plain btrfs disk, one with LUKS alone, a mirror without LVM (refused first: the name is the whole stack's), each with a backup; a disk with leftovers of an earlier stack is wiped properly; a setup killed half-way is resumed; without an ARRAY line, of several backup arrays only the configured partition's is opened", async () => {
  assertScenarios(await boot('wizard-and-other-disks', ['bv-p', 'bv-src', 'bv-q', 'bv-u', 'bv-w', 'bv-o', 'bv-r']), 8);
});

test('vm setup: rotation: a second whole stack (RAID1 + LUKS + LVM) for the same host under names of its own that never clash (md, LUKS, VG, mount, fstab, mdadm.conf); both open at once and each alone, each backed up; a udev rule per disk giving its partition its own plug service alone', async () => {
  assertScenarios(await boot('rotation', ['bv-src', 'bv-y', 'bv-z']), 3);
});
