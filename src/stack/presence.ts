import type { VaultConfig } from '../config/config.js';
import type { MountEntry } from '../core/mountinfo.js';
import { filesystemDevice } from './layers.js';
import { bottomLayer } from './stack.js';

/**
 * Is the backup disk there at all? A scheduled run without it is no failure (the disk
 * is away, as a rotated or unplugged disk is); `status` warns when that lasts. Mounted,
 * or else the bottom layer of its stack says.
 */
export function targetAttached(config: VaultConfig, mounts: readonly MountEntry[]): boolean {
  if (mounts.some((m) => m.mountPoint === config.target.mountpoint)) return true;
  return bottomLayer(config.target).attached?.(config, filesystemDevice(config.target)) ?? false;
}
