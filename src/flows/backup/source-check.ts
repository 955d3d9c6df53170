import { UserError } from '../../core/errors.js';
import type { MountEntry } from '../../core/mountinfo.js';
import type { SourceConfig } from '../../config/config.js';
import { badPathReason } from '../../config/load.js';
import { mountOfNearest, probePath } from '../../btrfs/paths.js';

export interface CheckedSource extends SourceConfig {
  /** the source with symlinks resolved */
  real: string;
  mount: MountEntry;
}

/** Everything about a source that can be checked without writing anything. */
export async function checkSource(
  source: SourceConfig,
  mounts: readonly MountEntry[],
  targetMountpoint?: string,
): Promise<CheckedSource> {
  const bad = badPathReason(source.path);
  if (bad) throw new UserError(`source ${JSON.stringify(source.path)} ${bad}`);
  const probe = await probePath(source.path, mounts);
  if (!probe.exists) {
    throw new UserError(
      `source ${source.path} does not exist`,
      'check the path (in the config, the sources file or on the command line)',
    );
  }
  if (!probe.isBtrfs) {
    throw new UserError(
      `source ${source.path} is on a ${probe.mount.fsType} filesystem, not btrfs`,
      'btrfs-vault backs up btrfs subvolumes only; remove this source',
    );
  }
  if (!probe.isSubvolume) {
    throw new UserError(
      `source ${source.path} is a folder, not a btrfs subvolume`,
      `back up the subvolume it lives in (find it with: btrfs subvolume show ${probe.mount.mountPoint}), or make this folder a subvolume of its own`,
    );
  }
  // before the snapshot folder's check: its fix (a snapshot folder on that filesystem) would only lead here again
  const target =
    targetMountpoint === undefined ? undefined : mounts.filter((m) => m.mountPoint === targetMountpoint).at(-1);
  if (target && target.device === probe.mount.device) {
    throw new UserError(
      `source ${source.path} is on the same filesystem as the backup target ${targetMountpoint} (${target.source}): a backup must live on another disk`,
      `remove ${source.path} from the sources (config, sources file or command line), or set target.mountpoint to where the backup disk is mounted`,
    );
  }
  const snapMount = await mountOfNearest(source.snapshotDir, mounts);
  if (!snapMount || snapMount.mount.device !== probe.mount.device) {
    throw new UserError(
      `the snapshot folder ${source.snapshotDir} is not on the same btrfs filesystem as ${source.path} (snapshots can only be taken within one filesystem)`,
      `set a snapshot folder on that filesystem for this source, e.g. sources = [{ path = "${source.path}", snapshot_dir = "${probe.mount.mountPoint === '/' ? '' : probe.mount.mountPoint}/.snapshots" }]`,
    );
  }
  return { ...source, real: probe.real, mount: probe.mount };
}

export function assertNotOnTarget(source: CheckedSource, targetMount: MountEntry): void {
  if (source.mount.device === targetMount.device) {
    throw new UserError(
      `source ${source.path} and the backup target ${targetMount.mountPoint} are on the same filesystem (${targetMount.source}); a backup must live on another disk`,
      'mount the backup disk at target.mountpoint, or remove this source',
    );
  }
}
