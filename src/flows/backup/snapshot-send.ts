import { existsSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { btrfs } from '../../btrfs/commands.js';
import { waitForFreedSpace } from '../../btrfs/freed-space.js';
import { bootId, clearReceiveRecord, writeReceiveRecord, type ReceiveRecord } from '../../btrfs/receive-record.js';
import { subvolumeInfo } from '../../btrfs/subvolume-info.js';
import type { Subvolume } from '../../btrfs/subvolumes.js';
import { transfer } from '../../btrfs/transfer.js';
import { InterruptedError, TargetError } from '../../core/errors.js';
import { snapshotName } from '../../core/naming.js';
import { killPoint } from '../../system/kill-point.js';
import type { BackupSourceDeps, SourceFolders } from './backup-source.js';
import type { Recovered } from './recover.js';
import { sendParent, type SendPlan } from './send-plan.js';
import type { CheckedSource } from './source-check.js';

/** A snapshot made and received on the target, not yet synced or linked. */
export interface Sent {
  name: string;
  snapshot: string;
  /** undefined in a dry-run, which made no snapshot */
  snapshotUuid: Promise<string | undefined>;
  parent: { path: string; name: string } | undefined;
  /** the record of this receive on the target */
  receiving: ReceiveRecord;
  bytes: number;
  seconds: number;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new InterruptedError('SIGINT');
}

/** Snapshot the source, pick the parent, record the receive and transfer the snapshot to the target. */
export async function snapshotAndSend(
  source: CheckedSource,
  folders: SourceFolders,
  { srcAll, snaps }: Recovered,
  /** what is in the backup folder now */
  dst: readonly Subvolume[],
  plan: SendPlan,
  deps: BackupSourceDeps,
  warnings: string[],
): Promise<Sent> {
  const { snapDir, targetDir } = folders;
  const { name, snapshot, snapshotUuid } = plan.existing
    ? existingSnapshot(folders, plan.existing, deps)
    : await takeSnapshot(source, folders, [...snaps, ...dst], deps);
  throwIfAborted(deps.signal);
  const parent = await sendParent(deps.runner, source, snapDir, targetDir, srcAll, plan, warnings);
  deps.step(
    parent
      ? `incremental send from ${parent.name}`
      : `full send (${plan.choice.kind === 'full' ? plan.choice.reason : ''})`,
  );
  const receiving: ReceiveRecord = {
    name,
    run: `${hostname()} pid ${process.pid}`,
    started: new Date().toISOString(),
    boot: bootId(),
    synced: false,
  };
  writeReceiveRecord(deps.runner, targetDir, receiving);
  const { bytes, seconds } = await receive(targetDir, name, snapshot, snapshotUuid, parent?.path, deps);
  return { name, snapshot, snapshotUuid, parent, receiving, bytes, seconds };
}

/** A new snapshot of the source, named free of every name in either folder. */
async function takeSnapshot(
  source: CheckedSource,
  { snapDir, targetDir }: SourceFolders,
  listed: readonly Subvolume[],
  deps: BackupSourceDeps,
): Promise<Pick<Sent, 'name' | 'snapshot' | 'snapshotUuid'>> {
  const { runner } = deps;
  // a name free on both sides, whatever is there (a file, a folder, a link), and on the other
  // disks it goes to next (a name let go on the source may still be a backup there)
  const taken = [
    ...listed.map((s) => s.name),
    ...entries(snapDir),
    ...[targetDir, ...(deps.otherTargetDirs ?? [])].flatMap(entries),
  ];
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
  return { name, snapshot, snapshotUuid };
}

/** A snapshot there already (several disks): sent as it is, under its own name. */
function existingSnapshot(
  { snapDir, targetDir }: SourceFolders,
  existing: Subvolume,
  deps: BackupSourceDeps,
): Pick<Sent, 'name' | 'snapshot' | 'snapshotUuid'> {
  // its name on this disk must be free: anything there (not ours to delete) stops this source
  if (entries(targetDir).includes(existing.name)) {
    throw new TargetError(
      `${join(targetDir, existing.name)} exists already, but is not a complete copy of the snapshot ${existing.name}; nothing was sent`,
      `look at it: if it is nothing you need, delete it (btrfs subvolume delete -- ${join(targetDir, existing.name)}), then run the backup again`,
    );
  }
  deps.step(`send the snapshot ${existing.name} (made already)`);
  deps.runner.preparePipe?.();
  return { name: existing.name, snapshot: join(snapDir, existing.name), snapshotUuid: Promise.resolve(existing.uuid) };
}

/** send | receive; a failed transfer leaves no partial copy, nor its record. */
async function receive(
  targetDir: string,
  name: string,
  snapshot: string,
  snapshotUuid: Promise<string | undefined>,
  parent: string | undefined,
  deps: BackupSourceDeps,
): Promise<{ bytes: number; seconds: number }> {
  const { runner } = deps;
  const started = Date.now();
  let bytes: number;
  try {
    ({ bytes } = await transfer(runner, {
      snapshot,
      snapshotUuid,
      parent,
      compressed: deps.compressedSend,
      targetDir,
      signal: deps.signal,
      stallMs: deps.stallMs,
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
  return { bytes, seconds };
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
