import { TargetError } from '../core/errors.js';
import type { Argv } from '../system/runner.js';
import { exists } from './devices.js';
import { plainCommands, succeeds, type LayerHandler, type LayerState, type StackContext } from './layer.js';
import { deviceBelow } from './layers.js';
import { partitionAttached, partitionUdevMatch } from './partition.js';

export const lvmCommands = {
  pvcreate: (device: string): Argv => ['pvcreate', ['--yes', '--', device]],
  vgcreate: (vg: string, device: string): Argv => ['vgcreate', ['--yes', '--', vg, device]],
  /** size "all" = the rest of the group */
  lvcreate: (vg: string, lv: string, size: string): Argv => [
    'lvcreate',
    ['--yes', '-W', 'y', '-n', lv, ...(size === 'all' ? ['-l', '100%FREE'] : ['-L', size]), '--', vg],
  ],
  activate: (vg: string, lv: string): Argv => ['lvchange', ['--activate', 'y', '--', `${vg}/${lv}`]],
  deactivateGroup: (vg: string): Argv => ['vgchange', ['--activate', 'n', '--', vg]],
  /** attributes of one LV: the fifth character is "a" when active */
  attributes: (vg: string, lv: string): Argv => ['lvs', ['--noheadings', '-o', 'lv_attr', '--', `${vg}/${lv}`]],
  groupActive: (vg: string): Argv => ['lvs', ['--noheadings', '-o', 'lv_attr', '--', vg]],
  /** the names of the group's volumes, one a line */
  names: (vg: string): Argv => ['lvs', ['--noheadings', '-o', 'lv_name', '--', vg]],
  /** the group's free bytes */
  free: (vg: string): Argv => ['vgs', ['--noheadings', '--units', 'b', '--nosuffix', '-o', 'vg_free', '--', vg]],
  /** does the group, the volume exist? (exit status) */
  group: (vg: string): Argv => ['vgs', ['--', vg]],
  volume: (vg: string, lv: string): Argv => ['lvs', ['--', `${vg}/${lv}`]],
  /** the kernel's mapping of a volume, for when LVM cannot read its group any more */
  removeMapping: (name: string): Argv => ['dmsetup', ['remove', '--', name]],
};

/** device-mapper's name of a volume: LVM doubles the dashes inside each name */
export function mappingName(vg: string, lv: string): string {
  return `${vg.replaceAll('-', '--')}-${lv.replaceAll('-', '--')}`;
}

/** What LVM sits on: the layer below it (LUKS's mapping, the array), or the partition. */
export function lvmDevice(ctx: Pick<StackContext, 'config'>): string {
  return deviceBelow(ctx.config.target, lvmLayer);
}

async function lvActive(ctx: StackContext): Promise<boolean | undefined> {
  const { volumeGroup, logicalVolume } = ctx.config.target;
  const r = await ctx.runner.query(lvmCommands.attributes(volumeGroup, logicalVolume), { allowFailure: true });
  if (r.exitCode !== 0) return undefined; // no such volume group or volume (yet)
  return r.stdout.trim().charAt(4) === 'a';
}

/** A second host's volume needs room in the group; the other hosts' volumes may use all of it. */
async function assertRoomForVolume(ctx: StackContext): Promise<void> {
  const { volumeGroup: vg, logicalVolume: lv } = ctx.config.target;
  const free = await ctx.runner.query(lvmCommands.free(vg), { allowFailure: true });
  if (free.exitCode === 0 && Number(free.stdout.trim()) === 0) {
    throw new TargetError(
      `the volume group ${vg} has no free space left for ${lv}: the volumes of other hosts use all of it`,
      `shrink another host's volume, or use a larger disk (see: lvs ${vg})`,
    );
  }
}

