import {
  closeSync,
  constants,
  fsyncSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { fsPath } from '../core/byte-names.js';

// Files btrfs-vault writes into folders others may also write (a backup folder on the
// target, /run): opened with O_NOFOLLOW, so a symlink planted under the name is
// never followed out of the folder; written whole under a temporary name, then renamed.

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_DIRECTORY } = constants;

/** Writes `data` to `path` atomically; with `durable`, the file and its folder are synced. */
export function writeFileNoFollow(path: string, data: string, opts: { mode?: number; durable?: boolean } = {}): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    unlinkSync(tmp); // a leftover of a killed run (unlink never follows a symlink)
  } catch {
    /* none */
  }
  const fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, opts.mode ?? 0o600);
  try {
    try {
      writeSync(fd, data);
      if (opts.durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path); // replaces a symlink of that name rather than following it
  } catch (err) {
    // a full disk, say: the temporary file is ours, and must not stay behind
    try {
      unlinkSync(tmp);
    } catch {
      /* gone already */
    }
    // write(2) errors carry no path: name the file, so a caller can tell which disk is full
    if (err instanceof Error && (err as NodeJS.ErrnoException).path === undefined) Object.assign(err, { path });
    throw err;
  }
  if (opts.durable) fsyncDir(path.slice(0, path.lastIndexOf('/')) || '/');
}

/** The file's text, or undefined when there is none; a symlink under the name is never read. */
export function readFileNoFollow(path: string): string | undefined {
  return readBytesNoFollow(path)?.toString('utf8');
}

/** The file's bytes, or undefined when there is none; a symlink under the name is never read. */
export function readBytesNoFollow(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Makes a rename or unlink in `dir` durable (fsync on the folder itself). */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, O_RDONLY | O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Is there anything at `path` (a dangling link counts: nothing is overwritten through it)? */
export function lexists(path: string): boolean {
  try {
    lstatSync(fsPath(path)); // a name of bytes, exactly
    return true;
  } catch {
    return false;
  }
}
