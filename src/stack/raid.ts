import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { TargetError } from '../core/errors.js';
import { parseArrayLines, parseMdstat, type MdArrayStat } from '../core/mdstat.js';
import type { Argv } from '../system/runner.js';
import { exists, kernelName } from './devices.js';
import type { LayerHandler, LayerState } from './layer.js';

const MDADM_CONF = '/etc/mdadm/mdadm.conf';

export const raidCommands = {
  /**
   * A mirror started degraded, with one member; the second is added later.
   * homehost "any": the array is local on every host the disk is plugged into, so
   * it never comes up as backup_0 elsewhere.
   */
  create: (spec: { array: string; partition: string }): Argv => [
    'mdadm',
    ['--create', spec.array, '--run', '--level=1', '--raid-devices=2', '--metadata=1.2', '--bitmap=internal', '--homehost=any', `--name=${basename(spec.array)}`, spec.partition, 'missing'],
  ],
  assembleByDevice: (array: string, partition: string): Argv => ['mdadm', ['--assemble', '--run', array, partition]],
  detailBrief: (array: string): Argv => ['mdadm', ['--detail', '--brief', array]],
  add: (array: string, partition: string): Argv => ['mdadm', ['--manage', array, '--add', partition]],
  removeFailed: (array: string): Argv => ['mdadm', ['--manage', array, '--remove', 'failed']],
  examine: (partition: string): Argv => ['mdadm', ['--examine', partition]],
  assembleFromConfig: (array: string): Argv => ['mdadm', ['--assemble', '--run', array]],
  assembleByUuid: (array: string, uuid: string): Argv => ['mdadm', ['--assemble', '--run', array, `--uuid=${uuid}`]],
  /** start an array that udev's incremental assembly left inactive (degraded by design) */
  run: (array: string): Argv => ['mdadm', ['--run', array]],
  stop: (array: string): Argv => ['mdadm', ['--stop', array]],
  examineScan: (): Argv => ['mdadm', ['--examine', '--scan']],
};

export interface RaidState extends LayerState {
  stat?: MdArrayStat;
}

async function mdstatFor(array: string): Promise<MdArrayStat | undefined> {
  const name = await kernelName(array);
  if (!name || !(await exists(array))) return undefined;
  const text = await readFile('/proc/mdstat', 'utf8').catch(() => '');
  return parseMdstat(text).find((a) => a.name === name);
}

export function describeArray(array: string, stat: MdArrayStat | undefined): string {
  if (!stat) return `${array} is not assembled`;
  const parts = [`${array} (${stat.name}) ${stat.active ? 'active' : 'inactive'}`];
  if (stat.map) {
    const degraded = stat.present !== undefined && stat.wanted !== undefined && stat.present < stat.wanted;
    parts.push(`${stat.map}${degraded ? ` degraded: ${stat.present} of ${stat.wanted} mirrors` : ''}`);
  }
  if (stat.sync) parts.push(`${stat.sync.action} ${stat.sync.percent}%${stat.sync.finish ? `, ${stat.sync.finish} left` : ''}`);
  parts.push(`members: ${stat.members.join(' ') || '-'}`);
  return parts.join(', ');
}

/** The mdadm RAID1 mirror. */
export const raidLayer: LayerHandler = {
  name: 'raid',

  async inspect(ctx): Promise<RaidState> {
    const stat = await mdstatFor(ctx.config.target.array);
    return { up: Boolean(stat?.active), detail: describeArray(ctx.config.target.array, stat), stat };
  },

  async open(ctx) {
    const { array } = ctx.config.target;
    const stat = await mdstatFor(array);
    if (stat?.active) return 'already-open';
    if (stat && !stat.active) {
      await ctx.runner.run(raidCommands.run(array));
      return 'opened';
    }
    if (await hasConfigLine(array)) {
      await ctx.runner.run(raidCommands.assembleFromConfig(array));
      return 'opened';
    }
    // no ARRAY line on this host: find the array by its name in the superblocks
    const { stdout } = await ctx.runner.query(raidCommands.examineScan(), { allowFailure: true });
    const wanted = basename(array);
    const found = parseArrayLines(stdout).find((a) => basename(a.device) === wanted || a.name?.split(':').at(-1) === wanted);
    if (!found?.uuid) {
      throw new TargetError(
        `no member of the RAID array ${array} was found on any disk`,
        'plug in the backup disk (check with: lsblk), then run again',
      );
    }
    await ctx.runner.run(raidCommands.assembleByUuid(array, found.uuid));
    return 'opened';
  },

  async close(ctx) {
    const { array } = ctx.config.target;
    if (!(await exists(array))) return 'already-closed';
    await ctx.runner.run(raidCommands.stop(array));
    return 'closed';
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

async function hasConfigLine(array: string): Promise<boolean> {
  const text = await readFile(MDADM_CONF, 'utf8').catch(() => '');
  return parseArrayLines(text).some((a) => a.device === array);
}
