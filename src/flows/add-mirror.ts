import { Listr } from 'listr2';
import type { VaultConfig } from '../config/config.js';
import { gib, type DiskAssessment } from '../core/eligibility.js';
import { TargetError, UserError } from '../core/errors.js';
import type { Runner } from '../system/runner.js';
import { waitForDevice } from '../stack/devices.js';
import { arraySync, type SyncStatus } from '../stack/array-state.js';
import { raidLayer } from '../stack/raid.js';
import { runCommand, type StackContext, type StepCommand } from '../stack/layer.js';
import { formatDuration } from '../ui/format.js';
import { listrOptions, progressInterval, type OutputMode } from '../ui/renderer.js';
import type { Survey } from './disk-survey.js';
import { partitionPath, wipeCommands, labelFor } from './setup-plan.js';
import { partitionDisk } from '../stack/partition.js';
import { formatArgv } from '../system/runner.js';

export interface MirrorPlan {
  label: string;
  /** the wipe (if the disk carries something) and the one partition */
  partition: StepCommand[];
  /** the raid handler's: the partition joins the array */
  add: StepCommand[];
}

/** Every command of the plan, in order, as printed before the confirmation. */
export function mirrorCommands(plan: MirrorPlan): StepCommand[] {
  return [...plan.partition, ...plan.add];
}

/** The second disk: checks that need the array's own members (size, sector size). */
export function checkMirrorDisk(survey: Survey, disk: DiskAssessment, memberDisks: string[]): void {
  if (!disk.eligible) throw new UserError(`${disk.byId ?? disk.path} cannot be used: ${disk.reasons.join('; ')}`, 'pick another disk, or free this one first');
  if (memberDisks.includes(disk.path)) throw new UserError(`${disk.byId ?? disk.path} is already a member of the array`, 'pick the new disk');
  for (const m of memberDisks) {
    const member = survey.disks.find((d) => d.path === m);
    if (!member) continue;
    if (disk.size < member.size) {
      throw new UserError(`${disk.byId ?? disk.path} (${gib(disk.size)}) is smaller than the array's disk ${member.byId ?? member.path} (${gib(member.size)})`, 'use a disk at least as large');
    }
    if (disk.logicalSectorSize !== member.logicalSectorSize) {
      throw new UserError(
        `${disk.byId ?? disk.path} has ${disk.logicalSectorSize}-byte logical sectors, the array's disk ${member.logicalSectorSize}-byte ones`,
        'use a disk with the same logical sector size (lsblk -o NAME,LOG-SEC)',
      );
    }
  }
}

/** The new disk: wiped if it carries something, its one partition, then the raid handler adds it. */
export function planMirror(ctx: Pick<StackContext, 'config'>, disk: DiskAssessment, partitions: string[], wipe: boolean, replaceFailed: boolean): MirrorPlan {
  const label = labelFor(disk.serial, disk.byId, disk.path);
  return {
    label,
    partition: [...(wipe ? wipeCommands({ disk: disk.path, wipe: [...partitions, disk.path], diskBytes: disk.size }) : []), ...partitionDisk(disk.path, label)],
    add: raidLayer.addMember(ctx, partitionPath(label), replaceFailed),
  };
}

export function describeSync(s: SyncStatus): string {
  const pct = s.total > 0 ? (s.done / s.total) * 100 : 0;
  const etaMs = s.speed > 0 && s.total > 0 ? (((s.total - s.done) * 512) / (s.speed * 1024)) * 1000 : undefined;
  return `${s.action} ${pct.toFixed(1)}%, ${(s.speed / 1024).toFixed(1)} MiB/s${etaMs !== undefined ? `, ${formatDuration(etaMs)} left` : ''}`;
}

export async function runAddMirror(opts: { runner: Runner; config: VaultConfig; plan: MirrorPlan; wait: boolean; mode: OutputMode }): Promise<SyncStatus | undefined> {
  const { runner, config, plan } = opts;
  const array = config.target.array;
  const ctx: StackContext = { runner, config, mounts: async () => [] };
  let final: SyncStatus | undefined;
  await new Listr(
    [
      { title: `Assemble ${array}`, task: async () => void (await raidLayer.open(ctx)) },
      {
        title: `Partition the new disk and add it as a mirror of ${array}`,
        task: async (_c, task) => {
          const run = async (commands: StepCommand[]) => {
            for (const command of commands) {
              task.output = formatArgv(command.argv);
              await runCommand(runner, command);
            }
          };
          await run(plan.partition);
          if (!runner.dryRun && !(await waitForDevice(partitionPath(plan.label)))) {
            throw new TargetError(`the new partition ${partitionPath(plan.label)} did not appear`, 'run add-mirror again');
          }
          await run(plan.add);
        },
      },
      {
        title: 'Resync the mirror',
        enabled: () => opts.wait && !runner.dryRun,
        task: async (_c, task) => {
          const every = Math.min(progressInterval(opts.mode), 2000);
          for (;;) {
            const s = await arraySync(array);
            if (!s) throw new TargetError(`${array} disappeared during the resync`, 'check: cat /proc/mdstat');
            final = s;
            if (s.action === 'idle' && s.degraded === 0) break;
            task.output = describeSync(s);
            await new Promise((r) => setTimeout(r, every));
          }
          task.title = `Resync the mirror: done, ${array} is [UU]`;
        },
      },
    ],
    { ...listrOptions(opts.mode), exitOnError: true, collectErrors: false },
  ).run();
  return final ?? (await arraySync(array));
}
