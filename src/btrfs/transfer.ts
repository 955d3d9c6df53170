import { accessSync } from 'node:fs';
import { join } from 'node:path';
import { CommandFailedError, ExitCode, InternalError, TargetError, VaultError } from '../core/errors.js';
import { quote, type Runner } from '../system/runner.js';
import { btrfs } from './commands.js';
import { subvolumeInfo } from './subvolume-info.js';

export interface TransferSpec {
  snapshot: string;
  /** the source snapshot's UUID (may still be on its way) */
  snapshotUuid?: string | Promise<string | undefined>;
  parent?: string;
  /** send compressed extents as they are */
  compressed?: boolean;
  targetDir: string;
  /** what receives: the backup disk, or a restore's destination (named when it is full) */
  into?: 'backup' | 'restore';
  signal?: AbortSignal;
  /** no byte moved for this long: both ends are killed ([backup] stall_timeout); undefined: no limit */
  stallMs?: number;
  onProgress?: (bytes: number) => void;
}

/**
 * `btrfs send [-p parent] | btrfs receive`, then proof that the received copy is
 * complete (received UUID = the snapshot's UUID, read-only). Whatever goes wrong,
 * the partial copy (this receive's own: its name was free and recorded before it
 * started) is deleted before the error goes up.
 */
export async function transfer(runner: Runner, spec: TransferSpec): Promise<{ bytes: number }> {
  const name = spec.snapshot.slice(spec.snapshot.lastIndexOf('/') + 1);
  const received = join(spec.targetDir, name);
  try {
    const { bytes } = await runner.pipe(
      btrfs.send(spec.snapshot, spec.parent, spec.compressed),
      btrfs.receive(spec.targetDir),
      {
        signal: spec.signal,
        stallMs: spec.stallMs,
        onProgress: spec.onProgress,
      },
    );
    // a dry-run received nothing to prove
    if (runner.changesTakeEffect) {
      const [info, expected] = await Promise.all([subvolumeInfo(runner, received), spec.snapshotUuid]);
      if (!info.readonly || !expected || info.receivedUuid !== expected) {
        throw new InternalError(
          `received ${received} is not a complete copy of ${spec.snapshot} (received UUID ${info.receivedUuid ?? '-'}, expected ${expected}; ${info.readonly ? 'read-only' : 'writable'})`,
        );
      }
    }
    return { bytes };
  } catch (err) {
    const gone = await deletePartial(runner, received);
    throw explain(
      err,
      spec.targetDir,
      spec.into ?? 'backup',
      gone
        ? 'the incomplete copy was deleted'
        : `the incomplete copy ${received} could not be deleted now; the next run deletes it`,
    );
  }
}

/** A full disk is the user's to fix, and says how. */
function explain(err: unknown, targetDir: string, into: 'backup' | 'restore', partial: string): unknown {
  if (into === 'restore' && err instanceof CommandFailedError && /No space left on device/i.test(err.stderr)) {
    // the restore's side: a live filesystem, where nothing may be deleted on our say-so
    return new VaultError(
      `the filesystem restored to (${targetDir}) is full: ${err.message}\n${partial}; nothing else there was changed`,
      ExitCode.failed,
      `free space on that filesystem (see: btrfs filesystem usage -- ${quote(targetDir)}), or restore into a folder on another btrfs filesystem (--to); the backup disk is not the one that is full`,
    );
  }
  if (err instanceof CommandFailedError && /No space left on device/i.test(err.stderr)) {
    return new TargetError(
      `the backup filesystem is full: ${err.message}\n${partial}; latest still points at the last complete backup`,
      `free space on the backup disk (see: btrfs filesystem usage -- ${quote(targetDir)}); delete old backups there, oldest first, never the one latest points at: btrfs subvolume delete -- ${quote(targetDir)}/<name>`,
    );
  }
  if (err instanceof CommandFailedError && /Input\/output error/i.test(err.stderr)) {
    return new TargetError(
      `the backup disk failed to read or write during the transfer (an I/O error): ${err.message}\n${partial}; latest still points at the last complete backup`,
      `check the disk's cable and health (dmesg | tail; btrfs device stats ${targetDir}), then run again: the next run cleans up and goes on`,
    );
  }
  return err;
}

/** True when no partial copy is left. */
async function deletePartial(runner: Runner, path: string): Promise<boolean> {
  if (!runner.changesTakeEffect) return true; // a dry-run received nothing
  try {
    accessSync(path);
  } catch {
    return true; // receive had not created it yet
  }
  return (await runner.run(btrfs.delete(path), { allowFailure: true })).exitCode === 0;
}
