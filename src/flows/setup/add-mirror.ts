import { Listr } from 'listr2';
import type { VaultConfig } from '../../config/config.js';
import { confirmationWords, type DiskAssessment } from '../../core/eligibility.js';
import { formatBytes } from '../../ui/format.js';
import { TargetError, UserError } from '../../core/errors.js';
import { waitForDevice } from '../../stack/devices.js';
import { arraySync, type SyncStatus } from '../../stack/array-state.js';
import { raidLayer } from '../../stack/raid.js';
import { hasLayer } from '../../stack/stack.js';
import { runCommand, type StackContext, type StepCommand } from '../../stack/layer.js';
import { formatDuration } from '../../ui/format.js';
import { listrOptions, progressInterval, type OutputMode } from '../../ui/renderer.js';
import { readMounts } from '../../system/mounts.js';
import { ownStackDevices, surveyDisks, type Survey } from './disk-survey.js';
import { partitionPath, wipeCommands, labelFor } from './setup-plan.js';
import { partitionDisk } from '../../stack/partition.js';
import { formatArgv, type Runner } from '../../system/runner.js';
import { acquireLocks } from '../../system/lock.js';
import { targetLockKey } from '../session/target-session.js';

export interface MirrorPlan {
  label: string;
  /** what starts the array, when it is not running (after the confirmation) */
  assemble?: StepCommand;
  /** the wipe (if the disk carries something) and the one partition */
  partition: StepCommand[];
  /** the raid handler's: the partition joins the array (taking out a failed member first, decided again once the array runs) */
  add: StepCommand[];
}

/** Every command of the plan, in order, as printed before the confirmation. */
export function mirrorCommands(plan: MirrorPlan): StepCommand[] {
  return [...(plan.assemble ? [plan.assemble] : []), ...plan.partition, ...plan.add];
}

/** What add-mirror asks: answered by the command line's options (unattended) or by the wizard. */
export interface MirrorQuestions {
  /** the new disk, out of the candidates (every disk that is not the array's) */
  disk(survey: Survey, candidates: DiskAssessment[]): Promise<DiskAssessment>;
  /** may what the disk carries be destroyed? */
  wipe(disk: DiskAssessment): Promise<boolean>;
  /** what the user typed to confirm (the disk's serial or name) */
  confirm(words: string[]): Promise<string>;
}

export interface AddMirrorRun {
  runner: Runner;
  config: VaultConfig;
  questions: MirrorQuestions;
  wait: boolean;
  mode: OutputMode;
  /** where the plan and the outcome are written (stdout) */
  print: (text: string) => void;
  /** where the locks are (tests) */
  lockDir?: string;
}

/**
 * add-mirror: everything before the confirmation only reads (the array's members
 * from the kernel or the superblocks, the disks); the array is assembled, if it was
 * stopped, as the first task after it. A refusal or a dry-run leaves it as it was.
 */
/** What add-mirror did, for --json (docs/JSON.md). */
export interface AddMirrorReport {
  ok: true;
  dryRun: boolean;
  array: string;
  /** the disk added, by its by-id name when it has one */
  disk: string;
  serial: string;
  /** the array when add-mirror returned: in sync, or the resync's progress (--no-wait); null in a dry run */
  sync: { action: string; percent: number; degraded: number } | null;
  exitCode: 0;
}

