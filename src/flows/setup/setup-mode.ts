import { realpath } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { TargetConfig } from '../../config/config.js';
import { FULL_STACK, type LayerName } from '../../config/defaults.js';
import type { BlockDevice, DiskAssessment } from '../../core/eligibility.js';
import { layerHandlers } from '../../stack/layers.js';
import { raidLayer } from '../../stack/raid.js';
import type { Runner } from '../../system/runner.js';
import { existingBackupMember, type SetupState, type Survey } from './disk-survey.js';
import { opensExisting } from './existing-disk.js';
import { findHostVolume, type HostVolume } from './existing-volume.js';
import type { SetupMode } from './setup-plan.js';

// Which setup this is, decided from the disk before anything is written.

export interface StackNames {
  array: string;
  luksName: string;
  volumeGroup: string;
  tokenName: string;
}

export interface ModeDecision {
  mode: SetupMode;
  /** a member of an existing backup array on the disk (whether or not the passphrase opened it) */
  found?: BlockDevice;
  /** it, when the passphrase opened it: the disk is joined, never wiped */
  member?: BlockDevice;
  /** reconnect: what this host's volume holds */
  existing?: HostVolume;
  /** asked when the disk carried a backup array */
  passphrase?: string;
  /** the disk carries something that a new setup must destroy (after asking) */
  needsWipe: boolean;
}

/**
 * A resumed setup keeps its mode. Only the whole stack (raid, luks, lvm) can take a
 * second host or reconnect one; for other layers a backup array found is wiped. A disk with a backup array is joined only if the
 * passphrase opens it (otherwise it is someone else's old disk, and only a wipe may
 * reuse it); joined, it is a rebuilt host's if its volume group already holds a
 * volume named for this host (a dry-run cannot look: it opens nothing).
 */
export async function decideMode(
  runner: Runner,
  input: {
    survey: Survey;
    disk: DiskAssessment;
    host: string;
    layers: readonly LayerName[];
    names: StackNames;
    resumed?: SetupState;
    askPassphrase(): Promise<string>;
  },
): Promise<ModeDecision> {
  const { disk, names, resumed } = input;
  if (resumed) return { mode: resumed.mode, needsWipe: false };
  const found = await existingBackupMember(runner, input.survey, disk, basename(names.array));
  if (!found) return { mode: 'new-disk', needsWipe: disk.signatures.length > 0 };
  // only the whole stack has a volume per host on a shared array: any other is made anew
  if (!FULL_STACK.every((l) => input.layers.includes(l)))
    return { mode: 'new-disk', found, needsWipe: disk.signatures.length > 0 };
  const passphrase = await input.askPassphrase();
  if (!(await opensExisting(runner, names.array, found.path, passphrase)))
    return { mode: 'new-disk', found, passphrase, needsWipe: disk.signatures.length > 0 };
  // looking needs the volume opened and mounted, which a dry-run does not do
  const existing = runner.changesTakeEffect
    ? await findHostVolume(runner, { ...names, host: input.host }, passphrase)
    : undefined;
  return existing
    ? { mode: 'reconnect', found, member: found, existing, passphrase, needsWipe: false }
    : { mode: 'second-host', found, member: found, passphrase, needsWipe: false };
}

/**
 * Which configured backup disk of this host the chosen disk is already, if any: its
 * partition is a target's partition (by its label's link), or it carries a member of a
 * target's array (by the array's name in the superblock). Reads only.
 */
export async function configuredTargetOn(
  runner: Runner,
  survey: Survey,
  disk: DiskAssessment,
  targets: readonly (Pick<TargetConfig, 'array' | 'partition' | 'layers'> & { name: string })[],
): Promise<string | undefined> {
  const parts = (survey.devices.find((d) => d.path === disk.path)?.children ?? []).filter((c) => c.type === 'part');
  for (const t of targets) {
    // a by-partlabel link: the label names the partition, whether or not udev made the link yet
    const label = basename(dirname(t.partition)) === 'by-partlabel' ? basename(t.partition) : undefined;
    const real = await realpath(t.partition).catch(() => undefined);
    if (parts.some((p) => p.path === real || (label !== undefined && p.partlabel === label))) return t.name;
    if (
      layerHandlers(t.layers).includes(raidLayer) &&
      (await existingBackupMember(runner, survey, disk, basename(t.array)))
    )
      return t.name;
  }
  return undefined;
}
