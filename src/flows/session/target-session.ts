import { realpathSync } from 'node:fs';
import type { SourceConfig, VaultConfig } from '../../config/config.js';
import {
  errorMessage,
  ExitCode,
  fromNotRoot,
  fromPrompt,
  InterruptedError,
  TargetError,
  VaultError,
} from '../../core/errors.js';
import type { MountEntry } from '../../core/mountinfo.js';
import { PendingFrees } from '../../btrfs/freed-space.js';
import { commitSource, listSubvolumes, listTargetSubvolumes, type Subvolume } from '../../btrfs/subvolumes.js';
import { acquireLocks, type Lock, type LockKey } from '../../system/lock.js';
import { readMounts } from '../../system/mounts.js';
import type { Runner } from '../../system/runner.js';
import { filesystemLayer } from '../../stack/filesystem.js';
import { raidLayer, type RaidState } from '../../stack/raid.js';
import { readHostRecord } from '../../system/host-record.js';
import type { StackContext } from '../../stack/layer.js';
import { clearOpenRecord, readOpenRecord, writeOpenRecord } from '../../stack/open-record.js';
import { closeStack, hasLayer, openStack, type OpenedStack } from '../../stack/stack.js';
import { checkSource, type CheckedSource } from '../backup/source-check.js';
import { runTasks, type OutputMode, type Task, type TaskSpec as ListrTask } from '../../ui/renderer.js';

export type { Task } from '../../ui/renderer.js';

/** What every run that works on the backup target reports per source. */
export interface SourceResult {
  source: string;
  name: string;
  status: 'ok' | 'failed' | 'not-run';
  warnings: string[];
  error?: string;
  fix?: string;
  exitCode?: number;
}

/**
 * The frame every flow on the backup target shares (backup, prune): check the sources
 * (no writes), lock the target and each source, open the stack (adopting what a killed
 * run left open), lock the target's filesystem and refuse a read-only one, one task per
 * source, close what was opened. Each is a listr2 task; the flow puts its own work
 * between open and close.
 */
export class TargetSession<R extends SourceResult> {
  readonly ctx: StackContext;
  readonly checked = new Map<R, CheckedSource>();
  /** each source filesystem's commit (generations current), started right after the locks */
  private readonly commits = new Map<string, Promise<void>>();
  /** each source filesystem's listing: started while the target opens, or (listLate) when first asked for */
  private readonly listings = new Map<string, Promise<readonly Subvolume[]>>();
  targetMount?: MountEntry;
  /** the mount table, fresh before each source's task */
  mounts: MountEntry[] = [];
  /** the run failed as a whole (lock, target, signal) */
  fatal: unknown;
  closeError: unknown;
  /** the array was whole ([UU]) while open */
  mirrored = false;
  /** the mirror lost a member: said in the run's report */
  arrayWarning?: string;
  /** a layer the close left up, and why (an array's resync): said in the run's report */
  leftRunning?: string;
  /** what the sources' retention deleted: its space waited for once, before the close */
  readonly frees = new PendingFrees();
  private stack?: OpenedStack;
  private readonly locks: Lock[] = [];
  private lockedFs?: string;
  /** the backup filesystem's listing, started with the sources' when it was mounted already */
  private earlyTarget?: { mount: MountEntry; listing: Promise<readonly Subvolume[]> };
  private target?: Promise<readonly Subvolume[]>;

  constructor(
    readonly config: VaultConfig,
    readonly runner: Runner,
    readonly sources: readonly SourceConfig[],
    readonly results: R[],
    private readonly opts: {
      signal?: AbortSignal;
      lockDir?: string;
      keepOpen?: boolean;
      verb: string;
      extraLocks?: LockKey[];
      closeIdleBelow?: boolean;
      /**
       * list the filesystems only when a source asks (backup: a source with nothing to do
       * answers from its own folders, and a listing grows with every source's history)
       */
      listLate?: boolean;
    },
  ) {
    this.ctx = { runner, config, mounts: readMounts };
  }

  fail(r: R, thrown: unknown): void {
    const err = fromNotRoot(thrown, process.geteuid?.());
    r.status = 'failed';
    r.error = errorMessage(err);
    if (err instanceof VaultError) {
      r.fix = err.fix;
      r.exitCode = err.exitCode;
    } else r.exitCode = ExitCode.failed;
  }

  /** A dry-run opened the stack only on paper: the disk's layers are not really there. */
  get onPaper(): boolean {
    return this.stack?.onPaper === true;
  }

  /** Did it take its locks? A run refused at the lock did nothing, and must not write records. */
  get locked(): boolean {
    return this.locks.length > 0;
  }

