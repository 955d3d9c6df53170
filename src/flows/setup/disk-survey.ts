import type { LayerName } from '../../config/defaults.js';
import { readFile, realpath } from 'node:fs/promises';
import { assessDisks, type AssessContext, type BlockDevice, type DiskAssessment } from '../../core/eligibility.js';
import { UserError } from '../../core/errors.js';
import { findMount } from '../../core/mountinfo.js';
import { byIdNames, blockDevices } from '../../system/inventory.js';
import { readMounts } from '../../system/mounts.js';
import type { Runner } from '../../system/runner.js';
import { raidCommands } from '../../stack/raid.js';
import { mappingName } from '../../stack/lvm.js';
import type { SetupMode } from './setup-plan.js';

export const MIN_DISK_BYTES = 1024 ** 3;

export interface Survey {
  devices: BlockDevice[];
  disks: DiskAssessment[];
}

/** Every block device, assessed: what is on it, and why it may not be used. */
export async function surveyDisks(runner: Runner, configDir: string, ours?: AssessContext['ours']): Promise<Survey> {
  const [devices, byId, mounts] = await Promise.all([blockDevices(runner), byIdNames(), readMounts()]);
  const configMount = findMount(mounts, configDir)?.mountPoint;
  const protectedMounts = ['/', '/boot', '/boot/efi', ...(configMount ? [configMount] : [])];
  return { devices, disks: assessDisks(devices, { minBytes: MIN_DISK_BYTES, protectedMounts, byId, ours }) };
}

export async function findDisk(survey: Survey, wanted: string): Promise<DiskAssessment> {
  let dev: string;
  try {
    dev = await realpath(wanted);
  } catch {
    throw new UserError(`${wanted} does not exist`, 'pick a disk from: lsblk -d -o PATH,MODEL,SERIAL,SIZE');
  }
  const disk = survey.disks.find((d) => d.path === dev);
  if (!disk)
    throw new UserError(
      `${wanted} (${dev}) is not a whole disk`,
      'give the disk itself (e.g. /dev/sdb or its /dev/disk/by-id name), not a partition',
    );
  return disk;
}

/** The devices lsblk shows for this host's stack, so they do not count against its own disk. */
export async function ownStackDevices(
  array: string,
  luksName: string,
  volumeGroup: string,
  host: string,
  mountpoint: string,
): Promise<NonNullable<AssessContext['ours']>> {
  const md = await realpath(array).catch(() => array);
  return {
    devices: [md, `/dev/mapper/${luksName}`, `/dev/mapper/${mappingName(volumeGroup, host)}`],
    mounts: [mountpoint],
  };
}

/** A partition of this disk that is a member of an existing `backup` array (a second host joins it). */
export async function existingBackupMember(
  runner: Runner,
  survey: Survey,
  disk: DiskAssessment,
  arrayName: string,
): Promise<BlockDevice | undefined> {
  const dev = survey.devices.find((d) => d.path === disk.path);
  for (const p of dev?.children ?? []) {
    if (p.type !== 'part' || p.fstype !== 'linux_raid_member') continue;
    const r = await runner.query(raidCommands.examine(p.path), { allowFailure: true });
    const name = /^\s*Name : (\S+)/m.exec(r.stdout)?.[1];
    if (name && name.split(':').at(-1) === arrayName) return p;
  }
  return undefined;
}

export async function readState(file: string): Promise<SetupState | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as SetupState;
  } catch {
    return undefined;
  }
}

export interface SetupState {
  disk: string;
  serial: string;
  label: string;
  host: string;
  mode: SetupMode;
  /** the layers being made (absent in a state file from before plain disks: the whole stack) */
  layers?: LayerName[];
  /** rotation: the name of the new disk's [targets.<name>] table (absent: the host's first disk) */
  target?: string;
  done: string[];
}
