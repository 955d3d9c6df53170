import { runScenarios, assertInVm, type Scenario } from './support.js';
import { layerSets } from './setup-layer-sets.js';
import { leftovers } from './setup-leftovers.js';
import { resume } from './setup-resume.js';
import { rotation } from './setup-rotation.js';
import { severalArrays } from './setup-several-arrays.js';
import { unattendedSetup } from './setup-unattended.js';
import { wizardSetup } from './setup-wizard.js';

// Setup and add-mirror on the VM's virtual disks: the phase (one boot) named on the
// command line runs its scenarios in order, each later one starting from what the
// earlier ones left (the disks of the boot, the host's files).

assertInVm();
// test-only fast keyslots (src/flows/setup/setup-test-hooks.ts); the production key derivation
// is checked where it is decided, in the printed plan. Not for the setup killed half-way:
// its kill has to land while argon2 is still making the first keyslot
process.env.BTRFS_VAULT_TEST_PBKDF2_ITERATIONS = '1000';

const phases: Record<string, Scenario[]> = {
  unattended: unattendedSetup,
  // the disks after the wizard's each on the host as the boot found it (freshHost)
  'wizard-and-other-disks': [...wizardSetup, ...layerSets, ...leftovers, ...resume, ...severalArrays],
  // a boot of its own: the one above is close to its time limit on a busy machine
  rotation,
};

const phase = process.argv[2];
if (!phases[phase!]) throw new Error(`unknown phase ${phase}`);
await runScenarios(phases[phase!]!);
