import { realpathSync } from 'node:fs';
import { Listr, type ListrTaskWrapper } from 'listr2';
import type { SourceConfig, VaultConfig } from '../config/config.js';
import { errorMessage, ExitCode, InterruptedError, TargetError, VaultError } from '../core/errors.js';
import type { MountEntry } from '../core/mountinfo.js';
import { listSourceSubvolumes, type Subvolume } from '../btrfs/subvolumes.js';
import { hostRecordFile, readHostRecord, writeHostRecord } from '../system/host-record.js';
import { acquireLocks, type Lock, type LockKey } from '../system/lock.js';
import { readMounts } from '../system/mounts.js';
import type { Runner } from '../system/runner.js';
import { filesystemLayer } from '../stack/filesystem.js';
import type { StackContext } from '../stack/layer.js';
import { clearOpenRecord, readOpenRecord, writeOpenRecord } from '../stack/open-record.js';
import { closeStack, openStack, type OpenedStack } from '../stack/stack.js';
import { formatBytes, formatDuration, formatProgress } from '../ui/format.js';
import { listrOptions, progressInterval, type OutputMode } from '../ui/renderer.js';
import { backupSource, type SourceOutcome } from './backup-source.js';
import { checkSource, type CheckedSource } from './source-check.js';

export interface BackupOptions {
  config: VaultConfig;
  sources: SourceConfig[];
  runner: Runner;
  mode: OutputMode;
  keepOpen: boolean;
  /** a new snapshot and transfer even for a source that has not changed */
  force?: boolean;
  signal?: AbortSignal;
  lockDir?: string;
}

