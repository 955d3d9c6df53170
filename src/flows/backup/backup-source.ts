import { existsSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { btrfs } from '../../btrfs/commands.js';
import { claimFolder, ownFolder, resolvedFolder } from '../../btrfs/folders.js';
import { LATEST, moveLinks, readLink, removeStaleLinks } from '../../btrfs/links.js';
import { bootId, clearReceiveRecord, readReceiveRecord, writeReceiveRecord } from '../../btrfs/receive-record.js';
import {
  childrenOf,
  isCompleteCopy,
  listSourceSubvolumes,
  listTargetSubvolumes,
  nestedIn,
  snapshotsIn,
  type Subvolume,
} from '../../btrfs/subvolumes.js';
import { subvolumeInfo, subvolumeInfosOrWhy } from '../../btrfs/subvolume-info.js';
import { transfer } from '../../btrfs/transfer.js';
import { escapeName } from '../../core/byte-names.js';
import { InterruptedError } from '../../core/errors.js';
import { isUnder, type MountEntry } from '../../core/mountinfo.js';
import { snapshotName } from '../../core/naming.js';
import { chooseParent } from '../../core/parent.js';
import { killPoint } from '../../system/kill-point.js';
import type { Runner } from '../../system/runner.js';
import type { SourceConfig, TargetConfig } from '../../config/config.js';
import { makeRoom } from '../retention/min-free.js';
import { waitForFreedSpace } from '../../btrfs/freed-space.js';
import { compressedTarget } from '../../btrfs/send-features.js';
import { byCreation } from '../../core/snapshot-order.js';
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
}

export interface BackupSourceDeps {
  runner: Runner;
  /** this host's name: per-source folders are claimed for host and source */
  host: string;
  targetMount: MountEntry;
  /** the mount table, for the folder checks */
  mounts: readonly MountEntry[];
  signal?: AbortSignal;
  now?: () => Date;
  /** a step (for the task's output) */
  step(text: string): void;
  progress(bytes: number, elapsedMs: number): void;
  /** the source filesystem's subvolumes, when the run already asked for them */
  sourceListing?: Promise<readonly Subvolume[]>;
  /** the backup filesystem's subvolumes, listed once a run (each source looks at its own folder only) */
  targetListing?: Promise<readonly Subvolume[]>;
  /** every configured source: they and their snapshots are backed up on their own, not "nested" */
  knownSources?: readonly Pick<SourceConfig, 'path' | 'snapshotDir'>[];
  /** a new snapshot even when the source has not changed */
  force?: boolean;
  /** free space to keep on the backup disk (target.min_free) */
  minFree?: TargetConfig['minFree'];
  /** min_free never leaves fewer backups than this (retention's target keep_last; default 1) */
  keepLast?: number;
  /** compressed extents travel as they are (send protocol 2, a compressed target) */
  compressedSend?: boolean;
}

