import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { assertScenarios, bootVm, makeDisk, requireVmTools, type VmDisk, type VmRun } from './harness.js';
import { requireRoot } from '../support/loop-disk.js';
import { tempDir } from '../support/scratch.js';

// The VM fault suite: disks pulled out while a backup streams (guest/faults.ts) and
// power cuts during setup (guest/power-cut.ts). Each injected fault counts as
// survived only when everything checked after it passed; the totals are printed last.

let dir: string;
const faults: { name: string; survived: boolean }[] = [];

before(() => {
  requireRoot();
  requireVmTools();
  dir = tempDir('vm');
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`# vm faults: injected ${faults.length}, survived ${faults.filter((f) => f.survived).length}\n`);
});

async function boot(script: string, share: string, disks: VmDisk[], args: string[]): Promise<VmRun> {
  const run = await bootVm({ dir, share, disks, script, args, timeoutMs: 400_000 });
  process.stdout.write(
    `# vm: ${script} ${args.join(' ')}: ${run.seconds.toFixed(1)} s${run.requests.length ? `; host: ${run.requests.join('; ')}` : ''}\n`,
  );
  return run;
}

function scenarioOk(run: VmRun, index: number): boolean {
  const result = run.result as { scenarios: { ok: boolean }[] } | undefined;
  return result?.scenarios[index]?.ok === true;
}

test('[signals and power] vm faults: a mirror member and then the whole backup disk pulled out mid-transfer, and put back', async () => {
  const share = join(dir, 'share-unplug');
  mkdirSync(share);
  const run = await boot(
    'faults',
    share,
    [makeDisk(dir, 'bv-m1', 512), makeDisk(dir, 'bv-m2', 512), makeDisk(dir, 'bv-src')],
    ['unplug'],
  );
  faults.push({ name: 'mirror member pulled out mid-backup', survived: scenarioOk(run, 0) });
  faults.push({ name: 'backup disk pulled out mid-transfer', survived: scenarioOk(run, 1) && scenarioOk(run, 2) });
  assertScenarios(run, 3);
});

// The cut points: after each step that makes something a resume could make a second
// time, where the resume after the reboot has to bring the layers up by itself: the
// array (found inactive), the LUKS header and the keyfile's slot (the keyfile must
// have survived), the volume group, the token (the mount point gone with the reboot;
// the filesystem and the fstab line made before it are checked by the same resume).
// The partition is made and recorded before the first cut; every resume passes it.
// Five boots, not one per step: the VM tier must stay within npm test's 20 minutes.
const CUTS = ['raid', 'luks-format', 'keyfile', 'volume-group', 'token'];

test('[signals and power] vm faults: the power cut after each of several setup steps in turn; setup resumes, nothing exists twice', async () => {
  const share = join(dir, 'share-power');
  mkdirSync(share);
  const disks = [makeDisk(dir, 'bv-cut'), makeDisk(dir, 'bv-sys', 64)];
  const context = (run: VmRun) =>
    `\n--- result ---\n${JSON.stringify(run.result, null, 1)?.slice(-3000)}\n--- guest log ---\n${run.guestLog.slice(-4000)}\n--- console ---\n${run.console.slice(-2000)}`;
  const cut: string[] = [];
  try {
    for (const step of CUTS) {
      const run = await boot('power-cut', share, disks, ['cut', step]);
      assert.equal(
        run.powerCut,
        `after ${step}`,
        `setup got to ${step} (resuming after: ${cut.join(', ') || 'nothing'})${context(run)}`,
      );
      cut.push(step);
    }
    const run = await boot('power-cut', share, disks, ['finish']);
    assertScenarios(run, 2);
    for (const step of cut) faults.push({ name: `power cut after ${step}`, survived: true });
  } catch (err) {
    // the cuts so far were injected; none counts as survived without the final check
    for (const step of cut) faults.push({ name: `power cut after ${step}`, survived: false });
    throw err;
  }
});
