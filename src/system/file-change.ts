import { closeSync, lstatSync, mkdirSync, openSync, renameSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { appendFileDurably, makeDirDurably, writeFileDurably } from './durable-files.js';
import { fsyncDir, removeFile, writeFileNoFollow } from './no-follow.js';
import { quote } from './runner.js';

// A change to files made without a program is data too, like a command: the runner
// port takes it (`Runner.change`), so a dry-run prints it, the test fake records it and
// the exec runner makes it. How each kind is made (no-follow, durable, its mode) is
// decided here, once, so no caller can make it another way.

export type FileChange =
  /**
   * A file in a folder others may write too (a backup folder, /run, /var/lib, systemd's
   * folders): written whole under a temporary name opened with O_NOFOLLOW, renamed over
   * the name (a planted symlink is replaced, never followed); `durable`: file and folder synced.
   */
  | { op: 'write'; path: string; text: string; mode?: number; durable?: boolean; about?: string; folder?: number }
  /**
   * A file setup makes: whole or not at all (temporary file, fsync, rename or link, folder
   * fsync); `replace: false` never overwrites one that exists (EEXIST).
   */
  | {
      op: 'write-durably';
      path: string;
      data: string | Buffer;
      mode: number;
      replace: boolean;
      about?: string;
      folder?: number;
    }
  /** a line added to a system file in place (it may be a bind mount or a symlink's target), synced */
  | { op: 'append'; path: string; text: string; folder?: number }
  /** a kernel file (sysfs) written in place: it has no folder to rename in */
  | { op: 'set'; path: string; text: string }
  /**
   * `parents`: mkdir -p; without, an existing folder is fine too; `exclusive`: made here
   * and now or an error (EEXIST), whatever is at the path (mkdir(2) never follows a
   * symlink there): a folder of ours in a folder others may write to
   */
  | { op: 'mkdir'; path: string; mode?: number; parents?: boolean; exclusive?: boolean }
  /** a symlink made under `tmp` (a link left there first removed) and renamed over `path`; `durable`: the folder synced after */
  | { op: 'symlink'; target: string; path: string; tmp: string; durable?: boolean }
  /** `path` removed if it is there; `onlyLink`: only if it is a symlink (never a file or folder of that name) */
  | { op: 'remove'; path: string; onlyLink?: boolean };

// `folder` (write, write-durably, append): the mode of the file's folder, made (mkdir -p)
// when it is missing, durably for the durable kinds: one change, one line in a dry-run.

/** How a change is shown: in a dry-run, and by the test fake. */
export function describeChange(c: FileChange): string {
  switch (c.op) {
    case 'write':
    case 'write-durably':
      return `write ${quote(c.path)} (${[c.about, `mode ${(c.mode ?? 0o600).toString(8).padStart(4, '0')}`].filter(Boolean).join(', ')})`;
    case 'append':
      return `append to ${quote(c.path)}: ${c.text.trim()}`;
    case 'set':
      return `echo ${quote(c.text)} > ${quote(c.path)}`;
    case 'mkdir':
      return `mkdir${c.parents ? ' -p' : ''}${c.exclusive ? ' (new)' : ''}${c.mode === undefined ? '' : ` -m ${c.mode.toString(8)}`} ${quote(c.path)}`;
    case 'symlink':
      return `ln -sfT ${quote(c.target)} ${quote(c.tmp)} && mv -T ${quote(c.tmp)} ${quote(c.path)}`;
    case 'remove':
      return `rm -f ${quote(c.path)}`;
  }
}

/** Makes the change (the exec runner; the test fake, in its scratch folders). */
export function applyChange(c: FileChange): void {
  switch (c.op) {
    case 'write':
      if (c.folder !== undefined) mkdirSync(dirname(c.path), { recursive: true, mode: c.folder });
      return writeFileNoFollow(c.path, c.text, { mode: c.mode, durable: c.durable });
    case 'write-durably':
      if (c.folder !== undefined) makeDirDurably(dirname(c.path), c.folder);
      return writeFileDurably(c.path, c.data, { mode: c.mode, replace: c.replace });
    case 'append':
      if (c.folder !== undefined) makeDirDurably(dirname(c.path), c.folder);
      return appendFileDurably(c.path, c.text);
    case 'set': {
      const fd = openSync(c.path, 'w');
      try {
        writeSync(fd, c.text);
      } finally {
        closeSync(fd);
      }
      return;
    }
    case 'mkdir':
      if (c.parents) {
        mkdirSync(c.path, { recursive: true, mode: c.mode });
        return;
      }
      try {
        mkdirSync(c.path, { mode: c.mode });
      } catch (err) {
        if (c.exclusive || (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      return;
    case 'symlink':
      if (isLink(c.tmp)) unlinkSync(c.tmp);
      symlinkSync(c.target, c.tmp);
      renameSync(c.tmp, c.path);
      if (c.durable) fsyncDir(dirname(c.path));
      return;
    case 'remove':
      if (c.onlyLink && !isLink(c.path)) return;
      return removeFile(c.path);
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
