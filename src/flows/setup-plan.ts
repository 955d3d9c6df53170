import { escapeFstabField } from '../core/fstab.js';
import { mountCommands } from '../stack/filesystem.js';
import { luksCommands, SETUP_PBKDF, type PbkdfOptions } from '../stack/luks.js';
import { lvmCommands } from '../stack/lvm.js';
import { partitionCommands } from '../stack/partition.js';
import { raidCommands } from '../stack/raid.js';
import type { Argv } from '../system/runner.js';
import type { HostVolume } from './existing-volume.js';

// The setup plan: which steps, with exactly which commands. Pure, so the summary, the
// dry-run and the tests all see the same plan that the task list then carries out.

/**
 * new-disk: the whole stack; second-host: this host's volume on an existing disk;
 * reconnect: the disk already holds this host's volume (the machine was rebuilt):
 * nothing on the disk is made, only a keyslot for the new keyfile is added.
 */
export type SetupMode = 'new-disk' | 'second-host' | 'reconnect';

export interface SetupSpec {
  mode: SetupMode;
  /** the whole disk, e.g. /dev/sdb */
  disk: string;
  /** how the user knows it: its by-id name when there is one */
  diskName: string;
  /** the GPT partition label, unique per disk: backup-<serial tail> */
  label: string;
  /** old signatures to destroy, partitions first (empty: nothing to wipe) */
  wipe: string[];
  /** size of the disk in bytes, for clearing its last MiBs */
  diskBytes: number;
  /** an old array on this disk is running (udev assembled it): stop it before wiping */
  stopArray?: boolean;
  host: string;
  size: string;
  mountpoint: string;
  compression: 'zstd' | 'lzo' | 'zlib' | 'none';
  array: string;
  luksName: string;
  keyfile: string;
  volumeGroup: string;
  configFile: string;
  tokenFile: string;
  tokenHashFile: string;
  pbkdf?: PbkdfOptions;
  /** reconnect: what the host's volume holds, as found before anything was written */
  existing?: HostVolume;
}

export type StepId =
  | 'wipe' | 'partition' | 'raid' | 'assemble' | 'mdadm-conf' | 'luks-format' | 'keyfile' | 'luks-open'
  | 'volume-group' | 'logical-volume' | 'activate' | 'mkfs' | 'fstab' | 'mount' | 'token' | 'config' | 'close';

export interface PlanStep {
  id: StepId;
  title: string;
  /** the exact commands (what a dry-run prints); file writes are described in `writes` */
  commands: Argv[];
  writes?: string[];
}

const WIPE_MIB = 16;

export function partitionPath(label: string): string {
  return `/dev/disk/by-partlabel/${label}`;
}

export function labelFor(serial: string, byId: string | undefined, path: string): string {
  const raw = serial || byId?.split('/').at(-1) || path.split('/').at(-1)!;
  const tail = raw.toLowerCase().replace(/[^a-z0-9]/g, '').slice(-8) || 'disk';
  return `backup-${tail}`;
}

export function logicalVolumeDevice(spec: Pick<SetupSpec, 'volumeGroup' | 'host'>): string {
  return `/dev/${spec.volumeGroup}/${spec.host}`;
}

export function fstabLine(spec: SetupSpec): string {
  const opts = ['noauto', ...(spec.compression === 'none' ? [] : [`compress=${spec.compression}`])].join(',');
  return `${logicalVolumeDevice(spec)} ${escapeFstabField(spec.mountpoint)} btrfs ${opts} 0 0`;
}

/** Clears every old layer: each signature wipefs knows, md superblocks, and both ends of the disk. */
export function wipeCommands(spec: Pick<SetupSpec, 'disk' | 'wipe' | 'diskBytes'>): Argv[] {
  const parts = spec.wipe.filter((d) => d !== spec.disk);
  const lastMiB = Math.floor(spec.diskBytes / 1024 / 1024) - WIPE_MIB;
  return [
    ...parts.flatMap((p): Argv[] => [['mdadm', ['--zero-superblock', '--force', p]], ['wipefs', ['--all', '--force', p]]]),
    ['wipefs', ['--all', '--force', spec.disk]],
    ['dd', ['if=/dev/zero', `of=${spec.disk}`, 'bs=1M', `count=${WIPE_MIB}`, 'conv=fsync', 'status=none']],
    // btrfs keeps a second superblock 64 MiB into its device (disk or first partition)
    ['dd', ['if=/dev/zero', `of=${spec.disk}`, 'bs=1M', 'count=2', 'seek=64', 'conv=fsync', 'status=none']],
    // GPT's backup table and an md 0.90/1.0 superblock live at the end
    ['dd', ['if=/dev/zero', `of=${spec.disk}`, 'bs=1M', `count=${WIPE_MIB}`, `seek=${Math.max(lastMiB, 0)}`, 'conv=fsync', 'status=none']],
    ['sgdisk', ['--zap-all', spec.disk]],
  ];
}