/** One source: recover, snapshot, choose a parent, send|receive, sync, move `latest`. */
export async function backupSource(source: CheckedSource, deps: BackupSourceDeps): Promise<SourceOutcome> {
  const { runner, targetMount, signal } = deps;
  const checkAbort = () => {
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new InterruptedError('SIGINT');
  };
  assertNotOnTarget(source, targetMount);
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

  const warnings: string[] = [];
  // both listings at once: they are independent, and each is a process start
  const [dstAll, srcAll] = await Promise.all([
    deps.targetListing ?? listTargetSubvolumes(runner, targetMount),
    deps.sourceListing ?? listSourceSubvolumes(runner, source.mount),
  ]);
  let dst = childrenOf(dstAll, targetDir);
  // oldest first by when btrfs made them: a name from a clock set forward is not "newest"
  const snaps = snapshotsIn(srcAll, snapDir);

  // a receive an earlier run recorded is ours: deleted when incomplete, or when it was
  // never synced and the machine rebooted since (its data may not have reached the disk);
  // a complete, synced one (the run died before its links moved) is kept and pairs up below
  const cleaned: string[] = [];
  const record = readReceiveRecord(targetDir);
  if (record) {
    const left = dst.find((s) => s.name === record.name);
    const unsyncedBeforeReboot = !record.synced && record.boot !== bootId();
    if (left && (!isCompleteCopy(left) || unsyncedBeforeReboot)) {
      deps.step(
        `deleting ${left.path}, left ${isCompleteCopy(left) ? 'unsynced before a reboot' : 'incomplete'} by an interrupted run (${record.run})`,
      );
      await runner.run(btrfs.delete(left.path));
      cleaned.push(left.path);
      dst = dst.filter((s) => s !== left);
      // its space comes back in the background: this run's transfer needs it now
      deps.step(`waiting until btrfs has freed the space of ${left.path}`);
      await waitForFreedSpace(runner, targetMount.mountPoint, [left.id]);
    }
    clearReceiveRecord(runner, targetDir);
  }
  for (const other of dst.filter((s) => !isCompleteCopy(s))) {
    warnings.push(
      `${escapeName(other.path)} is not a complete backup made by btrfs-vault (a writable snapshot, or a backup made writable since); left alone`,
    );
  }
  removeStaleLinks(runner, targetDir);
  removeStaleLinks(runner, snapDir);

  const complete = dst.filter(isCompleteCopy);
  const choice = chooseParent({ source: snaps, target: complete });
  const srcLatest = readLink(snapDir, LATEST);
  const dstLatest = readLink(targetDir, LATEST);
  if (choice.kind === 'incremental' && (srcLatest !== choice.parent || dstLatest !== choice.targetName)) {
    warnings.push(
      `latest did not point at the newest pair (source ${choice.parent}, target ${choice.targetName}; latest was ${srcLatest ?? 'none'} on the source, ${dstLatest ?? 'none'} on the target), as after an interrupted run; sent from that pair, and both links now point at the new backup`,
    );
  }

  const backedUpAnyway = (path: string) =>
    isUnder(path, snapDir) ||
    [source, ...(deps.knownSources ?? [])].some((o) => path === o.path || isUnder(path, o.snapshotDir));
  const nested = nestedIn(srcAll, source.real).filter((s) => !backedUpAnyway(s.path));
  if (nested.length > 0) {
    warnings.push(
      `nested subvolumes are not part of a snapshot of ${source.path} and are not backed up with it: ${nested.map((s) => escapeName(s.path)).join(', ')} (list them as sources of their own)`,
    );
  }
  checkAbort();

  // nothing changed since the newest snapshot, and the target has it: nothing to make
  const newest = snaps.at(-1);
  const live = srcAll.find((s) => s.path === source.real);
  if (
    !deps.force &&
    newest?.cgen !== undefined &&
    live !== undefined &&
    live.gen <= newest.cgen &&
    choice.kind === 'incremental' &&
    choice.parent === newest.name &&
    srcLatest === newest.name &&
    dstLatest === choice.targetName
  ) {
    return {
      snapshot: newest.name,
      mode: 'unchanged',
      bytes: 0,
      seconds: 0,
      cleaned,
      warnings,
      snapDir,
      targetDir,
      after: { source: snaps, target: dst },
    };
  }

  // room first: a full disk must not leave a half-written backup
  let stillThere = complete;
  if (deps.minFree) {
    const keep = new Set(
      [dstLatest, choice.kind === 'incremental' ? choice.targetName : undefined].filter(
        (n): n is string => n !== undefined,
      ),
    );
    const room = await makeRoom({
      runner,
      targetDir,
      mountPoint: targetMount.mountPoint,
      minFree: deps.minFree,
      backups: complete,
      keep,
      keepLast: deps.keepLast ?? 1,
      compressed: compressedTarget(targetMount),
      step: (t) => deps.step(t),
    });
    const gone = room.deleted;
    if (gone.length > 0) {
      warnings.push(`deleted the oldest backup(s) ${gone.join(', ')} to keep target.min_free free (${room.why})`);
      dst = dst.filter((s) => !gone.includes(s.name));
      stillThere = complete.filter((s) => !gone.includes(s.name));
    }
  }

  // a name free on both sides, whatever is there (a file, a folder, a link)
  const taken = [...snaps.map((s) => s.name), ...dst.map((s) => s.name), ...entries(snapDir), ...entries(targetDir)];
  const name = snapshotName((deps.now ?? (() => new Date()))(), taken);
  const snapshot = join(snapDir, name);
  killPoint('before-snapshot');
  deps.step(`snapshot ${source.path} -> ${snapshot}`);
  const taking = runner.run(btrfs.snapshot(source.real, snapshot));
  runner.preparePipe?.(); // the FIFO for the transfer is made while the snapshot is taken
  await taking;
  // its UUID is needed only to verify the copy, so it is read while the stream runs (a dry-run made none)
  const snapshotUuid = runner.changesTakeEffect
    ? subvolumeInfo(runner, snapshot).then((s) => s.uuid)
    : Promise.resolve(undefined);
  snapshotUuid.catch(() => {}); // awaited in transfer(); a failure surfaces there
  checkAbort();

  let parent = choice.kind === 'incremental' ? join(snapDir, choice.parent) : undefined;
  let parentName = choice.kind === 'incremental' ? choice.parent : undefined;
  if (choice.kind === 'full' && complete.length > 0) {
    // after a restore, the restored subvolume holds a backup's data (its received UUID):
    // it can be the parent, so the chain goes on instead of starting again
    const restored = await restoredParent(runner, srcAll, complete, snapDir);
    if (restored) {
      parent = restored.path;
      parentName = restored.path;
      warnings.push(
        `no snapshot of ${source.path} pairs with a backup; sent incrementally from the restored ${restored.path} (the data of backup ${restored.backup})`,
      );
    } else {
      warnings.push(
        `full send: none of the ${complete.length} backup(s) in ${targetDir} is on the source filesystem as the same data (snapshots deleted, or a source replaced by other data); the chain starts again`,
      );
    }
  }
  deps.step(
    parent ? `incremental send from ${parentName}` : `full send (${choice.kind === 'full' ? choice.reason : ''})`,
  );
  const receiving = {
    name,
    run: `${hostname()} pid ${process.pid}`,
    started: new Date().toISOString(),
    boot: bootId(),
    synced: false,
  };
  writeReceiveRecord(runner, targetDir, receiving);
  const started = Date.now();
  let bytes: number;
  try {
    ({ bytes } = await transfer(runner, {
      snapshot,
      snapshotUuid,
      parent,
      compressed: deps.compressedSend,
      targetDir,
      signal,
      onProgress: (b) => {
        if (b > 0) killPoint('during-send');
        deps.progress(b, Date.now() - started);
      },
    }));
  } catch (err) {
    // the partial copy is gone (transfer deletes it): so is the need for the record, and
    // its space comes back in the background: the next source, or the next run, needs it
    // (a dry-run's transfer fails before anything was received: nothing to clear)
    if (runner.changesTakeEffect && !existsSync(join(targetDir, name))) {
      clearReceiveRecord(runner, targetDir);
      await waitForFreedSpace(runner, targetDir, []).catch(() => {}); // the transfer's error is the one to report
    }
    throw err;
  }
  const seconds = (Date.now() - started) / 1000;
  killPoint('after-receive');

  // durable before reported: the copy is on the disk before any link points at it
  await runner.run(btrfs.sync(targetDir));
  writeReceiveRecord(runner, targetDir, { ...receiving, synced: true });
  killPoint('after-sync');
  moveLinks(runner, targetDir, name, new Set(stillThere.map((s) => s.name)));
  killPoint('between-links');
  moveLinks(runner, snapDir, name, new Set(snaps.map((s) => s.name)));
  clearReceiveRecord(runner, targetDir);
  const uuid = (await snapshotUuid) ?? '';
  // made just now: newer than anything listed
  const made = { id: 0, gen: 0, cgen: Number.MAX_SAFE_INTEGER, uuid };
  return {
    snapshot: name,
    mode: parent ? 'incremental' : 'full',
    parent: parentName,
    bytes,
    seconds,
    cleaned,
    warnings,
    snapDir,
    targetDir,
    after: {
      source: [...snaps, { ...made, path: snapshot, name }],
      target: [...dst, { ...made, path: join(targetDir, name), name, receivedUuid: uuid, readonly: true }],
    },
  };
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * A read-only subvolume on the source filesystem that was received from one of the
 * backups (a restore): the newest such, checked to be read-only still.
 */
async function restoredParent(
  runner: Runner,
  srcAll: readonly Subvolume[],
  complete: readonly Subvolume[],
  snapDir: string,
): Promise<{ path: string; backup: string } | undefined> {
  const byReceived = new Map(complete.map((c) => [c.receivedUuid!, c.name]));
  // newest by when the backup was made (a clock set forward names one in the future)
  const rank = new Map(byCreation(complete).map((c, i) => [c.receivedUuid!, i]));
  const candidates = srcAll
    .filter((s) => s.receivedUuid !== undefined && byReceived.has(s.receivedUuid) && !s.path.startsWith(`${snapDir}/`))
    .sort((a, b) => rank.get(b.receivedUuid!)! - rank.get(a.receivedUuid!)!);
  // one that is gone since the listing, or was changed, is passed over: a full send does instead
  const infos = await subvolumeInfosOrWhy(
    runner,
    candidates.map((c) => c.path),
  );
  const i = infos.findIndex(
    (info, k) => typeof info !== 'string' && info.readonly && info.receivedUuid === candidates[k]!.receivedUuid,
  );
  return i < 0 ? undefined : { path: candidates[i]!.path, backup: byReceived.get(candidates[i]!.receivedUuid!)! };
}
