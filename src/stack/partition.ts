import { existsSync } from 'node:fs';
import type { VaultConfig } from '../config/config.js';
import { TargetError } from '../core/errors.js';
import type { Argv, Runner } from '../system/runner.js';
import { exists } from './devices.js';
import type { LayerHandler, LayerState, PlugTarget, StackContext, StepCommand, UdevMatch } from './layer.js';
import { partitionType } from './layers.js';
import { FILESYSTEM_TYPE, RAID_TYPE } from './partition-types.js';

export const PARTITION_LABEL = 'backup';

// One GPT partition over the whole disk, labelled for /dev/disk/by-partlabel.
export const partitionCommands = {
  zap: (disk: string): Argv => ['sgdisk', ['--zap-all', '--', disk]],
  create: (disk: string, label = PARTITION_LABEL, type = RAID_TYPE): Argv => [
    'sgdisk',
    ['--new=1:0:0', `--typecode=1:${type}`, `--change-name=1:${label}`, '--', disk],
  ],
  /** make the kernel re-read the table, then wait for udev's links */
  reread: (disk: string): Argv => ['partx', ['--update', '--', disk]],
  settle: (): Argv => ['udevadm', ['settle']],
};

export function partitionPath(label: string): string {
  return `/dev/disk/by-partlabel/${label}`;
}

/** The commands that give a disk its one labelled partition (setup, add-mirror). */
export function partitionDisk(disk: string, label: string, type = RAID_TYPE): StepCommand[] {
  return [
    { argv: partitionCommands.zap(disk) },
    { argv: partitionCommands.create(disk, label, type) },
    { argv: partitionCommands.reread(disk), mayFail: 'partx fails on a table the kernel has already' },
    { argv: partitionCommands.settle() },
  ];
}

/**
 * The bottom of the stack. A partition is there while its disk is attached: nothing
 * opens or closes it, and a missing one is a disk that is not plugged in.
 */
export const partitionLayer: LayerHandler = {
  name: 'partition',
  requires: [{ program: 'sgdisk', argv: ['sgdisk', ['--version']], pkg: 'gdisk', use: 'setup' }],

  create(ctx, o) {
    if (o.mode !== 'new-disk') return [];
    return [
      {
        id: 'partition',
        title: `Partition ${o.diskName}: one GPT partition "${o.label}"`,
        commands: partitionDisk(o.disk, o.label, partitionType(ctx.config.target) ?? FILESYSTEM_TYPE),
        appears: ctx.config.target.partition,
        done: async (c) => (await partitionLayer.inspect(c)).up,
      },
    ];
  },

  async inspect(ctx): Promise<LayerState> {
    const { partition } = ctx.config.target;
    const up = await exists(partition);
    return { up, detail: up ? `${partition} present` : `${partition} not found` };
  },

  async open(ctx) {
    const { partition } = ctx.config.target;
    if (await exists(partition)) return 'already-open';
    throw new TargetError(
      `the backup partition ${partition} is not there`,
      'plug in the backup disk (check with: lsblk -o NAME,PARTLABEL), then run again',
    );
  },

  async close() {
    return 'already-closed';
  },

  async openOnPaper(ctx: StackContext) {
    await this.open(ctx);
  },

  async closeOnPaper() {},
};

/** A stack on the partition (LUKS or LVM at the bottom): attached when the partition, or the device on top, is there. */
export function partitionAttached(config: VaultConfig, fsDevice: string | undefined): boolean {
  return existsSync(config.target.partition) || existsSync(fsDevice ?? '/nonexistent');
}

/** The UUID blkid reads on the partition (LUKS's, LVM's, a plain filesystem's), which must be attached now. */
export async function partitionUdevMatch(runner: Runner, target: PlugTarget): Promise<UdevMatch | undefined> {
  const uuid = await firstLine(runner, ['lsblk', ['-dno', 'UUID', '--', target.partition]]);
  return uuid ? { key: 'ID_FS_UUID', value: uuid } : undefined;
}

/** The first line a query prints, if it prints one. */
export async function firstLine(runner: Runner, argv: Argv): Promise<string | undefined> {
  return (await runner.query(argv, { allowFailure: true })).stdout.trim().split('\n')[0] || undefined;
}