  checkTask(): ListrTask {
    return {
      title: 'Check sources',
      task: async (_c: unknown, task: Task) => {
        const mounts = await readMounts();
        for (const [i, s] of this.sources.entries()) {
          try {
            this.checked.set(this.results[i]!, await checkSource(s, mounts, this.config.target.mountpoint));
          } catch (err) {
            this.fail(this.results[i]!, err);
          }
        }
        task.title =
          this.sources.length > 0
            ? `Check sources: ${this.checked.size} of ${this.sources.length} ready`
            : 'Lock the backup target';
        if (this.checked.size === 0 && this.sources.length > 0)
          throw new Error(this.results.map((r) => `${r.source}: ${r.error}`).join('\n'));
        const mp = this.config.target.mountpoint;
        // what other runs share with this one: the target (its filesystem too, when it
        // is mounted already: one lock process instead of two), and each source
        const mounted = mounts.filter((m) => m.mountPoint === mp).at(-1);
        try {
          if (mounted) this.lockedFs = mounted.device;
          await this.lock([
            targetLockKey(mp),
            ...(mounted ? [targetFsKey(mounted)] : []),
            ...[...this.checked.values()].map((c) => ({
              what: `the source ${c.path}`,
              key: `source ${c.mount.device} ${c.real}`,
            })),
            ...(this.opts.extraLocks ?? []),
          ]);
        } catch (err) {
          this.fatal = err;
          throw err;
        }
        // the sources' commits start now, while the target opens; the listings too (they
        // only read), the target's when it is mounted already (the longest: with read-only
        // flags, and every source's backups); openTask checks it is the mount the run works on
        for (const c of this.checked.values()) {
          // awaited by the source's task (each caught where it is made)
          if (this.opts.listLate) void this.sourceCommitted(c.mount);
          else void this.sourceListing(c.mount);
        }
        if (mounted && !this.opts.listLate) {
          const listing = listTargetSubvolumes(this.runner, mounted);
          listing.catch(() => {}); // awaited through targetListing(); unused if the target fails
          this.earlyTarget = { mount: mounted, listing };
        }
      },
    };
  }

  openTask(): ListrTask {
    const mp = this.config.target.mountpoint;
    return {
      title: `Open backup target ${mp}`,
      // a flow without sources (restore to a new machine) opens the target all the same
      enabled: () => (this.checked.size > 0 || this.sources.length === 0) && this.fatal === undefined,
      task: async (_c: unknown, task: Task) => {
        const { runner } = this;
        try {
          // a run killed before it closed what it opened left this; we hold the lock, so it is dead
          // (a dry-run holds none: the record may be a live run's, and is left alone)
          const leftover = this.locked ? readOpenRecord(mp) : undefined;
          this.stack = await openStack(
            this.ctx,
            (layer, outcome) => {
              task.output = `${layer}: ${outcome}`;
              if (outcome === 'opened' && this.locked && !readOpenRecord(mp))
                writeOpenRecord(runner, mp, { from: layer, pid: process.pid });
            },
            undefined,
            leftover?.from,
            this.opts.closeIdleBelow,
          );
          this.mounts = await readMounts();
          this.targetMount = await filesystemLayer.mountOf({ ...this.ctx, mounts: async () => this.mounts });
          if (hasLayer(this.config, raidLayer) && this.locked && !this.onPaper) {
            const raid = (await raidLayer.inspect(this.ctx)) as RaidState;
            this.mirrored = raid.stat?.map === '[UU]';
            const degraded =
              raid.stat?.present !== undefined &&
              raid.stat.wanted !== undefined &&
              raid.stat.present < raid.stat.wanted;
            // degraded by design until the second disk is added; a warning once a member is missing or failed
            if (
              degraded &&
              (raid.absent?.failed.length || raid.absent?.leftOut.length || readHostRecord(this.config.file).mirrored)
            ) {
              this.arrayWarning = `the mirror is degraded, the backups go to one disk only: ${raid.detail}`;
            }
          }
          if (this.targetMount) {
            if (this.targetMount.device !== this.lockedFs) await this.lock([targetFsKey(this.targetMount)]);
            if (this.targetMount.readOnly) {
              throw new TargetError(
                `the backup filesystem at ${mp} is mounted read-only; nothing was written`,
                `remount it writable (mount -o remount,rw ${mp}); if btrfs made it read-only after an error, check: dmesg | grep -i btrfs`,
              );
            }
          }
        } catch (err) {
          this.fatal = err;
          throw err;
        }
      },
    };
  }

  /**
   * A source filesystem committed once a run: a subvolume's generation moves only when a
   * transaction commits, so writes still in memory would look like "no change".
   */
  sourceCommitted(mount: MountEntry): Promise<void> {
    let commit = this.commits.get(mount.mountPoint);
    if (!commit) {
      commit = commitSource(this.runner, mount);
      commit.catch(() => {}); // awaited by the source's task; unused if the target fails
      this.commits.set(mount.mountPoint, commit);
    }
    return commit;
  }

