import { TargetError } from '../core/errors.js';
import { isUnder } from '../core/mountinfo.js';
import { quote } from '../system/runner.js';

/**
 * A write of ours (a record, a link, the owner file) that found the backup filesystem
 * full is the full-disk case, with its fix, not a raw ENOSPC (exit 3, not 1). Any
 * other error is returned as it is.
 */
export function fullDiskError(err: unknown, targetMount: string, targetDir: string): unknown {
  const e = err as NodeJS.ErrnoException;
  if (e?.code !== 'ENOSPC' || e.path === undefined || !isUnder(e.path, targetMount)) return err;
  return new TargetError(
    `the backup filesystem is full: ${e.message}; nothing was sent, latest still points at the last complete backup`,
    `free space on the backup disk (see: btrfs filesystem usage -- ${quote(targetMount)}): btrfs-vault prune, target.min_free, or delete old backups there, oldest first, never the one latest points at: btrfs subvolume delete -- ${quote(targetDir)}/<name>`,
  );
}
