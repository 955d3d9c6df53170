import type { SourceConfig, VaultConfig } from '../../config/config.js';
import { errorMessage, ExitCode } from '../../core/errors.js';
import { hostRecordFile, readHostRecord, writeHostRecord } from '../../system/host-record.js';
import type { Runner } from '../../system/runner.js';
import { formatBytes, formatDuration, formatProgress } from '../../ui/format.js';
import { progressInterval, type OutputMode } from '../../ui/renderer.js';
import { backupSource, type SourceOutcome } from './backup-source.js';
import { pruneSource } from '../retention/prune-source.js';
import { join } from 'node:path';
import { btrfs } from '../../btrfs/commands.js';
import { snapshotName } from '../../core/naming.js';
import { compressedSendSupported, compressedTarget } from '../../btrfs/send-features.js';
import { TargetSession, type SourceResult } from '../session/target-session.js';
import { fullDiskError } from '../../btrfs/full-disk.js';

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
}

export interface SourceReport extends SourceResult {
  snapshot?: string;
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
  const reports: SourceReport[] = opts.sources.map((s) => ({
    source: s.path,
    name: s.name,
    status: 'not-run',
    cleaned: [],
    warnings: [],
  }));
  const report: BackupReport = {
    ok: false,
    dryRun: !runner.changesTakeEffect,
    target: config.target.mountpoint,
    sources: reports,
    warnings: [],
    exitCode: ExitCode.ok,
  };
  const session = new TargetSession(config, runner, opts.sources, reports, {
    signal: opts.signal,
    lockDir: opts.lockDir,
    keepOpen: opts.keepOpen,
    closeIdleBelow: opts.closeIdleBelow,
    verb: 'backed up',
  });
  // the whole run's progress: what the sources sent last time is the best guess of this time
  const previous = readHostRecord(config.file).sources;
  const whole = {
    expected: opts.sources.reduce((sum, s) => sum + (previous[s.name]?.bytes ?? 0), 0),
    done: 0,
    started: Date.now(),
  };

  await session.run(
    [
      ...reports.map((r) =>
        session.sourceTask(
          r,
          `Back up ${r.source}`,
          async (source, task) => {
            const compressedSend = compressedTarget(session.targetMount!) && (await compressedSendSupported(runner));
            const outcome = await backupSource(source, {
              runner,
              host: config.host,
              targetMount: session.targetMount!,
              mounts: session.mounts,
              signal: opts.signal,
              step: (text) => (task.output = text),
              sourceListing: session.listings.get(source.mount.mountPoint),
              targetListing: session.targetListing(),
              knownSources: [...config.sources, ...opts.sources],
              force: opts.force,
              minFree: config.target.minFree,
              keepLast: config.retention?.target.keepLast,
              compressedSend,
              progress: throttle(
                progressInterval(mode),
                (bytes, ms) => (task.output = `${formatProgress(bytes, ms)}${wholeRun(whole, bytes)}`),
              ),
            }).catch((err: unknown) => {
              // a write of ours on a full backup disk: the full-disk message and its fix
              throw fullDiskError(
                err,
                session.targetMount!.mountPoint,
                join(session.targetMount!.mountPoint, source.name),
              );
            });
            whole.done += outcome.bytes;
            Object.assign(r, outcomeFields(outcome));
            for (const w of outcome.warnings) task.output = `warning: ${w}`;
            task.title = `${r.source}: ${describe(outcome, !runner.changesTakeEffect)}`;
            // only after a backup that worked, with the target open: retention
            if (config.retention) {
              try {
                const pruned = await pruneSource({
                  runner,
                  snapDir: outcome.snapDir,
                  targetDir: outcome.targetDir,
                  sourceListing: outcome.after.source,
                  targetListing: outcome.after.target,
                  rules: config.retention,
                  progress: (text) => (task.output = text),
                });
                r.pruned = { source: pruned.source.deleted, target: pruned.target.deleted };
              } catch (err) {
                r.warnings.push(`retention could not delete old snapshots: ${errorMessage(err)}`);
              }
            }
          },
          async (source, task) => {
            // a dry-run on a closed disk: what would run, without a disk to look at
            const name = snapshotName(new Date(), []);
            const snapshot = join(source.snapshotDir, name);
            await runner.run(btrfs.snapshot(source.real, snapshot));
            runner.note(
              'the parent is chosen once the disk is open: the newest snapshot on both sides, else a full send',
            );
            await runner.pipe(btrfs.send(snapshot), btrfs.receive(join(config.target.mountpoint, source.name)));
            task.title = `${r.source}: would back up as ${name} (full or incremental is decided once the disk is open)`;
          },
        ),
      ),
    ],
    mode,
    report,
    {
      // written while the locks are held; a run refused at the lock did nothing and writes nothing
      whileLocked: () => {
        if (session.arrayWarning) report.warnings.push(session.arrayWarning);
        if (session.leftRunning) {
          report.leftRunning = session.leftRunning;
          report.warnings.push(session.leftRunning);
        }
        if (!session.locked) return; // a dry-run holds no locks either
        try {
          remember(
            runner,
            config.file,
            report,
            session.targetMount !== undefined && session.fatal === undefined,
            session.mirrored,
          );
        } catch (err) {
          report.warnings.push(
            `the host's record of this run (${hostRecordFile(config.file)}) could not be written: ${errorMessage(err)}; status will not show it`,
          );
        }
      },
    },
  );
  return report;
}

