import { lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from '../../system/runner.js';
import { backupsIn, folderDir } from './serve-root.js';

// `files FOLDER PATH`: what each complete backup of the folder holds at PATH, as the
// disk's `files` shows it. PATH is relative and made of names (the grammar refused
// anything else); it is looked up one component at a time with lstat, so no symlink in
// a backup leads the lookup out of it. Backups are read-only subvolumes: nothing moves
// between two lstats.

export interface ServedEntry {
  backup: string;
  type: 'file' | 'folder' | 'symlink' | 'other';
  size: number;
  mtime: string;
  mode: number;
}

/** Only the backups that hold PATH, oldest first; a symlink on the way: not held. */
export async function serveFiles(
  runner: Runner,
  root: string,
  req: { folder: string; path: string },
): Promise<ServedEntry[]> {
  const dir = folderDir(root, req.folder);
  if (!dir) return [];
  const out: ServedEntry[] = [];
  for (const b of await backupsIn(runner, dir)) {
    const st = entryAt(join(dir, b.name), req.path);
    if (!st) continue;
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'folder' : st.isSymbolicLink() ? 'symlink' : 'other';
    out.push({ backup: b.name, type, size: st.size, mtime: st.mtime.toISOString(), mode: st.mode & 0o7777 });
  }
  return out;
}

/** lstat of each component from `top`: a component on the way that is not a real folder ends the lookup */
function entryAt(top: string, path: string): Stats | undefined {
  const parts = path.split('/');
  let p = top;
  for (const [i, part] of parts.entries()) {
    p = join(p, part);
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      return undefined;
    }
    if (i === parts.length - 1) return st;
    if (!st.isDirectory()) return undefined;
  }
  return undefined;
}
