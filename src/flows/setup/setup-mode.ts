import { realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { NamedTargetConfig, TargetConfig } from '../../config/config.js';
import { UserError } from '../../core/errors.js';
import {
  FULL_STACK,
  namedTargetDefaults,
  SINGLE_TARGET_NAME,
  targetNameFor,
  type LayerName,
} from '../../config/defaults.js';
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

/**
 * Rotation: the name of the new disk's [targets.<name>] table, or undefined for the
 * setup of a host's first disk (or of a disk joined or wiped as before). Offered only
 * where the config has a backup disk; a disk that is one of them already is refused.
 */
export async function decideRotation(
  runner: Runner,
  o: {
    survey: Survey;
    disk: DiskAssessment;
    configured: readonly NamedTargetConfig[];
    resumed: SetupState | undefined;
    configFile: string;
    /** is this disk another backup disk of this host? (asked only where the config has one) */
    askRotation(existing: readonly string[]): Promise<boolean>;
    /** the name given for it, else one derived from its serial */
    targetName?: string;
  },
): Promise<string | undefined> {
  const { disk, configured } = o;
  if (o.resumed) return o.resumed.target;
  const taken = configured.map((t) => t.name);
  if (taken.length === 0 || !(await o.askRotation(taken))) return undefined;
  const already = await configuredTargetOn(runner, o.survey, disk, configured);
  if (already !== undefined) {
    // (a config of one [targets.backup] table is rare enough to be named as [target])
    const table = already === SINGLE_TARGET_NAME ? '[target]' : `[targets.${already}]`;
    throw new UserError(
      `${disk.byId ?? disk.path} is this host's backup disk "${already}" already (${table} in ${o.configFile}); nothing was changed`,
      `plug in the disk that is to be another backup disk, and run setup again; to make this one anew, take its ${table} table out of the config first`,
    );
  }
  if (o.targetName !== undefined && taken.includes(o.targetName))
    throw new UserError(
      `the config has a backup disk named "${o.targetName}" already; nothing was changed`,
      `give the new disk another target_name, or leave it out to derive one from the serial (${targetNameFor(disk, taken)})`,
    );
  const name = o.targetName ?? targetNameFor(disk, taken);
  const shared = sharedName(name, configured, dirname(o.configFile));
  if (shared)
    throw new UserError(
      `the new backup disk "${name}" would share ${shared}; nothing was changed`,
      'give the new disk a name of its own: target_name in the answers (the wizard derives it from the serial)',
    );
  return name;
}

/**
 * A name a configured disk has already, among those the new disk's name gives it (a
 * table written by hand may name its array `backup-<name>` of another disk): two disks
 * attached at once must not share one, and the loader would refuse the config.
 */
function sharedName(name: string, configured: readonly NamedTargetConfig[], configDir: string): string | undefined {
  const n = namedTargetDefaults(name);
  const mine: [string, string, (t: NamedTargetConfig) => string][] = [
    ['its array', n.array, (t) => t.array],
    ['its LUKS name', n.luks_name, (t) => t.luksName],
    ['its volume group', n.volume_group, (t) => t.volumeGroup],
    ['its mount point', n.mountpoint, (t) => t.mountpoint],
    ['its partition', n.partition, (t) => t.partition],
    ['its keyfile', join(configDir, n.keyfile), (t) => t.keyfile],
    ['its token hash file', join(configDir, n.token_sha512), (t) => t.tokenHashFile],
  ];
  for (const t of configured)
    for (const [what, value, of] of mine)
      if (of(t) === value) return `${what} ${value} with the backup disk "${t.name}"`;
  return undefined;
}
