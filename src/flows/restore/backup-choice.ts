import { escapeName } from '../../core/byte-names.js';
import { UserError } from '../../core/errors.js';
import { snapshotTime } from '../../core/retention.js';

// Which backup a restore takes, the same for a disk and a backup server: the one named,
// else the newest older than --before, else the newest (`latest`, else the last).

export interface BackupWanted {
  /** the source's path, for the refusals */
  source: string;
  backup?: string;
  before?: Date;
  /** where the person sees them all (btrfs-vault list [--target NAME]) */
  listCommand: string;
}

/** `backups` oldest first, at least one. */
export function chooseBackup<T extends { name: string }>(backups: T[], want: BackupWanted, latest?: string): T {
  if (want.backup !== undefined) {
    const b = backups.find((x) => x.name === want.backup);
    if (!b)
      throw new UserError(
        `there is no complete backup named ${escapeName(want.backup)} of ${want.source}`,
        `pick one of: ${backups
          .slice(-5)
          .map((x) => x.name)
          .join(', ')} (${want.listCommand} shows all)`,
      );
    return b;
  }
  if (want.before !== undefined) {
    const before = want.before.getTime();
    // a name that is no time (a server's folder holds what its client named) is never "older"
    const older = backups.filter((x) => (snapshotTime(x.name)?.getTime() ?? Infinity) < before);
    if (older.length === 0)
      throw new UserError(
        `no backup of ${want.source} is older than ${want.before.toISOString()}; the oldest is ${backups[0]!.name}`,
        'give a later --before',
      );
    return older.at(-1)!;
  }
  return backups.find((x) => x.name === latest) ?? backups.at(-1)!;
}
