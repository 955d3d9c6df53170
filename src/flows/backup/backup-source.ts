import { join } from 'node:path';
import { btrfs } from '../../btrfs/commands.js';
import { claimFolder, ownFolder, resolvedFolder } from '../../btrfs/folders.js';
import { moveLinks } from '../../btrfs/links.js';
import { clearReceiveRecord, writeReceiveRecord } from '../../btrfs/receive-record.js';
import type { Subvolume } from '../../btrfs/subvolumes.js';
import type { MountEntry } from '../../core/mountinfo.js';
import { killPoint } from '../../system/kill-point.js';
import type { Runner } from '../../system/runner.js';
import type { SourceConfig, TargetConfig } from '../../config/config.js';
import { makeRoom } from '../retention/min-free.js';
import { compressedTarget } from '../../btrfs/send-features.js';
import { recover, type Recovered } from './recover.js';
import { planSend, type SendPlan } from './send-plan.js';
import { snapshotAndSend, throwIfAborted, type Sent } from './snapshot-send.js';
import { unchangedByInfo } from './unchanged-by-info.js';
import type { SubvolumeInfo } from '../../btrfs/subvolume-info.js';
import { assertNotOnTarget, type CheckedSource } from './source-check.js';

export interface SourceOutcome {
  snapshot: string;
  /** unchanged: the source has not changed since its newest snapshot, which the target has: nothing was made */
  mode: 'full' | 'incremental' | 'unchanged';
  parent?: string;
  bytes: number;
  seconds: number;
  /** incomplete receives recorded by an earlier, interrupted run, deleted by this one */
  cleaned: string[];
  warnings: string[];
  /** the two folders (resolved) and what is in them now, for prune */
  snapDir: string;
  targetDir: string;
  after: { source: Subvolume[]; target: Subvolume[] };
  /** unchanged, answered without a listing (unchangedByInfo): `after` holds the snapshot and its copy only */
  byInfo?: boolean;
  /** byInfo: the snapshot names the check read in the backup folder */
  targetNames?: string[];
}

export interface BackupSourceDeps {
  runner: Runner;
  /** this host's name: per-source folders are claimed for host and source */
  host: string;
  targetMount: MountEntry;
  /** the mount table, for the folder checks */
  mounts: readonly MountEntry[];
  signal?: AbortSignal;
  /** a transfer that moves no byte for this long is ended ([backup] stall_timeout) */
  stallMs?: number;
  now?: () => Date;
  /** a step (for the task's output) */
  step(text: string): void;
  progress(bytes: number, elapsedMs: number): void;
  /** the source filesystem's subvolumes, listed once a run (each source looks at its own folder only) */
  sourceListing?: () => Promise<readonly Subvolume[]>;
  /** the backup filesystem's subvolumes, likewise */
  targetListing?: () => Promise<readonly Subvolume[]>;
  /** the source filesystem committed once a run: given, a source with nothing to do is answered without a listing */
  sourceCommitted?: () => Promise<void>;
  /** what one call read of every source's snapshot and copy (infoOfUnchanged), after the commits */
  knownInfo?: () => Promise<ReadonlyMap<string, SubvolumeInfo>>;
  /** every configured source: they and their snapshots are backed up on their own, not "nested" */
  knownSources?: readonly Pick<SourceConfig, 'path' | 'snapshotDir'>[];
  /** a new snapshot even when the source has not changed */
  force?: boolean;
  /** free space to keep on the backup disk (target.min_free) */
  minFree?: TargetConfig['minFree'];
  /** min_free never leaves fewer backups than this (retention's target keep_last; default 1) */
  keepLast?: number;
  /** waits until what the run deleted before shows as free space on the target (before min_free measures it) */
  roomFreed?: () => Promise<void>;
  /** compressed extents travel as they are (send protocol 2, a compressed target) */
  compressedSend?: boolean;
  /** several backup disks: a snapshot there already may be sent instead of a new one */
  rotating?: boolean;
  /** several disks: the snapshot of this source this run made for another disk, sent to this one too */
  madeThisRun?: string;
  /** several disks: this source's folders on the other attached disks, where a new snapshot's name must be free too */
  otherTargetDirs?: readonly string[];
}

/** A source's two folders, resolved: its snapshots' on the source, its backups' on the target. */
export interface SourceFolders {
  snapDir: string;
  targetDir: string;
}

