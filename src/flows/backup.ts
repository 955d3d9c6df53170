import { Listr, type ListrTaskWrapper } from 'listr2';
import type { SourceConfig, VaultConfig } from '../config/config.js';
import { errorMessage, ExitCode, InterruptedError, VaultError } from '../core/errors.js';
import type { MountEntry } from '../core/mountinfo.js';
import { listSubvolumes, type Subvolume } from '../btrfs/subvolumes.js';
import { acquireLock } from '../system/lock.js';
import { readMounts } from '../system/mounts.js';
import type { Runner } from '../system/runner.js';
import { filesystemLayer } from '../stack/filesystem.js';
import type { StackContext } from '../stack/layer.js';
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
  signal?: AbortSignal;
  lockDir?: string;
}

export interface SourceReport {
  source: string;
  name: string;
  status: 'ok' | 'failed' | 'not-run';
  snapshot?: string;
  mode?: 'full' | 'incremental';
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
  /** set when the whole run failed before or around the transfers (target, lock, interrupt) */
  error?: string;
  exitCode: number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Task = ListrTaskWrapper<any, any, any>;

/** backup = lock -> check sources -> open stack -> each source -> close what was opened. */
export async function runBackup(opts: BackupOptions): Promise<BackupReport> {
  const { config, runner, mode } = opts;
  const reports: SourceReport[] = opts.sources.map((s) => ({ source: s.path, name: s.name, status: 'not-run', cleaned: [], warnings: [] }));
  const report: BackupReport = { ok: false, dryRun: runner.dryRun, target: config.target.mountpoint, sources: reports, exitCode: ExitCode.ok };
  const lock = runner.dryRun ? undefined : acquireLock(config.file, opts.lockDir);
  const ctx: StackContext = { runner, config, mounts: readMounts };
  const checked = new Map<SourceReport, CheckedSource>();
  const listings = new Map<string, Promise<Subvolume[]>>();
  let stack: OpenedStack | undefined;
  let targetMount: MountEntry | undefined;
  let fatal: unknown;

  const fail = (r: SourceReport, err: unknown) => {
    r.status = 'failed';
    r.error = errorMessage(err);
    if (err instanceof VaultError) {
      r.fix = err.fix;
      r.exitCode = err.exitCode;
    } else r.exitCode = ExitCode.failed;
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
          // each source filesystem's listing starts now, while the target opens: it only reads
          for (const c of checked.values()) {
            if (listings.has(c.mount.mountPoint)) continue;
            const listing = listSubvolumes(runner, c.mount);
            listing.catch(() => {}); // awaited by the source's task; unused if the target fails
            listings.set(c.mount.mountPoint, listing);
          }
          if (checked.size === 0) throw new Error(reports.map((r) => `${r.source}: ${r.error}`).join('\n'));
        },
      },
      {
        title: `Open backup target ${config.target.mountpoint}`,
        enabled: () => checked.size > 0,
        task: async (_c: unknown, task: Task) => {
          try {
            stack = await openStack(ctx, (layer, outcome) => (task.output = `${layer}: ${outcome}`));
            targetMount = await filesystemLayer.mountOf(ctx);
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
            const outcome = await backupSource(checked.get(r)!, {
              runner,
              targetMount: targetMount!,
              signal: opts.signal,
              step: (text) => (task.output = text),
              sourceListing: listings.get(checked.get(r)!.mount.mountPoint),
              knownSources: [...config.sources, ...opts.sources],
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
        enabled: () => stack !== undefined && stack.opened.length > 0 && !opts.keepOpen,
        task: async () => {
          const left = await closeStack(ctx, stack!);
          if (left.length > 0) throw new Error(`still open: ${left.join('; ')}`);
        },
      },
    ],
    listrOptions(mode),
  );

  try {
    await tasks.run();
  } finally {
    lock?.release();
  }

  if (fatal !== undefined) {
    report.error = errorMessage(fatal);
    report.exitCode = fatal instanceof VaultError ? fatal.exitCode : ExitCode.internal;
    if (fatal instanceof VaultError && fatal.fix) report.error += `\nfix: ${fatal.fix}`;
  } else {
    const failed = reports.filter((r) => r.status === 'failed');
    const codes = new Set(failed.map((r) => r.exitCode));
    report.exitCode = failed.length === 0 ? ExitCode.ok : codes.size === 1 ? [...codes][0]! : ExitCode.failed;
  }
  report.ok = report.exitCode === ExitCode.ok;
  return report;
}

function outcomeFields(o: SourceOutcome): Partial<SourceReport> {
  return { snapshot: o.snapshot, mode: o.mode, parent: o.parent, bytes: o.bytes, seconds: o.seconds, cleaned: o.cleaned, warnings: o.warnings };
}

function describe(o: SourceOutcome, dryRun: boolean): string {
  if (dryRun) return `would back up as ${o.snapshot} (${o.mode}${o.parent ? ` from ${o.parent}` : ''})`;
  const kind = o.mode === 'incremental' ? `incremental from ${o.parent}` : 'full';
  // bytes are sampled while the stream runs: a very short transfer may show none
  const size = o.bytes > 0 ? `${formatBytes(o.bytes)} in ` : '';
  return `${o.snapshot} (${kind}), ${size}${formatDuration(o.seconds * 1000)}`;
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

/** The lines printed after the task list for a person (stderr-free summary). */
export function summaryLines(report: BackupReport): string[] {
  const lines: string[] = [];
  for (const r of report.sources) {
    if (r.status === 'failed') lines.push(`✖ ${r.source}: ${r.error}${r.fix ? `\n  fix: ${r.fix}` : ''}`);
    for (const c of r.cleaned) lines.push(`! ${r.source}: deleted incomplete ${c} left by an interrupted run`);
    for (const w of r.warnings) lines.push(`! ${r.source}: ${w}`);
  }
  if (report.error) lines.push(`✖ ${report.error}`);
  return lines;
}