export const lvmLayer: LayerHandler = {
  name: 'lvm',
  requires: [{ program: 'lvm', argv: ['lvm', ['version']], pkg: 'lvm2', use: 'run' }],
  asks: ['size'],
  device: (t) => `/dev/${t.volumeGroup}/${t.logicalVolume}`,
  configKeys: (t) => ({ volume_group: t.volumeGroup }),
  attached: partitionAttached,
  udevMatch: partitionUdevMatch,
  summary: (spec) => [
    `host volume  ${spec.volumeGroup}/${spec.host}, ${spec.mode === 'reconnect' ? 'exists already: its backups are kept as they are' : spec.size === 'all' ? 'all free space' : spec.size}`,
  ],

  create(ctx, o) {
    const { volumeGroup: vg, logicalVolume: lv } = ctx.config.target;
    const below = lvmDevice(ctx);
    const device = `/dev/${vg}/${lv}`;
    const bringUp = (c: StackContext) => lvmLayer.open(c);
    if (o.mode === 'reconnect') {
      return [
        {
          id: 'activate',
          title: `Activate this host's existing volume ${vg}/${lv}`,
          commands: plainCommands(lvmCommands.activate(vg, lv)),
          appears: device,
          done: async (c) => (await lvmLayer.inspect(c)).up,
          bringUp,
        },
      ];
    }
    return [
      ...(o.mode === 'new-disk'
        ? [
            {
              id: 'volume-group' as const,
              title: `Create the LVM volume group ${vg}`,
              commands: plainCommands(lvmCommands.pvcreate(below), lvmCommands.vgcreate(vg, below)),
              done: (c: StackContext) => succeeds(c, lvmCommands.group(vg)),
            },
          ]
        : []),
      {
        id: 'logical-volume',
        title: `Create the logical volume ${vg}/${lv} (${o.size === 'all' ? 'all free space' : o.size})`,
        commands: plainCommands(lvmCommands.lvcreate(vg, lv, o.size)),
        appears: device,
        done: (c) => succeeds(c, lvmCommands.volume(vg, lv)),
        bringUp,
        prepare: (c) => assertRoomForVolume(c),
      },
    ];
  },

  async inspect(ctx): Promise<LayerState> {
    const { volumeGroup, logicalVolume } = ctx.config.target;
    const active = await lvActive(ctx);
    const lv = `${volumeGroup}/${logicalVolume}`;
    return {
      up: active === true,
      detail: active === undefined ? `logical volume ${lv} not found` : `${lv} ${active ? 'active' : 'inactive'}`,
    };
  },

  async open(ctx) {
    const { volumeGroup, logicalVolume } = ctx.config.target;
    const active = await lvActive(ctx);
    if (active) return 'already-open';
    if (active === undefined) {
      throw new TargetError(
        `volume group ${volumeGroup} has no logical volume ${logicalVolume} (on ${lvmDevice(ctx)})`,
        `check host in the config (the volume is named after it), or set this host up on the disk: btrfs-vault setup`,
      );
    }
    await ctx.runner.run(lvmCommands.activate(volumeGroup, logicalVolume));
    return 'opened';
  },

  async close(ctx) {
    const { volumeGroup, logicalVolume } = ctx.config.target;
    const r = await ctx.runner.query(lvmCommands.groupActive(volumeGroup), { allowFailure: true });
    if (r.exitCode !== 0) {
      // LVM cannot read the group (its disk was pulled out), but the kernel still holds
      // this host's volume: without removing it, LUKS and the array below never close
      const mapping = mappingName(volumeGroup, logicalVolume);
      if (!(await exists(`/dev/mapper/${mapping}`))) return 'already-closed';
      await ctx.runner.run(lvmCommands.removeMapping(mapping));
      return 'closed';
    }
    if (!r.stdout.split('\n').some((l) => l.trim().charAt(4) === 'a')) return 'already-closed';
    await ctx.runner.run(lvmCommands.deactivateGroup(volumeGroup));
    return 'closed';
  },

  // the volume group is not visible before the layer below opens, so nothing is asked
  async openOnPaper(ctx) {
    const { volumeGroup, logicalVolume } = ctx.config.target;
    await ctx.runner.run(lvmCommands.activate(volumeGroup, logicalVolume));
  },

  async closeOnPaper(ctx) {
    await ctx.runner.run(lvmCommands.deactivateGroup(ctx.config.target.volumeGroup));
  },
};
