import { readFileSync, realpathSync } from 'node:fs';

// A client's backup may hold setuid-root programs and device nodes: on the server they
// must never be usable, whoever reaches them. The filesystem holding the serve root is
// mounted nosuid,nodev for that; this reads what it is mounted with.

export interface MountOf {
  mountPoint: string;
  options: string[];
  /** of nosuid, nodev: those it is mounted without */
  missing: string[];
}

/** The mount that holds `path` (the longest mount point above its real path), from /proc/self/mountinfo. */
export function mountOf(path: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): MountOf | undefined {
  const real = realpathSync(path);
  let best: MountOf | undefined;
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    if (f.length < 6) continue;
    // the kernel writes a space, tab, newline and backslash in a path as octal escapes
    const mountPoint = f[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const under = mountPoint === '/' || real === mountPoint || real.startsWith(`${mountPoint}/`);
    // a later line over the same point is mounted on top: it is the one seen
    if (!under || (best && best.mountPoint.length > mountPoint.length)) continue;
    const options = f[5]!.split(',');
    best = { mountPoint, options, missing: ['nosuid', 'nodev'].filter((o) => !options.includes(o)) };
  }
  return best;
}

/** The warning and its fix when the root's filesystem lets setuid programs or device nodes work; undefined when it does not. */
export function mountWarning(root: string): string[] | undefined {
  const m = mountOf(root);
  if (!m || m.missing.length === 0) return undefined;
  return [
    `warning: ${m.mountPoint}, which holds the serve root ${root}, is mounted without ${m.missing.join(',')}: a setuid program or device node in a host's backup would work there`,
    `  fix: mount -o remount,nosuid,nodev -- ${m.mountPoint}   and add nosuid,nodev to its options in /etc/fstab`,
  ];
}