export async function addMirror(run: AddMirrorRun): Promise<AddMirrorReport> {
  const { runner, config, questions, print } = run;
  if (!hasLayer(config, raidLayer))
    throw new UserError(
      `${config.file} has no raid layer, so there is no mirror to add to`,
      'add-mirror is for the RAID1 backup stack',
    );
  const stack: StackContext = { runner, config, mounts: readMounts };
  const { array } = config.target;
  const assemble = await raidLayer.assembly(stack);
  const members = await raidLayer.members(stack);
  const ours = await ownStackDevices(
    array,
    config.target.luksName,
    config.target.volumeGroup,
    config.host,
    config.target.mountpoint,
  );
  const survey = await surveyDisks(runner, config.dir, ours);
  const memberDisks = survey.devices
    .filter((d) => (d.children ?? []).some((c) => members.partitions.includes(c.path)))
    .map((d) => d.path);
  const disk = await questions.disk(
    survey,
    survey.disks.filter((d) => !memberDisks.includes(d.path)),
  );
  checkMirrorDisk(survey, disk, memberDisks);
  const partitions = (survey.devices.find((d) => d.path === disk.path)?.children ?? [])
    .filter((c) => c.type === 'part')
    .map((c) => c.path);
  const wipe = disk.signatures.length > 0;
  if (wipe && !(await questions.wipe(disk))) {
    throw new UserError(
      `${disk.byId ?? disk.path} is not empty; it carries:\n  ${disk.signatures.join('\n  ')}`,
      'if all of that may be destroyed, add --wipe-existing',
    );
  }
  const plan = {
    ...planMirror(stack, disk, partitions, wipe, members.failed),
    ...(assemble ? { assemble: { argv: assemble } } : {}),
  };
  print(
    `Adding ${disk.byId ?? disk.path} (${disk.model}, serial ${disk.serial || '-'}) to ${array}:\n${mirrorCommands(plan)
      .map((c) => `  ${formatArgv(c.argv)}`)
      .join('\n')}\n`,
  );
  const report: AddMirrorReport = {
    ok: true,
    dryRun: !runner.changesTakeEffect,
    array,
    disk: disk.byId ?? disk.path,
    serial: disk.serial,
    sync: null,
    exitCode: 0,
  };
  // a dry-run ends with the plan: nothing after the confirmation would take effect
  if (!runner.changesTakeEffect) return report;
  // the target's lock, as every run takes it, until the member is added: a timer's
  // backup meanwhile would stop the array it found idle, from under the assembly and the
  // add. The resync may take hours: backups go on meanwhile (runs leave a resyncing
  // array running, see raidLayer.busy).
  const lock = await acquireLocks(
    runner,
    [targetLockKey(config.target.mountpoint)],
    `add-mirror, config ${config.file}`,
    run.lockDir,
  );
  let s: SyncStatus | undefined;
  try {
    const words = confirmationWords(disk);
    const typed = await questions.confirm(words);
    if (!words.includes(typed.trim()))
      throw new UserError(
        `the confirmation "${typed}" does not match the disk (${words.join(' or ')}); nothing was changed`,
        "give --confirm with the disk's serial",
      );
    s = await runAddMirror({ runner, config, plan, wait: run.wait, mode: run.mode, added: () => lock.release() });
  } finally {
    await lock.release();
  }
  print(s ? `${array}: ${s.action === 'idle' && s.degraded === 0 ? 'in sync [UU]' : describeSync(s)}\n` : '');
  if (!run.wait)
    print('the resync goes on in the background: btrfs-vault open (or cat /proc/mdstat) shows its progress\n');
  if (s)
    report.sync = {
      action: s.action,
      percent: s.total > 0 ? Math.round((1000 * s.done) / s.total) / 10 : 100,
      degraded: s.degraded,
    };
  return report;
}

/** The second disk: checks that need the array's own members (size, sector size). */
export function checkMirrorDisk(survey: Survey, disk: DiskAssessment, memberDisks: string[]): void {
  if (!disk.eligible)
    throw new UserError(
      `${disk.byId ?? disk.path} cannot be used: ${disk.reasons.join('; ')}`,
      'pick another disk, or free this one first',
    );
  if (memberDisks.includes(disk.path))
    throw new UserError(`${disk.byId ?? disk.path} is already a member of the array`, 'pick the new disk');
  for (const m of memberDisks) {
    const member = survey.disks.find((d) => d.path === m);
    if (!member) continue;
    if (disk.size < member.size) {
      throw new UserError(
        `${disk.byId ?? disk.path} (${formatBytes(disk.size)}) is smaller than the array's disk ${member.byId ?? member.path} (${formatBytes(member.size)})`,
        'use a disk at least as large',
      );
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
export function planMirror(
  ctx: Pick<StackContext, 'config'>,
  disk: DiskAssessment,
  partitions: string[],
  wipe: boolean,
  replaceFailed: boolean,
): MirrorPlan {
  const label = labelFor(disk.serial, disk.byId, disk.path);
  return {
    label,
    partition: [
      ...(wipe ? wipeCommands({ disk: disk.path, wipe: [...partitions, disk.path], diskBytes: disk.size }) : []),
      ...partitionDisk(disk.path, label),
    ],
    add: raidLayer.addMember(ctx, partitionPath(label), replaceFailed),
  };
}

export function describeSync(s: SyncStatus): string {
  const pct = s.total > 0 ? (s.done / s.total) * 100 : 0;
  const etaMs = s.speed > 0 && s.total > 0 ? (((s.total - s.done) * 512) / (s.speed * 1024)) * 1000 : undefined;
  return `${s.action} ${pct.toFixed(1)}%, ${(s.speed / 1024).toFixed(1)} MiB/s${etaMs !== undefined ? `, ${formatDuration(etaMs)} left` : ''}`;
}

export async function runAddMirror(opts: {
  runner: Runner;
  config: VaultConfig;
  plan: MirrorPlan;
  wait: boolean;
  mode: OutputMode;
  added?: () => Promise<void>;
}): Promise<SyncStatus | undefined> {
  const { runner, config, plan } = opts;
  const array = config.target.array;
  const ctx: StackContext = { runner, config, mounts: async () => [] };
  let final: SyncStatus | undefined;
  await new Listr(
    [
      {
        title: `Assemble ${array}`,
        task: async (_c, task) =>
          (await raidLayer.open(ctx)) === 'already-open' ? task.skip(`${array} is running`) : undefined,
      },
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
          if (runner.changesTakeEffect && !(await waitForDevice(partitionPath(plan.label)))) {
            throw new TargetError(
              `the new partition ${partitionPath(plan.label)} did not appear`,
              'run add-mirror again',
            );
          }
          // a member that failed is known for sure only now that the array runs
          await run(raidLayer.addMember(ctx, partitionPath(plan.label), (await raidLayer.members(ctx)).failed));
          await opts.added?.();
        },
      },
      {
        title: 'Resync the mirror',
        enabled: () => opts.wait && runner.changesTakeEffect, // a dry-run started no resync
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
