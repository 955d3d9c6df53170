import { readFileSync } from 'node:fs';
import { parseFstab, type FstabEntry } from '../core/fstab.js';

export const FSTAB = '/etc/fstab';

/**
 * This host's fstab lines for a mount point, in file order (none without an fstab):
 * the one reader of fstab for open, setup, status and doctor.
 */
export function fstabEntriesFor(mountpoint: string): FstabEntry[] {
  let text: string;
  try {
    text = readFileSync(FSTAB, 'utf8');
  } catch {
    return [];
  }
  return parseFstab(text).filter((e) => e.mountPoint === mountpoint);
}