  /** A source filesystem's subvolumes, listed once a run, after its commit. */
  sourceListing(mount: MountEntry): Promise<readonly Subvolume[]> {
    let listing = this.listings.get(mount.mountPoint);
    if (!listing) {
      listing = this.sourceCommitted(mount).then(() => listSubvolumes(this.runner, mount));
      listing.catch(() => {}); // awaited by the source's task; unused if the target fails
      this.listings.set(mount.mountPoint, listing);
    }
    return listing;
  }

  /**
   * The backup filesystem's subvolumes, listed once a run (each source looks at its own
   * folder only): the listing started right after the locks when it is of the mount the
   * run opened, else one now.
   */
  targetListing(): Promise<readonly Subvolume[]> {
    const m = this.targetMount!;
    const early = this.earlyTarget;
    this.target ??= early && sameMount(early.mount, m) ? early.listing : listTargetSubvolumes(this.runner, m);
    return this.target;
  }

  /**
   * One source's work, run only with the target open; its failure is the source's. In a
   * dry-run on a closed stack (opened only on paper), `onPaper` says what would happen
   * without looking at a disk that is not there.
   */
  sourceTask(
    r: R,
    title: string,
    work: (source: CheckedSource, task: Task) => Promise<void>,
    onPaper?: (source: CheckedSource, task: Task) => Promise<void>,
  ): ListrTask {
    return {
      title,
      enabled: () => this.checked.has(r),
      skip: () =>
        this.fatal !== undefined || (!this.targetMount && !(this.onPaper && onPaper))
          ? 'not run: the target is not open'
          : false,
      task: async (_c: unknown, task: Task) => {
        if (this.opts.signal?.aborted) {
          r.status = 'not-run';
          return task.skip('interrupted');
        }
        try {
          // the mount table as it is now: the target may have been unmounted between sources
          this.mounts = await readMounts();
          if (this.onPaper && onPaper) await onPaper(this.checked.get(r)!, task);
          else await work(this.checked.get(r)!, task);
          r.status = 'ok';
        } catch (err) {
          this.fail(r, err);
          if (err instanceof InterruptedError) this.fatal = err;
          throw err;
        }
      },
    };
  }

  /** The one task of a flow with a single result of its own (restore, files), run with the target open. */
  ownTask(result: SourceResult, title: string, work: (task: Task) => Promise<void>): ListrTask {
    return {
      title,
      enabled: () => this.targetMount !== undefined && this.fatal === undefined,
      task: async (_c: unknown, task: Task) => {
        try {
          await work(task);
          result.status = 'ok';
        } catch (err) {
          this.fail(result as R, err);
          throw err;
        }
      },
    };
  }

  /** The space of what the run deleted, waited for once for all sources, each filesystem at the same time. */
  freedTask(): ListrTask {
    return {
      title: 'Wait until btrfs has freed the space of what was deleted',
      enabled: () => this.frees.pending && this.runner.changesTakeEffect && this.opts.signal?.aborted !== true,
      task: async (_c: unknown, task: Task) => {
        // the deletions are done; only when their room shows is late
        await this.frees.settle(this.runner).catch((err: unknown) => {
          task.title = `Wait until btrfs has freed the space of what was deleted: ${errorMessage(err)}`;
        });
      },
    };
  }

  closeTask(): ListrTask {
    const mp = this.config.target.mountpoint;
    return {
      title: 'Close backup target',
      enabled: () => this.stack !== undefined && this.stack.opened.length > 0,
      task: async (_c: unknown, task: Task) => {
        if (this.opts.keepOpen) {
          if (this.locked) clearOpenRecord(this.runner, mp); // kept open on purpose: nobody owes a close
          return task.skip('kept open (-b)');
        }
        let kept: string | undefined;
        const left = await closeStack(this.ctx, this.stack!, (layer, why) => {
          kept = layer;
          this.leftRunning = why;
        });
        if (left.length > 0) {
          this.closeError = new TargetError(
            `the backup target could not be closed after the run; still open:\n  ${left.join('\n  ')}`,
            'see the first line for why, then run: btrfs-vault close',
          );
          throw this.closeError;
        }
        // the open record is kept by a run that holds the lock (a dry-run holds none)
        if (!this.locked) return;
        // the next run closes what was left running, once its work is done
        if (kept) writeOpenRecord(this.runner, mp, { from: kept, pid: process.pid });
        else clearOpenRecord(this.runner, mp);
        if (kept) task.title = `Close backup target: ${kept} left running`;
      },
    };
  }

