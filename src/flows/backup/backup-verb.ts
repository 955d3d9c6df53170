import type { SourceConfig, VaultConfig } from '../../config/config.js';
import { targetAttached } from '../../stack/presence.js';
import { readMountsSync } from '../../system/mounts.js';
import type { Runner } from '../../system/runner.js';
import type { OutputMode } from '../../ui/renderer.js';
import { notify } from '../schedule/notify.js';
import { staleNotice } from '../schedule/stale-notice.js';
import { runBackup, summaryLines } from './backup.js';
import { jsonText } from '../../ui/json-output.js';

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
  signal: AbortSignal;
}

/** The backup verb around the run: an absent disk on an unattended run, the report, notify. */
export async function backupVerb(input: BackupVerbInput): Promise<number> {
  const { config, runner, mode, keepOpen, onPlug } = input;
  const unattended = input.scheduled || onPlug;
  const log = (line: string) => process.stderr.write(`${line}\n`);
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
