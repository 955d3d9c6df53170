import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

// Setup's file writes survive a power cut: data and directory entry are on the disk
// before the step counts as done, and a file is never seen half-written (a keyfile
// cut short would otherwise be added to LUKS as an empty key on the resume).

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `path` whole or not at all. With `replace: false` an existing file is kept
 * (EEXIST is thrown), as for a keyfile or config that must never be overwritten.
 */
export function writeFileDurably(path: string, data: string | Buffer, opts: { mode: number; replace: boolean }): void {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.new`;
  const fd = openSync(tmp, 'wx', opts.mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    if (opts.replace) renameSync(tmp, path);
    else linkSync(tmp, path); // fails if the file exists: nothing is overwritten
  } finally {
    rmSync(tmp, { force: true });
  }
  fsyncDir(dirname(path));
}

/** Appends to a system file in place (it may be a bind mount or a symlink target) and syncs it. */
export function appendFileDurably(path: string, text: string): void {
  const fd = openSync(path, 'a', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(dirname(path));
}

/** mkdir -p whose new directory entries are on the disk too. */
export function makeDirDurably(dir: string, mode: number): void {
  const first = mkdirSync(dir, { recursive: true, mode });
  if (first === undefined) return;
  // a new directory's entry lives in its parent: sync each parent from dir's up to first's
  for (let d = dir; ; d = dirname(d)) {
    fsyncDir(dirname(d));
    if (d === first) break;
  }
}
