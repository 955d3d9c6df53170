import type { SourceConfig, VaultConfig } from '../../config/config.js';
import { targetAttached } from '../../stack/presence.js';
import { readMountsSync } from '../../system/mounts.js';
import type { Runner } from '../../system/runner.js';
import type { OutputMode } from '../../ui/renderer.js';
import { notify } from '../schedule/notify.js';
import { staleNotice } from '../schedule/stale-notice.js';
import { runBackup, summaryLines } from './backup.js';
import { jsonText } from '../../ui/json-output.js';
import { backUpEachTarget, rotationLines } from './backup-rotation.js';
import { namedTargets, rotates, targetsOf } from '../../config/target-view.js';

export interface BackupVerbInput {
  config: VaultConfig;
  sources: SourceConfig[];
  runner: Runner;
  mode: OutputMode;
  keepOpen: boolean;
  force: boolean;
  /** run by the timer: an absent disk is a soft skip; stale backups are notified */
  scheduled: boolean;
  /** run when the disk was plugged in: as scheduled, and says when it may be unplugged */
  onPlug: boolean;
  /** --target NAME: this backup disk alone (several disks: each attached one without it) */
  target?: string;
  signal: AbortSignal;
}

/** The backup verb around the run: an absent disk on an unattended run, the report, notify. */
export async function backupVerb(input: BackupVerbInput): Promise<number> {
  const { config, runner, mode, keepOpen, onPlug } = input;
  const unattended = input.scheduled || onPlug;
  const log = (line: string) => process.stderr.write(`${line}\n`);
  namedTargets(config, input.target); // an unknown name is refused before anything
  // backup servers are run like further disks, after the disks
  if (rotates(config) || (config.remotes?.length ?? 0) > 0) return backupVerbRotating(input, log);
  if (unattended && !targetAttached(config, readMountsSync())) {
    log(
      `the backup disk for ${config.target.mountpoint} is not attached: nothing to do now (status warns when backups get old)`,
    );
    for (const p of await staleNotice(runner, config)) log(`! ${p}`);
    // --json keeps its promise of one object even when there is nothing to do
    if (mode.json)
      process.stdout.write(
        jsonText({
          ok: true,
          dryRun: !runner.changesTakeEffect,
          target: config.target.mountpoint,
          sources: [],
          warnings: [],
          skipped: 'the backup disk is not attached',
          exitCode: 0,
        }),
      );
    return 0;
  }
  const report = await runBackup({
    config,
    sources: input.sources,
    runner,
    mode,
    keepOpen,
    closeIdleBelow: unattended,
    force: input.force,
    signal: input.signal,
  });
  if (mode.json) process.stdout.write(jsonText(report));
  else for (const line of summaryLines(report)) log(line);
  for (const p of await notify(runner, config, report.ok ? 'success' : 'failure', { ...report })) log(`! ${p}`);
  if (unattended) for (const p of await staleNotice(runner, config)) log(`! ${p}`);
  if (onPlug && report.ok && !keepOpen)
    log(
      report.leftRunning
        ? `the backup disk is not closed: ${report.leftRunning}; unplug it once that is done`
        : `the backup disk is closed: you may unplug it`,
    );
  return report.exitCode;
}

/** Several disks: each attached one (or the one named); the report per disk; disks away are named. */
async function backupVerbRotating(input: BackupVerbInput, log: (line: string) => void): Promise<number> {
  const { config, runner, mode, keepOpen, onPlug } = input;
  const unattended = input.scheduled || onPlug;
  const report = await backUpEachTarget({ ...input, unattended, log });
  if (report === undefined) {
    const which =
      input.target ??
      targetsOf(config)
        .map((t) => t.name)
        .join(', ');
    log(`no backup disk is attached (${which}): nothing to do now (status warns when backups get old)`);
    for (const p of await staleNotice(runner, config)) log(`! ${p}`);
    // --json keeps its promise of one object even when there is nothing to do
    if (mode.json)
      process.stdout.write(
        jsonText({
          ok: true,
          dryRun: !runner.changesTakeEffect,
          targets: [],
          skipped: `no backup disk is attached (${which})`,
          exitCode: 0,
        }),
      );
    return 0;
  }
  if (mode.json) process.stdout.write(jsonText(report));
  else for (const line of rotationLines(report)) log(line);
  for (const p of await notify(runner, config, report.ok ? 'success' : 'failure', { ...report })) log(`! ${p}`);
  if (unattended) for (const p of await staleNotice(runner, config)) log(`! ${p}`);
  if (onPlug && report.ok && !keepOpen) {
    const left = report.targets.filter((t) => t.leftRunning);
    log(
      left.length > 0
        ? `not closed: ${left.map((t) => `${t.name}: ${t.leftRunning}`).join('; ')}; unplug once that is done`
        : `the backup disk${report.targets.length > 1 ? 's are' : ' is'} closed: you may unplug ${report.targets.length > 1 ? 'them' : 'it'}`,
    );
  }
  return report.exitCode;
}
