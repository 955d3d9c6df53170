import { realpathSync, statSync } from 'node:fs';

// Which subvolume a path is, whatever way it was written (a symlink, a bind mount):
// btrfs gives every subvolume a device number of its own, and a directory is its
// device and inode. Paths that do not exist yet have no identity.

export function pathIdentity(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** The path with symlinks resolved, or the path itself when it does not exist. */
export function realPathOr(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return path;
  }
}
