// Names of snapshots and of per-source folders. Pure.
import { posix } from 'node:path';

const STAMP = /^(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})(?:_(\d+))?$/;

/** A snapshot's name: its UTC creation time, sortable, with _N when a second one falls in the same second. */
export function snapshotName(now: Date, taken: Iterable<string>): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const base =
    `${now.getUTCFullYear()}-${p(now.getUTCMonth() + 1)}-${p(now.getUTCDate())}` +
    `_${p(now.getUTCHours())}-${p(now.getUTCMinutes())}-${p(now.getUTCSeconds())}`;
  const used = new Set(taken);
  if (!used.has(base)) return base;
  for (let i = 2; ; i++) if (!used.has(`${base}_${i}`)) return `${base}_${i}`;
}

export function isSnapshotName(name: string): boolean {
  return STAMP.test(name);
}

/** Orders snapshot names oldest first (the _N suffix is numeric). */
export function compareSnapshotNames(a: string, b: string): number {
  const ka = sortKey(a);
  const kb = sortKey(b);
  return ka[0] < kb[0] ? -1 : ka[0] > kb[0] ? 1 : ka[1] - kb[1];
}

function sortKey(name: string): [string, number] {
  const m = STAMP.exec(name);
  if (!m) return [name, 0];
  return [name.replace(/_\d+$/, '').slice(0, 19), m[7] ? Number(m[7]) : 1];
}

/** Folder name for a source path: "/" -> "root", "/var/lib" -> "var-lib". `/a//b`, `/a/./b` and `/a/x/../b` name one folder. */
export function sourceName(path: string): string {
  const trimmed = posix.normalize(path).replace(/^\/+|\/+$/g, '');
  return trimmed === '' || trimmed === '.' ? 'root' : trimmed.replaceAll('/', '-');
}

/** A path component may hold this many bytes (NAME_MAX of Linux file systems). */
export const NAME_MAX_BYTES = 255;

/**
 * Why a source's folder name cannot be used, or undefined. The name is one folder
 * under the snapshot folder and under the backup filesystem's mount point, so it must
 * be one path component; names starting with "." are kept for btrfs-vault's own
 * files there (the `.token`).
 */
export function sourceNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.includes('/')) return 'contains "/" (it must be one folder name)';
  if (/[\n\r\0]/.test(name)) return 'contains a line break or NUL byte';
  if (name === '.' || name === '..') return 'is not a folder name (it means this or the parent folder)';
  if (name.startsWith('.')) return 'starts with "." (such names are kept for btrfs-vault\'s own files, like .token)';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > NAME_MAX_BYTES) return `is ${bytes} bytes long; a folder name may have at most ${NAME_MAX_BYTES}`;
  return undefined;
}