export function planSetup(spec: SetupSpec): PlanStep[] {
  const part = partitionPath(spec.label);
  const lv = logicalVolumeDevice(spec);
  const pbkdf = spec.pbkdf ?? SETUP_PBKDF;
  const steps: PlanStep[] = [];
  if (spec.mode === 'new-disk') {
    if (spec.wipe.length > 0) {
      steps.push({
        id: 'wipe',
        title: `Wipe the old signatures on ${spec.diskName}`,
        commands: [...(spec.stopArray ? [raidCommands.stop(spec.array)] : []), ...wipeCommands(spec)],
      });
    }
    steps.push(
      {
        id: 'partition',
        title: `Partition ${spec.diskName}: one GPT partition "${spec.label}"`,
        commands: [partitionCommands.zap(spec.disk), partitionCommands.create(spec.disk, spec.label), partitionCommands.reread(spec.disk), partitionCommands.settle()],
      },
      { id: 'raid', title: `Create the RAID1 mirror ${spec.array} (degraded until add-mirror)`, commands: [raidCommands.create({ array: spec.array, partition: part })] },
    );
  } else {
    steps.push({ id: 'assemble', title: `Assemble ${spec.array}`, commands: [raidCommands.assembleByDevice(spec.array, part)] });
  }
  steps.push({
    id: 'mdadm-conf',
    title: 'Record the array in /etc/mdadm/mdadm.conf',
    commands: [raidCommands.detailBrief(spec.array)],
    writes: ['/etc/mdadm/mdadm.conf: the ARRAY line, added once'],
  });
  if (spec.mode === 'new-disk') {
    steps.push({ id: 'luks-format', title: `Encrypt ${spec.array} with LUKS2 (the passphrase is the first key)`, commands: [luksCommands.format(spec.array, pbkdf)] });
  }
  steps.push(
    {
      id: 'keyfile',
      title: `Add a random keyfile ${spec.keyfile} as a second key`,
      commands: [luksCommands.addKeyfile(spec.array, spec.keyfile, pbkdf)],
      writes: [`${spec.keyfile}: 1 KiB random, mode 0600`],
    },
    { id: 'luks-open', title: `Open LUKS as ${spec.luksName}`, commands: [luksCommands.open(spec.array, spec.luksName, spec.keyfile)] },
  );
  if (spec.mode === 'new-disk') {
    const mapped = `/dev/mapper/${spec.luksName}`;
    steps.push({ id: 'volume-group', title: `Create the LVM volume group ${spec.volumeGroup}`, commands: [lvmCommands.pvcreate(mapped), lvmCommands.vgcreate(spec.volumeGroup, mapped)] });
  }
  if (spec.mode === 'reconnect') {
    steps.push({ id: 'activate', title: `Activate this host's existing volume ${spec.volumeGroup}/${spec.host}`, commands: [lvmCommands.activate(spec.volumeGroup, spec.host)] });
  } else {
    steps.push(
      { id: 'logical-volume', title: `Create the logical volume ${spec.volumeGroup}/${spec.host} (${spec.size === 'all' ? 'all free space' : spec.size})`, commands: [lvmCommands.lvcreate(spec.volumeGroup, spec.host, spec.size)] },
      { id: 'mkfs', title: `Make the btrfs filesystem on ${lv}`, commands: [mountCommands.mkfs(lv, `backup-${spec.host}`)] },
    );
  }
  steps.push(
    { id: 'fstab', title: `Add ${spec.mountpoint} to /etc/fstab (noauto)`, commands: [], writes: [`/etc/fstab: ${fstabLine(spec)}`] },
    { id: 'mount', title: `Mount it at ${spec.mountpoint}`, commands: [mountCommands.mount(spec.mountpoint)] },
    spec.mode === 'reconnect'
      ? {
          id: 'token',
          title: 'Keep the SHA-512 of the token already on the volume (the passphrase proved the disk is yours)',
          commands: [],
          writes: [`${spec.tokenHashFile}: the sha512sum line of ${spec.tokenFile}, mode 0600 (the token itself is not changed)`],
        }
      : {
          id: 'token',
          title: 'Write the token and keep its SHA-512 on this host',
          commands: [],
          writes: [`${spec.tokenFile}: 64 random bytes`, `${spec.tokenHashFile}: its sha512sum line, mode 0600`],
        },
    { id: 'config', title: `Write the config ${spec.configFile}`, commands: [], writes: [`${spec.configFile} (kept if it exists)`] },
  );
  return steps;
}