/** The host's record (for status, with the disk away): each source's last success or failure. */
function remember(
  runner: Runner,
  configFile: string,
  report: BackupReport,
  targetSeen: boolean,
  mirrored: boolean,
): void {
  const record = readHostRecord(configFile);
  const now = new Date().toISOString();
  if (targetSeen) record.targetSeen = now;
  if (mirrored) record.mirrored = true;
  record.lastRun = { at: now, exitCode: report.exitCode };
  for (const r of report.sources) {
    const prev = record.sources[r.name] ?? { path: r.source };
    if (r.status === 'ok') {
      record.sources[r.name] = {
        ...prev,
        path: r.source,
        lastSuccess: now,
        snapshot: r.snapshot,
        mode: r.mode,
        bytes: r.bytes,
        seconds: r.seconds,
      };
    } else if (r.status === 'failed') {
      record.sources[r.name] = { ...prev, path: r.source, lastFailure: now, lastError: r.error };
    }
  }
  writeHostRecord(runner, record);
}

function outcomeFields(o: SourceOutcome): Partial<SourceReport> {
  return {
    snapshot: o.snapshot,
    mode: o.mode,
    parent: o.parent,
    bytes: o.bytes,
    seconds: o.seconds,
    cleaned: o.cleaned,
    warnings: o.warnings,
  };
}

function describe(o: SourceOutcome, dryRun: boolean): string {
  if (o.mode === 'unchanged') return `unchanged since ${o.snapshot}: no new snapshot (--force makes one)`;
  if (dryRun) return `would back up as ${o.snapshot} (${o.mode}${o.parent ? ` from ${o.parent}` : ''})`;
  const kind = o.mode === 'incremental' ? `incremental from ${o.parent}` : 'full';
  return `${o.snapshot} (${kind}), ${formatBytes(o.bytes)} in ${formatDuration(o.seconds * 1000)}`;
}

/** "; the whole run: 1.2 GiB of about 3.4 GiB (35%), 4m10s left" once there is an estimate. */
function wholeRun(whole: { expected: number; done: number; started: number }, current: number): string {
  if (whole.expected <= 0) return '';
  const sent = whole.done + current;
  const share = Math.min(sent / whole.expected, 0.99);
  const elapsed = Date.now() - whole.started;
  const left = share > 0.02 ? formatDuration((elapsed / share) * (1 - share)) : '?';
  return `; the whole run: ${formatBytes(sent)} of about ${formatBytes(whole.expected)} (${Math.round(share * 100)}%), ${left} left`;
}

function throttle(intervalMs: number, fn: (bytes: number, ms: number) => void): (bytes: number, ms: number) => void {
  let last = 0;
  return (bytes, ms) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    fn(bytes, ms);
  };
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
