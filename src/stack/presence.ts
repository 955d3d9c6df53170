import { existsSync, readdirSync } from 'node:fs';
import { fstabEntriesFor } from '../system/fstab-file.js';
import type { VaultConfig } from '../config/config.js';
import type { MountEntry } from '../core/mountinfo.js';

/**
 * Is the backup disk there at all? A scheduled run without it is no failure (the disk
 * is away, as a rotated or unplugged disk is); `status` warns when that lasts.
 */
export function targetAttached(config: VaultConfig, mounts: readonly MountEntry[]): boolean {
  const t = config.target;
  if (mounts.some((m) => m.mountPoint === t.mountpoint)) return true;
  if (t.layers.includes('raid')) {
    // every disk setup made carries a partition labelled backup-<serial>
    const labels = list('/dev/disk/by-partlabel');
    return existsSync(t.array) || labels.some((l) => l === 'backup' || l.startsWith('backup-'));
  }
  if (t.layers.length > 0) return existsSync(t.partition) || existsSync(t.device ?? '/nonexistent');
  if (t.device !== undefined) return existsSync(t.device);
  // a plain disk mounted through its fstab line: is the device that line names there?
  const [line] = fstabEntriesFor(t.mountpoint);
  return line !== undefined && existsSync(fstabDevice(line.device));
}

/** UUID=…, LABEL=…, PARTUUID=…, PARTLABEL=… as the udev links that name them. */
function fstabDevice(spec: string): string {
  const m = /^(UUID|LABEL|PARTUUID|PARTLABEL)=(.+)$/.exec(spec);
  if (!m) return spec;
  return `/dev/disk/by-${m[1]!.toLowerCase()}/${m[2]!.replace(/^"|"$/g, '')}`;
}


function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