  /**
   * After the task list: the run's failure as a whole (a signal while checking or
   * opening included), and each checked source that never ran is a failure of its own.
   */
  outcome(): { whole: unknown; exitCode: number } {
    const whole: unknown = fromNotRoot(
      this.fatal ?? this.closeError ?? (this.opts.signal?.aborted ? (this.opts.signal.reason as unknown) : undefined),
      process.geteuid?.(),
    );
    // a dry-run may leave its sources unrun: a disk opened on paper cannot be read
    if (this.runner.changesTakeEffect && whole === undefined) {
      for (const r of this.results.filter((x) => x.status === 'not-run' && this.checked.has(x))) {
        this.fail(
          r,
          new TargetError(
            `${r.source}: not ${this.opts.verb}: the backup target was not open`,
            'run: btrfs-vault open, and see what it says',
          ),
        );
      }
    }
    return { whole, exitCode: runExitCode(this.results, whole) };
  }

  /**
   * Runs the flow's own tasks inside the frame (check, lock, open … close) and fills the
   * run's report: error, fix, exit code. `own`: the flow's single result (restore, files),
   * whose failure is the run's; `adjust`: a flow's last word on the exit code (verify's
   * damage); `whileLocked`: what must happen before the locks go (backup's record);
   * `between`: questions to a person (the restore picker), asked with the locks held and
   * the disk open, outside the task list's drawing: no other run closes the disk under them.
   */
  async run(
    tasks: ListrTask[],
    mode: OutputMode,
    report: { error?: string; fix?: string; exitCode?: number; ok: boolean },
    opts: {
      own?: SourceResult;
      adjust?: (exitCode: number) => number;
      whileLocked?: () => void | Promise<void>;
      between?: () => Promise<void>;
    } = {},
  ): Promise<void> {
    try {
      if (opts.between) {
        await runTasks([this.checkTask(), this.openTask()], mode);
        if (this.targetMount && this.fatal === undefined)
          await opts.between().catch((err: unknown) => void (this.fatal = fromPrompt(err)));
        await runTasks([...tasks, this.freedTask(), this.closeTask()], mode);
      } else await runTasks([this.checkTask(), this.openTask(), ...tasks, this.freedTask(), this.closeTask()], mode);
      const outcome = this.outcome();
      const own =
        opts.own?.status === 'failed'
          ? new VaultError(opts.own.error ?? 'failed', opts.own.exitCode ?? ExitCode.failed, opts.own.fix)
          : undefined;
      const err = outcome.whole ?? own;
      if (err !== undefined) {
        report.error = errorMessage(err);
        report.fix = err instanceof VaultError ? err.fix : undefined;
      }
      const exitCode =
        err === undefined ? outcome.exitCode : err instanceof VaultError ? err.exitCode : ExitCode.internal;
      report.exitCode = opts.adjust ? opts.adjust(exitCode) : exitCode;
      report.ok = report.exitCode === ExitCode.ok;
      await opts.whileLocked?.();
    } finally {
      await this.releaseLocks();
    }
  }

  private async releaseLocks(): Promise<void> {
    for (const l of this.locks.reverse()) await l.release();
  }

  private async lock(keys: LockKey[]): Promise<void> {
    // a run whose changes do not take effect excludes nobody
    if (this.runner.changesTakeEffect)
      this.locks.push(await acquireLocks(this.runner, keys, `config ${this.config.file}`, this.opts.lockDir));
  }
}

/**
 * A run's exit code: a failure of the whole run (target, lock, signal, close) wins;
 * then a source's own code (2 bad input, 3 target) only when no source wrote
 * anything and all failed alike; any other mix is 1.
 */
export function runExitCode(reports: readonly Pick<SourceResult, 'status' | 'exitCode'>[], whole?: unknown): number {
  if (whole !== undefined) return whole instanceof VaultError ? whole.exitCode : ExitCode.internal;
  const failed = reports.filter((r) => r.status === 'failed');
  if (failed.length === 0) return ExitCode.ok;
  const codes = new Set(failed.map((r) => r.exitCode ?? ExitCode.failed));
  const wroteSomething = reports.some((r) => r.status === 'ok');
  return !wroteSomething && codes.size === 1 ? [...codes][0]! : ExitCode.failed;
}

/** The backup target by its mount point, as every run on it locks it (before it is open). */
export function targetLockKey(mountpoint: string): LockKey {
  return { what: `the backup target ${mountpoint}`, key: `target ${resolved(mountpoint)}` };
}

/** The backup filesystem, whatever mount point or config reaches it. */
function targetFsKey(m: MountEntry): LockKey {
  return { what: `the backup filesystem ${m.source}`, key: `target-fs ${m.device}` };
}

function sameMount(a: MountEntry, b: MountEntry): boolean {
  return a.mountPoint === b.mountPoint && a.device === b.device && a.root === b.root;
}

/** A mount point as the mount table will show it (symlinks resolved when it exists). */
function resolved(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return path;
  }
}
