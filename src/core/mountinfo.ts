// Parser for /proc/self/mountinfo (proc(5)). Pure.

export interface MountEntry {
  /** major:minor of the filesystem: equal for every mount of one btrfs filesystem */
  device: string;
  /** the path inside the filesystem that is mounted (for btrfs: the subvolume path) */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  /** the filesystem's options (the super block's) */
  options: string;
  /** this mount, or the whole filesystem, is read-only */
  readOnly: boolean;
}

export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [left, right] = splitOnce(line, ' - ');
    if (right === undefined) continue;
    const f = left.split(' ');
    const r = right.split(' ');
    if (f.length < 6 || r.length < 2) continue;
    entries.push({
      device: f[2]!,
      root: unescape(f[3]!),
      mountPoint: unescape(f[4]!),
      fsType: r[0]!,
      source: unescape(r[1]!),
      options: r[2] ?? '',
      readOnly: [f[5]!, r[2] ?? ''].some((o) => o.split(',').includes('ro')),
    });
  }
  return entries;
}

/** The mount a path lives on: the last-mounted entry whose mount point is the longest prefix. */
export function findMount(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    if (!isUnder(path, m.mountPoint)) continue;
    if (!best || m.mountPoint.length >= best.mountPoint.length) best = m;
  }
  return best;
}

export function isUnder(path: string, dir: string): boolean {
  if (dir === '/') return path.startsWith('/');
  return path === dir || path.startsWith(`${dir}/`);
}

function splitOnce(text: string, sep: string): [string, string | undefined] {
  const i = text.indexOf(sep);
  return i < 0 ? [text, undefined] : [text.slice(0, i), text.slice(i + sep.length)];
}

// mountinfo escapes space, tab, newline and backslash as \ooo
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
