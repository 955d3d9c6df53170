import { lstatSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { findMount, type MountEntry } from '../core/mountinfo.js';

// The root directory of every btrfs subvolume has this inode number
// (BTRFS_FIRST_FREE_OBJECTID); btrfs-progs tests for subvolumes the same way.
const SUBVOLUME_INODE = 256;

export interface PathInfo {
  path: string;
  /** symlinks resolved */
  real: string;
  mount: MountEntry;
  isBtrfs: boolean;
  isSubvolume: boolean;
}

export type PathProbe = { exists: false; path: string } | ({ exists: true } & PathInfo);

export async function probePath(path: string, mounts: readonly MountEntry[]): Promise<PathProbe> {
  let real: string;
  try {
    real = realpathSync.native(path);
  } catch {
    return { exists: false, path };
  }
  const st = statSync(real);
  const mount = findMount(mounts, real);
  if (!mount) return { exists: false, path };
  const isBtrfs = mount.fsType === 'btrfs';
  return {
    exists: true,
    path,
    real,
    mount,
    isBtrfs,
    isSubvolume: isBtrfs && st.isDirectory() && st.ino === SUBVOLUME_INODE,
  };
}

/** The mount of the nearest existing folder at or above `path` (for folders yet to be created). */
export async function mountOfNearest(
  path: string,
  mounts: readonly MountEntry[],
): Promise<{ real: string; mount: MountEntry } | undefined> {
  let p = path;
  for (;;) {
    try {
      lstatSync(p);
      const real = realpathSync.native(p);
      const mount = findMount(mounts, real);
      return mount ? { real, mount } : undefined;
    } catch {
      const up = dirname(p);
      if (up === p) return undefined;
      p = up;
    }
  }
}
