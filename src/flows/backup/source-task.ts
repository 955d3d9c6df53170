import { join } from 'node:path';
import { btrfs } from '../../btrfs/commands.js';
import { fullDiskError } from '../../btrfs/full-disk.js';
import { compressedSendSupported, compressedTarget } from '../../btrfs/send-features.js';
import { errorMessage } from '../../core/errors.js';
import { rotates } from '../../config/target-view.js';
import { snapshotName } from '../../core/naming.js';
import { formatBytes, formatDuration, formatProgress } from '../../ui/format.js';
import { progressInterval } from '../../ui/renderer.js';
import { pruneSource } from '../retention/prune-source.js';
import { pinsForRetention } from '../retention/rotation-pins.js';
import type { Task, TargetSession } from '../session/target-session.js';
import type { BackupOptions, SourceReport } from './backup.js';
import { backupSource, type SourceOutcome } from './backup-source.js';
import { infoOfUnchanged, snapshotNamesIn } from './unchanged-by-info.js';
import type { SubvolumeInfo } from '../../btrfs/subvolume-info.js';
import type { Runner } from '../../system/runner.js';
import { keepsEveryName } from '../../core/prune-plan.js';
import type { CheckedSource } from './source-check.js';

// One source's task in a backup run: its backup, then its retention; or, in a dry-run on
// a closed disk, what would run.

/** The whole run's progress: what the sources sent last time is the best guess of this time. */
export interface WholeRun {
  expected: number;
  done: number;
  started: number;
}

/** The source's backup into its report and the task's title, then (only after a backup that worked) its retention. */
export async function backUpSourceTask(
  session: TargetSession<SourceReport>,
  opts: BackupOptions,
  whole: WholeRun,
  r: SourceReport,
  source: CheckedSource,
  task: Task,
): Promise<void> {
  const { config, runner } = opts;
  const outcome = await backUpOnOpenTarget(session, opts, whole, source, task);
  whole.done += outcome.bytes;
  Object.assign(r, outcomeFields(outcome));
  // several disks: the next disk of this run gets this snapshot, not one of its own
  if (outcome.mode !== 'unchanged') opts.madeThisRun?.set(source.name, outcome.snapshot);
  for (const w of outcome.warnings) task.output = `warning: ${w}`;
  task.title = `${r.source}: ${describe(outcome, !runner.changesTakeEffect)}`;
  // only after a backup that worked, with the target open: retention
  if (config.retention) {
    try {
      const names = outcome.byInfo ? unchangedFolders(outcome) : undefined;
      const rotation = pinsForRetention(config, { name: source.name, path: r.source }, (n) =>
        names ? names.source.names.includes(n) : outcome.after.source.some((s) => s.name === n),
      );
      r.warnings.push(...rotation.warnings);
      // nothing new, and the names alone prove retention keeps all: no listing
      if (
        names &&
        keepsEveryName({ ...names.source, rules: config.retention.source, kept: names.latest }) &&
        keepsEveryName({ ...names.target, rules: config.retention.target, kept: names.latest })
      ) {
        r.pruned = { source: [], target: [] };
        return;
      }
      const pruned = await pruneSource({
        otherPins: rotation.otherPins,
        runner,
        snapDir: outcome.snapDir,
        targetDir: outcome.targetDir,
        sourceListing: outcome.byInfo ? await session.sourceListing(source.mount) : outcome.after.source,
        targetListing: outcome.byInfo ? await session.targetListing() : outcome.after.target,
        rules: config.retention,
        progress: (text) => (task.output = text),
        // the backup disk's room is what the next steps need; the source's comes back in the background
        freed: (side, ids) => {
          if (side === 'target') session.frees.add(targetOf(session), ids);
        },
      });
      r.pruned = { source: pruned.source.deleted, target: pruned.target.deleted };
    } catch (err) {
      r.warnings.push(`retention could not delete old snapshots: ${errorMessage(err)}`);
    }
  }
}

const targetOf = (session: TargetSession<SourceReport>) => session.targetMount!.mountPoint;