/** One source: recover, plan, make room, snapshot and send, commit the links. */
export async function backupSource(source: CheckedSource, deps: BackupSourceDeps): Promise<SourceOutcome> {
  assertNotOnTarget(source, deps.targetMount);
  const folders = await claimFolders(source, deps);
  if (!deps.force && deps.madeThisRun === undefined && deps.sourceCommitted) {
    await deps.sourceCommitted();
    const same = await unchangedByInfo(deps.runner, source, folders, await deps.knownInfo?.());
    if (same) {
      const after = { source: [same.snapshot], target: [same.copy] };
      const nothing = { bytes: 0, seconds: 0, cleaned: [], warnings: [] };
      const outcome = { snapshot: same.snapshot.name, mode: 'unchanged' as const, ...nothing, ...folders, after };
      return { ...outcome, byInfo: true, targetNames: same.targetNames };
    }
  }
  const warnings: string[] = [];
  const recovered = await recover(source, folders, deps, warnings);
  const plan = planSend(source, folders, recovered, deps, warnings);
  throwIfAborted(deps.signal);
  const { cleaned, snaps } = recovered;
  if (plan.unchanged !== undefined) {
    const after = { source: snaps, target: recovered.dst };
    return { snapshot: plan.unchanged, mode: 'unchanged', bytes: 0, seconds: 0, cleaned, warnings, ...folders, after };
  }
  const { dst, stillThere } = await makeRoomFor(folders.targetDir, recovered, plan, deps, warnings);
  const sent = await snapshotAndSend(source, folders, recovered, dst, plan, deps, warnings);
  await commitLinks(deps.runner, folders, sent, stillThere, snaps);
  const uuid = (await sent.snapshotUuid) ?? '';
  // made just now: newer than anything listed (an existing one is listed already)
  const made = { id: 0, gen: 0, cgen: Number.MAX_SAFE_INTEGER, uuid, name: sent.name };
  const sourceAfter = plan.existing ? snaps : [...snaps, { ...made, path: sent.snapshot }];
  return {
    snapshot: sent.name,
    mode: sent.parent ? 'incremental' : 'full',
    parent: sent.parent?.name,
    bytes: sent.bytes,
    seconds: sent.seconds,
    cleaned,
    warnings,
    ...folders,
    after: {
      source: sourceAfter,
      target: [...dst, { ...made, path: join(folders.targetDir, sent.name), receivedUuid: uuid, readonly: true }],
    },
  };
}

/** Both folders checked to be what they should be, and claimed for this host and source. */
async function claimFolders(source: CheckedSource, deps: BackupSourceDeps): Promise<SourceFolders> {
  const { runner, targetMount } = deps;
  const targetDir = await ownFolder(runner, join(targetMount.mountPoint, source.name), {
    side: 'target',
    mount: targetMount,
    mounts: deps.mounts,
    exactMount: true,
  });
  const owner = { host: deps.host, source: source.real };
  // the backup folder's chain first: another chain's run must not even make its snapshot folder
  claimFolder(runner, targetDir, 'target', { ...owner, snapshots: resolvedFolder(source.snapshotDir) });
  const snapDir = await ownFolder(
    runner,
    source.snapshotDir,
    { side: 'source', mount: source.mount, mounts: deps.mounts },
    true,
  );
  claimFolder(runner, snapDir, 'source', owner);
  return { snapDir, targetDir };
}

/**
 * Room first: a full disk must not leave a half-written backup. Deletes the oldest
 * backups (not `latest`, nor the parent's copy) until target.min_free is free;
 * returns what is left in the backup folder and which complete copies remain.
 */
async function makeRoomFor(
  targetDir: string,
  { dst }: Recovered,
  { choice, complete, dstLatest }: SendPlan,
  deps: BackupSourceDeps,
  warnings: string[],
): Promise<{ dst: Subvolume[]; stillThere: Subvolume[] }> {
  if (!deps.minFree) return { dst, stillThere: complete };
  await deps.roomFreed?.();
  const keep = new Set(
    [dstLatest, choice.kind === 'incremental' ? choice.targetName : undefined].filter(
      (n): n is string => n !== undefined,
    ),
  );
  const room = await makeRoom({
    runner: deps.runner,
    targetDir,
    mountPoint: deps.targetMount.mountPoint,
    minFree: deps.minFree,
    backups: complete,
    keep,
    keepLast: deps.keepLast ?? 1,
    compressed: compressedTarget(deps.targetMount),
    step: (t) => deps.step(t),
  });
  const gone = room.deleted;
  if (gone.length === 0) return { dst, stillThere: complete };
  warnings.push(`deleted the oldest backup(s) ${gone.join(', ')} to keep target.min_free free (${room.why})`);
  return { dst: dst.filter((s) => !gone.includes(s.name)), stillThere: complete.filter((s) => !gone.includes(s.name)) };
}

/** Durable before reported: the copy is on the disk before any link points at it; then both links move. */
async function commitLinks(
  runner: Runner,
  { snapDir, targetDir }: SourceFolders,
  { name, receiving }: Sent,
  stillThere: readonly Subvolume[],
  snaps: readonly Subvolume[],
): Promise<void> {
  await runner.run(btrfs.sync(targetDir));
  writeReceiveRecord(runner, targetDir, { ...receiving, synced: true });
  killPoint('after-sync');
  moveLinks(runner, targetDir, name, new Set(stillThere.map((s) => s.name)));
  killPoint('between-links');
  moveLinks(runner, snapDir, name, new Set(snaps.map((s) => s.name)));
  clearReceiveRecord(runner, targetDir);
}