export interface SourceReport {
  source: string;
  name: string;
  status: 'ok' | 'failed' | 'not-run';
  snapshot?: string;
  mode?: 'full' | 'incremental' | 'unchanged';
  parent?: string;
  bytes?: number;
  seconds?: number;
  cleaned: string[];
  warnings: string[];
  error?: string;
  fix?: string;
  exitCode?: number;
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
  exitCode: number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Task = ListrTaskWrapper<any, any, any>;

/** backup = check sources -> lock -> open stack -> each source -> close what was opened. */
export async function runBackup(opts: BackupOptions): Promise<BackupReport> {
  const { config, runner, mode } = opts;
  const reports: SourceReport[] = opts.sources.map((s) => ({ source: s.path, name: s.name, status: 'not-run', cleaned: [], warnings: [] }));
  const report: BackupReport = { ok: false, dryRun: runner.dryRun, target: config.target.mountpoint, sources: reports, warnings: [], exitCode: ExitCode.ok };
  const ctx: StackContext = { runner, config, mounts: readMounts };
  const checked = new Map<SourceReport, CheckedSource>();
  const listings = new Map<string, Promise<Subvolume[]>>();
  const locks: Lock[] = [];
  const mp = config.target.mountpoint;
  let stack: OpenedStack | undefined;
  let targetMount: MountEntry | undefined;
  let mounts: MountEntry[] = [];
  let lockedFs: string | undefined;
  let fatal: unknown;
  let closeError: unknown;

  const fail = (r: SourceReport, err: unknown) => {
    r.status = 'failed';
    r.error = errorMessage(err);
    if (err instanceof VaultError) {
      r.fix = err.fix;
      r.exitCode = err.exitCode;
    } else r.exitCode = ExitCode.failed;
  };
  const lock = async (keys: LockKey[]) => {
    if (!runner.dryRun) locks.push(await acquireLocks(runner, keys, `config ${config.file}`, opts.lockDir));
  };

  const tasks = new Listr<unknown, any, any>(
    [
      {
        title: 'Check sources',
        task: async (_c: unknown, task: Task) => {
          const mounts = await readMounts();
          for (const [i, s] of opts.sources.entries()) {
            try {
              checked.set(reports[i]!, await checkSource(s, mounts));
            } catch (err) {
              fail(reports[i]!, err);
            }
          }
          task.title = `Check sources: ${checked.size} of ${opts.sources.length} ready`;
          if (checked.size === 0) throw new Error(reports.map((r) => `${r.source}: ${r.error}`).join('\n'));
          try {
            // what other runs share with this one: the target (its filesystem too, when it
            // is mounted already: one lock process instead of two), and each source
            const mounted = mounts.filter((m) => m.mountPoint === mp).at(-1);
            if (mounted) lockedFs = mounted.device;
            await lock([
              { what: `the backup target ${mp}`, key: `target ${resolved(mp)}` },
              ...(mounted ? [targetFsKey(mounted)] : []),
              ...[...checked.values()].map((c) => ({ what: `the source ${c.path}`, key: `source ${c.mount.device} ${c.real}` })),
            ]);
          } catch (err) {
            fatal = err;
            throw err;
          }
          // each source filesystem's listing starts now, while the target opens: it only reads
          for (const c of checked.values()) {
            if (listings.has(c.mount.mountPoint)) continue;
            const listing = listSourceSubvolumes(runner, c.mount);
            listing.catch(() => {}); // awaited by the source's task; unused if the target fails
            listings.set(c.mount.mountPoint, listing);
          }
        },
      },
      {
        title: `Open backup target ${mp}`,
        enabled: () => checked.size > 0 && fatal === undefined,
        task: async (_c: unknown, task: Task) => {
          try {
            // a run killed before it closed what it opened left this; we hold the lock, so it is dead
            const leftover = runner.dryRun ? undefined : readOpenRecord(mp);
            stack = await openStack(
              ctx,
              (layer, outcome) => {
                task.output = `${layer}: ${outcome}`;
                if (outcome === 'opened' && !runner.dryRun && !readOpenRecord(mp)) writeOpenRecord(mp, { from: layer, pid: process.pid });
              },
              undefined,
              leftover?.from,
            );
            mounts = await readMounts();
            targetMount = await filesystemLayer.mountOf({ ...ctx, mounts: async () => mounts });
            if (targetMount) {
              if (targetMount.device !== lockedFs) await lock([targetFsKey(targetMount)]);
              if (targetMount.readOnly) {
                throw new TargetError(`the backup filesystem at ${mp} is mounted read-only; nothing was written`, `remount it writable (mount -o remount,rw ${mp}); if btrfs made it read-only after an error, check: dmesg | grep -i btrfs`);
              }
            }
          } catch (err) {
            fatal = err;
            throw err;
          }
        },
      },
      ...reports.map((r) => ({
        title: `Back up ${r.source}`,
        enabled: () => checked.has(r),
        skip: () => (fatal !== undefined || !targetMount ? 'not run: the target is not open' : false),
        task: async (_c: unknown, task: Task) => {
          if (opts.signal?.aborted) {
            r.status = 'not-run';
            return task.skip('interrupted');
          }
          try {
            // the mount table as it is now: the target may have been unmounted between sources
            mounts = await readMounts();
            const outcome = await backupSource(checked.get(r)!, {
              runner,
              host: config.host,
              targetMount: targetMount!,
              mounts,
              signal: opts.signal,
              step: (text) => (task.output = text),
              sourceListing: listings.get(checked.get(r)!.mount.mountPoint),
              knownSources: [...config.sources, ...opts.sources],
              force: opts.force,
              progress: throttle(progressInterval(mode), (bytes, ms) => (task.output = formatProgress(bytes, ms))),
            });
            Object.assign(r, outcomeFields(outcome), { status: 'ok' });
            for (const w of outcome.warnings) task.output = `warning: ${w}`;
            task.title = `${r.source}: ${describe(outcome, runner.dryRun)}`;
          } catch (err) {
            fail(r, err);
            if (err instanceof InterruptedError) fatal = err;
            throw err;
          }
        },
      })),
      {
        title: 'Close backup target',
        enabled: () => stack !== undefined && stack.opened.length > 0,
        task: async (_c: unknown, task: Task) => {
          if (opts.keepOpen) {
            if (!runner.dryRun) clearOpenRecord(mp); // kept open on purpose: nobody owes a close
            return task.skip('kept open (-b)');
          }
          const left = await closeStack(ctx, stack!);
          if (left.length > 0) {
            closeError = new TargetError(`the backup target could not be closed after the run; still open:\n  ${left.join('\n  ')}`, 'see the first line for why, then run: btrfs-vault close');
            throw closeError;
          }
          if (!runner.dryRun) clearOpenRecord(mp);
        },
      },
    ],
    listrOptions(mode),
  );

  try {
    await tasks.run();
    // a signal while checking or opening stopped the run before any source ran
    const whole = fatal ?? closeError ?? (opts.signal?.aborted ? opts.signal.reason : undefined);
    if (!runner.dryRun && whole === undefined) {
      for (const r of reports.filter((x) => x.status === 'not-run' && checked.has(x))) {
        fail(r, new TargetError(`${r.source} was not backed up: the backup target was not open`, 'run: btrfs-vault open, and see what it says'));
      }
    }
    if (whole !== undefined) {
      report.error = errorMessage(whole);
      if (whole instanceof VaultError) report.fix = whole.fix;
    }
    report.exitCode = runExitCode(reports, whole);
    report.ok = report.exitCode === ExitCode.ok;
    // written while the locks are held; a run refused at the lock did nothing and writes nothing
    if (!runner.dryRun && locks.length > 0) {
      try {
        remember(config.file, report, targetMount !== undefined && fatal === undefined);
      } catch (err) {
        report.warnings.push(`the host's record of this run (${hostRecordFile(config.file)}) could not be written: ${errorMessage(err)}; status will not show it`);
      }
    }
  } finally {
    for (const l of locks.reverse()) await l.release();
  }
  return report;
}

/** The host's record (for status, with the disk away): each source's last success or failure. */
function remember(configFile: string, report: BackupReport, targetSeen: boolean): void {
  const record = readHostRecord(configFile);
  const now = new Date().toISOString();
  if (targetSeen) record.targetSeen = now;
  record.lastRun = { at: now, exitCode: report.exitCode };
  for (const r of report.sources) {
    const prev = record.sources[r.name] ?? { path: r.source };
    if (r.status === 'ok') {
      record.sources[r.name] = { ...prev, path: r.source, lastSuccess: now, snapshot: r.snapshot, mode: r.mode, bytes: r.bytes, seconds: r.seconds };
    } else if (r.status === 'failed') {
      record.sources[r.name] = { ...prev, path: r.source, lastFailure: now, lastError: r.error };
    }
  }
  writeHostRecord(record);
}

/**
 * A run's exit code: a failure of the whole run (target, lock, signal, close) wins;
 * then a source's own code (2 bad input, 3 target) only when no source wrote
 * anything and all failed alike; any other mix is 1.
 */
export function runExitCode(reports: readonly Pick<SourceReport, 'status' | 'exitCode'>[], whole?: unknown): number {
  if (whole !== undefined) return whole instanceof VaultError ? whole.exitCode : ExitCode.internal;
  const failed = reports.filter((r) => r.status === 'failed');
  if (failed.length === 0) return ExitCode.ok;
  const codes = new Set(failed.map((r) => r.exitCode ?? ExitCode.failed));
  const wroteSomething = reports.some((r) => r.status === 'ok');
  return !wroteSomething && codes.size === 1 ? [...codes][0]! : ExitCode.failed;
}

/** The backup filesystem, whatever mount point or config reaches it. */
function targetFsKey(m: MountEntry): LockKey {
  return { what: `the backup filesystem ${m.source}`, key: `target-fs ${m.device}` };
}

/** A mount point as the mount table will show it (symlinks resolved when it exists). */
function resolved(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return path;
  }
}

function outcomeFields(o: SourceOutcome): Partial<SourceReport> {
  return { snapshot: o.snapshot, mode: o.mode, parent: o.parent, bytes: o.bytes, seconds: o.seconds, cleaned: o.cleaned, warnings: o.warnings };
}

function describe(o: SourceOutcome, dryRun: boolean): string {
  if (o.mode === 'unchanged') return `unchanged since ${o.snapshot}: no new snapshot (--force makes one)`;
  if (dryRun) return `would back up as ${o.snapshot} (${o.mode}${o.parent ? ` from ${o.parent}` : ''})`;
  const kind = o.mode === 'incremental' ? `incremental from ${o.parent}` : 'full';
  return `${o.snapshot} (${kind}), ${formatBytes(o.bytes)} in ${formatDuration(o.seconds * 1000)}`;
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
  }
  for (const w of report.warnings) lines.push(`! ${w}`);
  if (report.error) lines.push(`✖ ${report.error}${report.fix ? `\nfix: ${report.fix}` : ''}`);
  return lines;
}