/** Every source's snapshot and copy read once a run, after every source filesystem's commit. */
const infoOf = new WeakMap<TargetSession<SourceReport>, Promise<ReadonlyMap<string, SubvolumeInfo>>>();
function knownInfo(session: TargetSession<SourceReport>, runner: Runner): Promise<ReadonlyMap<string, SubvolumeInfo>> {
  let known = infoOf.get(session);
  if (!known) {
    const sources = [...session.checked.values()];
    // a failure here is no source's: each then reads its own (and meets its own commit's error)
    known = Promise.all(sources.map((c) => session.sourceCommitted(c.mount)))
      .then(() => infoOfUnchanged(runner, sources, targetOf(session)))
      .catch(() => new Map<string, SubvolumeInfo>());
    infoOf.set(session, known);
  }
  return known;
}

/** An unchanged source's two folders by name, for retention's proof that it keeps all. */
function unchangedFolders(o: SourceOutcome) {
  const now = new Date();
  return {
    source: { names: snapshotNamesIn(o.snapDir).names, now },
    target: { names: o.targetNames ?? snapshotNamesIn(o.targetDir).names, now },
    latest: new Set([o.snapshot]),
  };
}

async function backUpOnOpenTarget(
  session: TargetSession<SourceReport>,
  opts: BackupOptions,
  whole: WholeRun,
  source: CheckedSource,
  task: Task,
): Promise<SourceOutcome> {
  const { config, runner, mode, signal, sources, force } = opts;
  const targetMount = session.targetMount!;
  const compressedSend = compressedTarget(targetMount) && (await compressedSendSupported(runner));
  return backupSource(source, {
    runner,
    host: config.host,
    targetMount,
    mounts: session.mounts,
    signal,
    stallMs: config.stallMs,
    step: (text) => (task.output = text),
    sourceListing: () => session.sourceListing(source.mount),
    targetListing: () => session.targetListing(),
    sourceCommitted: () => session.sourceCommitted(source.mount),
    knownInfo: () => knownInfo(session, runner),
    knownSources: [...config.sources, ...sources],
    force,
    minFree: config.target.minFree,
    keepLast: config.retention?.target.keepLast,
    compressedSend,
    // min_free measures the free space: what retention deleted before must show in it
    roomFreed: () => session.frees.settle(runner, targetMount.mountPoint),
    rotating: rotates(config),
    madeThisRun: opts.madeThisRun?.get(source.name),
    otherTargetDirs: opts.otherMountpoints?.map((m) => join(m, source.name)),
    progress: throttle(
      progressInterval(mode),
      (bytes, ms) => (task.output = `${formatProgress(bytes, ms)}${wholeRun(whole, bytes)}`),
    ),
  }).catch((err: unknown) => {
    // a write of ours on a full backup disk: the full-disk message and its fix
    throw fullDiskError(err, session.targetMount!.mountPoint, join(session.targetMount!.mountPoint, source.name));
  });
}

/** A dry-run on a closed disk: what would run, without a disk to look at. */
export async function backUpOnPaper(
  { config, runner }: BackupOptions,
  r: SourceReport,
  source: CheckedSource,
  task: Task,
): Promise<void> {
  const name = snapshotName(new Date(), []);
  const snapshot = join(source.snapshotDir, name);
  await runner.run(btrfs.snapshot(source.real, snapshot));
  runner.note('the parent is chosen once the disk is open: the newest snapshot on both sides, else a full send');
  await runner.pipe(btrfs.send(snapshot), btrfs.receive(join(config.target.mountpoint, source.name)));
  task.title = `${r.source}: would back up as ${name} (full or incremental is decided once the disk is open)`;
}

function outcomeFields(o: SourceOutcome): Partial<SourceReport> {
  return {
    snapshot: o.snapshot,
    snapshotUuid: o.after.source.find((s) => s.name === o.snapshot)?.uuid || undefined,
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
function wholeRun(whole: WholeRun, current: number): string {
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
