import { existsSync, readdirSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { TargetError } from '../core/errors.js';
import {
  parseArrayLines,
  parseExamineVerbose,
  parseMember,
  parseRaidMembers,
  sameArrayUuid,
  type MdArrayStat,
} from '../core/mdstat.js';
import { byIdNames } from '../system/inventory.js';
import { operand, type Argv } from '../system/runner.js';
import { arrayKernelName, arrayStat, arraySync, configuredArray, mdAttribute, MDADM_CONF } from './array-state.js';
import { exists } from './devices.js';
import {
  plainCommands,
  succeeds,
  type LayerHandler,
  type LayerState,
  type StackContext,
  type StepCommand,
  type StepContext,
} from './layer.js';
import { partitionUdevMatch } from './partition.js';
import { RAID_TYPE } from './partition-types.js';

// mdadm takes no `--`: a device path that starts with `-` goes as ./-x (operand)
export const raidCommands = {
  /**
   * A mirror started degraded, with one member; the second is added later.
   * homehost "any": the array is local on every host the disk is plugged into, so
   * it never comes up as backup_0 elsewhere.
   */
  create: (spec: { array: string; partition: string }): Argv => [
    'mdadm',
    [
      '--create',
      operand(spec.array),
      '--run',
      '--level=1',
      '--raid-devices=2',
      '--metadata=1.2',
      '--bitmap=internal',
      '--homehost=any',
      `--name=${basename(spec.array)}`,
      operand(spec.partition),
      'missing',
    ],
  ],
  assembleByDevice: (array: string, partition: string): Argv => [
    'mdadm',
    ['--assemble', '--run', operand(array), operand(partition)],
  ],
  detailBrief: (array: string): Argv => ['mdadm', ['--detail', '--brief', operand(array)]],
  add: (array: string, partition: string): Argv => ['mdadm', ['--manage', operand(array), '--add', operand(partition)]],
  removeFailed: (array: string): Argv => ['mdadm', ['--manage', operand(array), '--remove', 'failed']],
  examine: (partition: string): Argv => ['mdadm', ['--examine', operand(partition)]],
  assembleFromConfig: (array: string): Argv => ['mdadm', ['--assemble', '--run', operand(array)]],
  assembleByUuid: (array: string, uuid: string): Argv => [
    'mdadm',
    ['--assemble', '--run', operand(array), `--uuid=${uuid}`],
  ],
  /** start an array that udev's incremental assembly left inactive (degraded by design) */
  run: (array: string): Argv => ['mdadm', ['--run', operand(array)]],
  stop: (array: string): Argv => ['mdadm', ['--stop', operand(array)]],
  /** every array's members as found in the superblocks of the attached disks */
  examineScanDevices: (): Argv => ['mdadm', ['--examine', '--scan', '--verbose']],
  /** the RAID members udev has seen, with their array's UUID (no disk is read) */
  memberCandidates: (): Argv => ['lsblk', ['-J', '-l', '-o', 'PATH,FSTYPE,UUID']],
};

export interface RaidState extends LayerState {
  stat?: MdArrayStat;
  /** a degraded array's members that are not mirroring, each with its disk's name */
  absent?: MemberReport;
}

export interface MemberReport {
  /** marked failed by md (still listed in the array) */
  failed: string[];
  /** attached and carrying this array's superblock, but not in it (stale after a fault) */
  leftOut: string[];
  /** members that are not attached at all */
  missing: number;
}

/** /dev/vdd1 -> "vdd1 (/dev/disk/by-id/virtio-bv-m2)": which physical disk to look at */
async function named(partition: string, byId: Record<string, string>): Promise<string> {
  const name = basename(partition);
  const disk = basename(dirname(await realpath(`/sys/class/block/${name}`).catch(() => `/${name}`)));
  const id = byId[`/dev/${disk}`];
  return id ? `${name} (${id})` : name;
}

/**
 * For a degraded array: which members are failed, left out or not attached, by name.
 * Read from sysfs and udev's records (lsblk), not from the disks: a backup looks at
 * this on every run and must not wake every sleeping disk of the machine.
 */
async function absentMembers(ctx: StackContext, stat: MdArrayStat): Promise<MemberReport> {
  const byId = await byIdNames();
  const members = stat.members.map(parseMember);
  const failed = await Promise.all(members.filter((m) => m.failed).map((m) => named(m.device, byId)));
  const uuid = await mdAttribute(stat.name, 'uuid');
  const { stdout } = await ctx.runner.query(raidCommands.memberCandidates(), { allowFailure: true });
  const inArray = new Set(members.map((m) => m.device));
  const ours = uuid
    ? parseRaidMembers(stdout)
        .filter((d) => sameArrayUuid(uuid, d.uuid))
        .map((d) => d.path)
    : [];
  const leftOut = await Promise.all(ours.filter((d) => !inArray.has(basename(d))).map((d) => named(d, byId)));
  const working = members.length - failed.length;
  return { failed, leftOut, missing: Math.max((stat.wanted ?? 0) - working - failed.length - leftOut.length, 0) };
}

export function describeArray(array: string, stat: MdArrayStat | undefined, absent?: MemberReport): string {
  if (!stat) return `${array} is not assembled`;
  const parts = [`${array} (${stat.name}) ${stat.active ? 'active' : 'inactive'}`];
  if (stat.map) {
    const degraded = stat.present !== undefined && stat.wanted !== undefined && stat.present < stat.wanted;
    parts.push(`${stat.map}${degraded ? ` degraded: ${stat.present} of ${stat.wanted} mirrors` : ''}`);
  }
  if (stat.sync)
    parts.push(`${stat.sync.action} ${stat.sync.percent}%${stat.sync.finish ? `, ${stat.sync.finish} left` : ''}`);
  parts.push(`members: ${stat.members.join(' ') || '-'}`);
  if (absent?.failed.length) parts.push(`failed: ${absent.failed.join(', ')} (replace it: btrfs-vault add-mirror)`);
  if (absent?.leftOut.length) {
    parts.push(
      `left out: ${absent.leftOut.join(', ')} (a stale copy; put it back: mdadm --manage ${array} --re-add /dev/${absent.leftOut[0]!.split(' ')[0]}, or replace it: btrfs-vault add-mirror)`,
    );
  }
  if (absent?.missing)
    parts.push(
      `missing: ${absent.missing} member${absent.missing > 1 ? 's' : ''}, not attached (attach it, or add a new disk: btrfs-vault add-mirror)`,
    );
  return parts.join(', ');
}

/** What only a mirror can do: list its members, take a new one (add-mirror). */
export interface RaidVerbs {
  /**
   * The member partitions, read without assembling anything: from the kernel when the
   * array runs; else from the superblocks on the attached disks (matched to this host's
   * ARRAY line, else to the array's name), so a member disk is still recognised and
   * never offered as the new one. A stopped array has no failed member to report.
   */
  members(ctx: StackContext): Promise<{ partitions: string[]; failed: boolean }>;
  /**
   * What open would run to start the array (undefined: it runs already), decided by
   * reading only: add-mirror shows it before the confirmation and assembles after it.
   */
  assembly(ctx: StackContext): Promise<Argv | undefined>;
  /** the commands that make a partition a mirror, after taking out a failed member */
  addMember(ctx: Pick<StackContext, 'config'>, partition: string, replaceFailed: boolean): StepCommand[];
}

/** The mdadm RAID1 mirror. */
export const raidLayer: LayerHandler & RaidVerbs = {
  name: 'raid',
  requires: [{ program: 'mdadm', argv: ['mdadm', ['--version']], pkg: 'mdadm', use: 'run' }],
  modules: [{ module: 'raid1', what: 'raid1' }],
  partitionType: RAID_TYPE,
  afterSetup: 'A second disk for the mirror: btrfs-vault add-mirror',
  device: (t) => t.array,
  configKeys: (t) => ({ array: t.array }),

  async checks(t) {
    const line = await configuredArray(t.array);
    return [
      line
        ? {
            area: 'disk',
            name: 'mdadm.conf',
            level: 'ok',
            detail: `${t.array} is in /etc/mdadm/mdadm.conf (UUID ${line.uuid ?? '?'}); if the array should be known at boot, run update-initramfs -u after changing it`,
          }
        : {
            area: 'disk',
            name: 'mdadm.conf',
            level: 'warn',
            detail: `${t.array} has no ARRAY line in /etc/mdadm/mdadm.conf: btrfs-vault finds it by its superblocks, but the system does not know it`,
            fix: `with the disk attached: mdadm --detail --brief ${t.array} >> /etc/mdadm/mdadm.conf && update-initramfs -u`,
          },
    ];
  },

  attached(config) {
    // every disk setup made carries a partition labelled backup-<serial>
    const labels = listDir('/dev/disk/by-partlabel');
    return existsSync(config.target.array) || labels.some((l) => l === 'backup' || l.startsWith('backup-'));
  },

  // the array's UUID, which both mirrors carry, from this host's ARRAY line; else the partition's
  async udevMatch(runner, target) {
    const recorded = (await configuredArray(target.array))?.uuid;
    const uuid = recorded ? blkidUuid(recorded) : undefined;
    return uuid ? { key: 'ID_FS_UUID', value: uuid } : partitionUdevMatch(runner, target);
  },

  async members(ctx) {
    const { array } = ctx.config.target;
    const stat = await arrayStat(array);
    if (stat) {
      const members = stat.members.map(parseMember);
      return { partitions: members.map((m) => `/dev/${m.device}`), failed: members.some((m) => m.failed) };
    }
    const { stdout } = await ctx.runner.query(raidCommands.examineScanDevices(), { allowFailure: true });
    // this host's ARRAY line names the very array; without one, its name does
    const uuid = (await configuredArray(array))?.uuid;
    const wanted = basename(array);
    const found = parseExamineVerbose(stdout).filter((a) =>
      uuid ? a.uuid !== undefined && sameArrayUuid(uuid, a.uuid) : a.name?.split(':').at(-1) === wanted,
    );
    return { partitions: found.flatMap((a) => a.devices), failed: false };
  },

  async assembly(ctx) {
    const { array } = ctx.config.target;
    const stat = await arrayStat(array);
    if (stat?.active) return undefined;
    if (stat) return raidCommands.run(array);
    if (await configuredArray(array)) return raidCommands.assembleFromConfig(array);
    // no ARRAY line on this host: find the array by its name in the superblocks; of
    // several so named (another backup disk attached), only the one holding the
    // configured partition, never a guess
    const { stdout } = await ctx.runner.query(raidCommands.examineScanDevices(), { allowFailure: true });
    const wanted = basename(array);
    const named = parseExamineVerbose(stdout).filter(
      (a) => a.uuid !== undefined && a.name?.split(':').at(-1) === wanted,
    );
    const uuids = [...new Set(named.map((a) => a.uuid!))];
    if (uuids.length === 0) {
      throw new TargetError(
        `no member of the RAID array ${array} was found on any disk`,
        'plug in the backup disk (check with: lsblk), then run again',
      );
    }
    if (uuids.length === 1) return raidCommands.assembleByUuid(array, uuids[0]!);
    const partition = await realpath(ctx.config.target.partition).catch(() => undefined);
    const ours = named.find((a) => partition !== undefined && a.devices.includes(partition));
    if (ours) return raidCommands.assembleByUuid(array, ours.uuid!);
    throw new TargetError(
      `this host records no ARRAY line for ${array} in ${MDADM_CONF}, and the attached disks carry ${uuids.length} arrays of that name:\n  ${named.map((a) => `UUID=${a.uuid} on ${a.devices.join(', ') || '?'}`).join('\n  ')}\nnone holds ${ctx.config.target.partition}; nothing was assembled`,
      `unplug the disks that are not this host's backup disk and run again, or record yours: mdadm --examine --scan | grep UUID=<yours> >> ${MDADM_CONF}`,
    );
  },

  addMember(ctx, partition, replaceFailed) {
    const { array } = ctx.config.target;
    return plainCommands(
      ...(replaceFailed ? [raidCommands.removeFailed(array)] : []),
      raidCommands.add(array, partition),
    );
  },

  create(ctx, o) {
    const { array, partition } = ctx.config.target;
    return [
      o.mode === 'new-disk'
        ? {
            id: 'raid',
            title: `Create the RAID1 mirror ${array} (degraded until add-mirror)`,
            commands: plainCommands(raidCommands.create({ array, partition })),
            appears: array,
            // made: the partition carries the array's superblock
            done: async (c) => (await exists(partition)) && succeeds(c, raidCommands.examine(partition)),
            bringUp: (c) => raidLayer.open(c),
          }
        : {
            id: 'assemble',
            title: `Assemble ${array}`,
            commands: plainCommands(raidCommands.assembleByDevice(array, partition)),
            appears: array,
            done: () => exists(array),
            bringUp: (c) => raidLayer.open(c),
          },
      {
        id: 'mdadm-conf',
        title: `Record the array in ${MDADM_CONF}`,
        commands: plainCommands(raidCommands.detailBrief(array)),
        writes: [`${MDADM_CONF}: the ARRAY line, added once`],
        run: (c) => recordArray(c, array),
      },
    ];
  },

  async inspect(ctx): Promise<RaidState> {
    const { array } = ctx.config.target;
    const stat = await arrayStat(array);
    const degraded =
      stat?.active && stat.present !== undefined && stat.wanted !== undefined && stat.present < stat.wanted;
    const absent = degraded ? await absentMembers(ctx, stat) : undefined;
    return {
      up: Boolean(stat?.active),
      detail: describeArray(array, stat, absent),
      stat,
      ...(absent ? { absent } : {}),
    };
  },

  async open(ctx) {
    const command = await raidLayer.assembly(ctx);
    if (!command) return 'already-open';
    await ctx.runner.run(command);
    return 'opened';
  },

  async close(ctx) {
    const { array } = ctx.config.target;
    const name = await arrayKernelName(array);
    // the /dev/md/NAME link outlives a stop for a moment (udev removes it later): the
    // kernel's /proc/mdstat says whether the array still runs (an inactive one is listed)
    if (!name || !(await arrayStat(array))) return 'already-closed';
    // after its disks were pulled out only the kernel's name is left
    await ctx.runner.run(raidCommands.stop((await exists(array)) ? array : `/dev/${name}`));
    return 'closed';
  },

  // the mirror being made whole (a new member, a resync after an unclean stop): only a
  // running array makes progress, so a run that stopped it would leave it degraded for
  // as long as the runs are short (a scrub's "check" is not such work)
  async busy(ctx) {
    const s = await arraySync(ctx.config.target.array);
    if (!s || !['resync', 'recover', 'reshape'].includes(s.action)) return undefined;
    return `${ctx.config.target.array} is in ${s.action}, ${s.total > 0 ? ((s.done / s.total) * 100).toFixed(1) : '0.0'}% done; left running so it can finish (cat /proc/mdstat shows it)`;
  },

  // the array is the bottom of the stack: its members are real disks, inspected as
  // usual even in a dry-run, so its open is never only on paper
  async openOnPaper(ctx) {
    await this.open(ctx);
  },

  async closeOnPaper(ctx) {
    await ctx.runner.run(raidCommands.stop(ctx.config.target.array));
  },
};

/**
 * Before a new array is made under the name: does this host know another array by it?
 * An ARRAY line of another backup disk (lost, or in a drawer) would win at every open,
 * and a running one keeps the name taken. The array on the chosen disk (`onDisk`: its
 * member partition; wiped, or joined by a second host) is no obstacle: its line is the
 * one recorded, and a wiped array's is replaced. Reads only; the reason, or undefined.
 */
export async function otherArrayByName(
  ctx: Pick<StackContext, 'runner' | 'config'>,
  onDisk?: string,
): Promise<string | undefined> {
  const { array } = ctx.config.target;
  const diskUuid = onDisk
    ? /^\s*Array UUID : (\S+)/m.exec(
        (await ctx.runner.query(raidCommands.examine(onDisk), { allowFailure: true })).stdout,
      )?.[1]
    : undefined;
  const ours = (uuid: string | undefined) =>
    uuid !== undefined && diskUuid !== undefined && uuid.toLowerCase() === diskUuid.toLowerCase();
  const stat = await arrayStat(array);
  const member = onDisk ? basename(await realpath(onDisk).catch(() => onDisk)) : undefined;
  const members = stat?.members.map((m) => parseMember(m).device) ?? [];
  // running: only with the chosen disk's own partition in it (udev assembled it as the disk appeared; a joined mirror runs from both)
  if (stat && !(member !== undefined && members.includes(member)))
    return `the array ${array} is assembled from another disk (${members.join(', ') || 'no member left'})`;
  const line = await configuredArray(array);
  if (line && !ours(line.uuid))
    return `${MDADM_CONF} records another array as ${array} (UUID ${line.uuid ?? 'none'}), another backup disk of this host`;
  return undefined;
}

/** The ARRAY line goes into mdadm.conf once (a wiped array's line under the name is replaced); other lines stay as they are. */
async function recordArray(ctx: StepContext, array: string): Promise<void> {
  const { stdout } = await ctx.runner.query(raidCommands.detailBrief(array));
  const line = stdout.split('\n').find((l) => l.startsWith('ARRAY '));
  if (!line)
    throw new TargetError(
      `mdadm --detail --brief ${array} printed no ARRAY line`,
      `check the array with: mdadm --detail ${array}`,
    );
  const [mine] = parseArrayLines(line);
  const conf = await readFile(MDADM_CONF, 'utf8').catch(() => '');
  const present = parseArrayLines(conf).some((a) => a.uuid === mine?.uuid);
  // setup checked before it changed anything that a line under this name can only be the wiped array's
  const stale = !present && parseArrayLines(conf).some((a) => a.device === array);
  if (stale) {
    // the wiped array's line goes with its continuation lines (indented)
    let dropping = false;
    const kept = conf
      .split('\n')
      .filter(
        (l) =>
          (dropping = l.startsWith('ARRAY ') ? parseArrayLines(l)[0]?.device === array : dropping && /^\s/.test(l)) ===
          false,
      )
      .join('\n')
      .replace(/\n*$/, '');
    ctx.runner.change({
      op: 'write-durably',
      path: MDADM_CONF,
      data: `${kept === '' ? '' : `${kept}\n`}${line.trim()}\n`,
      mode: 0o644,
      replace: true,
    });
  } else if (!present) {
    ctx.runner.change({
      op: 'append',
      path: MDADM_CONF,
      text: `${conf === '' || conf.endsWith('\n') ? '' : '\n'}${line.trim()}\n`,
      folder: 0o755,
    });
  }
  ctx.say(
    `${present ? 'already in' : stale ? "replaced the wiped array's line in" : 'added to'} ${MDADM_CONF}: ${line.trim()}`,
  );
  ctx.say('hint: run update-initramfs -u if the array should also be known while booting');
}

/** mdadm writes an array's UUID as four words (a:b:c:d); blkid and udev as 8-4-4-4-12. */
export function blkidUuid(mdadmUuid: string): string | undefined {
  const hex = mdadmUuid.replaceAll(':', '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
