import type { SourceConfig, VaultConfig } from '../../config/config.js';
import { errorMessage, ExitCode, isVaultError } from '../../core/errors.js';
import { currentTarget, targetsOf } from '../../config/target-view.js';
import { hostRecordFile, readHostRecord, updateHostRecord } from '../../system/host-record.js';
import type { Runner } from '../../system/runner.js';
import type { OutputMode } from '../../ui/renderer.js';
import { TargetSession, type SourceResult } from '../session/target-session.js';
import { backUpOnPaper, backUpSourceTask, type WholeRun } from './source-task.js';
import { rememberSources, rememberTarget } from './run-record.js';

export interface BackupOptions {
  config: VaultConfig;
  sources: SourceConfig[];
  runner: Runner;
  mode: OutputMode;
  keepOpen: boolean;
  /** unattended (timer, plug-in): also close what udev brought up below the run's own layers */
  closeIdleBelow?: boolean;
  /** a new snapshot and transfer even for a source that has not changed */
  force?: boolean;
  signal?: AbortSignal;
  lockDir?: string;
  /**
   * several disks, one run: the snapshot each source got for an earlier disk (by source
   * name), sent to the next disks too rather than made again
   */
  madeThisRun?: Map<string, string>;
  /** several disks: the other attached disks' mount points (a new snapshot's name is free there too) */
  otherMountpoints?: readonly string[];
  /** several targets, one run: when it began (the host's record keeps the worst outcome since) */
  runStarted?: Date;
}

export interface SourceReport extends SourceResult {
  snapshot?: string;
  /** the snapshot's UUID: the disk's pin in the host's record (several disks) */
  snapshotUuid?: string;
  mode?: 'full' | 'incremental' | 'unchanged';
  parent?: string;
  bytes?: number;
  seconds?: number;
  cleaned: string[];
  /** what retention deleted after this backup, by name */
  pruned?: { source: string[]; target: string[] };
}

export interface BackupReport {
  ok: boolean;
  dryRun: boolean;
  target: string;
  sources: SourceReport[];
  /** set when the run failed as a whole (target, lock, interrupt, closing the target) */
  error?: string;
  fix?: string;
  /** about the run, not one source (e.g. the host's record could not be written) */
  warnings: string[];
  /** what the close left up on purpose, and why (an array's resync): the disk is not ready to unplug */
  leftRunning?: string;
  exitCode: number;
}

/** backup = check sources -> lock -> open stack -> each source (then its retention) -> close what was opened. */
export async function runBackup(opts: BackupOptions): Promise<BackupReport> {
  const { config, runner, mode } = opts;
  const report = newReport(opts);
  const reports = report.sources;
  const session = new TargetSession(config, runner, opts.sources, reports, {
    signal: opts.signal,
    lockDir: opts.lockDir,
    keepOpen: opts.keepOpen,
    closeIdleBelow: opts.closeIdleBelow,
    verb: 'backed up',
    listLate: true,
  });
  // the whole run's progress: what the sources sent last time is the best guess of this time
  const previous = readHostRecord(config.file).sources;
  const whole: WholeRun = {
    expected: opts.sources.reduce((sum, s) => sum + (previous[s.name]?.bytes ?? 0), 0),
    done: 0,
    started: Date.now(),
  };
  const tasks = reports.map((r) =>
    session.sourceTask(
      r,
      `Back up ${r.source}`,
      (source, task) => backUpSourceTask(session, opts, whole, r, source, task),
      (source, task) => backUpOnPaper(opts, r, source, task),
    ),
  );
  // written while the locks are held; a run refused at the lock did nothing and writes nothing
  await session.run(tasks, mode, report, {
    whileLocked: () => recordRun(session, runner, config, report, opts.runStarted, opts.lockDir),
  });
  return report;
}

/** Every source not run yet, the run not ok yet. */
function newReport({ config, runner, sources }: BackupOptions): BackupReport {
  return {
    ok: false,
    dryRun: !runner.changesTakeEffect,
    target: config.target.mountpoint,
    sources: sources.map((s) => ({ source: s.path, name: s.name, status: 'not-run', cleaned: [], warnings: [] })),
    warnings: [],
    exitCode: ExitCode.ok,
  };
}

/** The session's warnings into the report, and the host's record of the run. */
async function recordRun(
  session: TargetSession<SourceReport>,
  runner: Runner,
  config: VaultConfig,
  report: BackupReport,
  runStarted: Date | undefined,
  lockDir: string | undefined,
): Promise<void> {
  const configFile = config.file;
  if (session.arrayWarning) report.warnings.push(session.arrayWarning);
  if (session.leftRunning) {
    report.leftRunning = session.leftRunning;
    report.warnings.push(session.leftRunning);
  }
  if (!session.locked) return; // a dry-run holds no locks either
  try {
    await remember(
      runner,
      config,
      report,
      session.targetMount !== undefined && session.fatal === undefined,
      session.mirrored,
      runStarted,
      lockDir,
    );
  } catch (err) {
    const fix = isVaultError(err) && err.fix ? ` (fix: ${err.fix})` : '';
    report.warnings.push(
      `the host's record of this run (${hostRecordFile(configFile)}) could not be written: ${errorMessage(err)}${fix}; status will not show it`,
    );
  }
}

/** The host's record (for status, with the disk away): each source's last success or failure. */
async function remember(
  runner: Runner,
  config: VaultConfig,
  report: BackupReport,
  targetSeen: boolean,
  mirrored: boolean,
  runStarted: Date | undefined,
  lockDir: string | undefined,
): Promise<void> {
  await updateHostRecord(
    runner,
    config.file,
    (record) => {
      const now = new Date().toISOString();
      if (targetSeen) record.targetSeen = now;
      rememberTarget(record, currentTarget(config).name, report, targetSeen, now);
      if (mirrored) record.mirrored = true;
      rememberSources(record, report, now, runStarted);
    },
    // one target: every run that writes this config's record holds that target's lock already
    // (a process for a lock is ~10 ms of a no-change run); several: runs on two of them overlap
    { lockDir, lock: targetsOf(config).length + (config.remotes?.length ?? 0) > 1 },
  );
}

/** The lines printed after the task list for a person. */
export function summaryLines(report: BackupReport): string[] {
  const lines: string[] = [];
  for (const r of report.sources) {
    if (r.status === 'failed') lines.push(`✖ ${r.source}: ${r.error}${r.fix ? `\n  fix: ${r.fix}` : ''}`);
    for (const c of r.cleaned) lines.push(`! ${r.source}: deleted incomplete ${c} left by an interrupted run`);
    for (const w of r.warnings) lines.push(`! ${r.source}: ${w}`);
    const pruned = (r.pruned?.source.length ?? 0) + (r.pruned?.target.length ?? 0);
    if (pruned > 0)
      lines.push(
        `  ${r.source}: retention deleted ${r.pruned!.source.length} snapshot(s) and ${r.pruned!.target.length} backup(s)`,
      );
  }
  for (const w of report.warnings) lines.push(`! ${w}`);
  if (report.error) lines.push(`✖ ${report.error}${report.fix ? `\nfix: ${report.fix}` : ''}`);
  return lines;
}
