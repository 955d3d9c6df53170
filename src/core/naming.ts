// Names of snapshots and of per-source folders. Pure.

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

/** Folder name for a source path: "/" -> "root", "/var/lib" -> "var-lib". */
export function sourceName(path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? 'root' : trimmed.replaceAll('/', '-');
}
