import { join } from 'node:path';
import type { SourceConfig, VaultConfig } from '../config/config.js';
import { TargetError } from '../core/errors.js';
import { snapshotTime } from '../core/retention.js';
import { backupsIn, listTargetSubvolumes } from '../btrfs/subvolumes.js';
import { filesystemLayer } from '../stack/filesystem.js';
import type { StackContext } from '../stack/layer.js';
import { closeStack, openStack } from '../stack/stack.js';
import { readMounts } from '../system/mounts.js';
import type { Runner } from '../system/runner.js';

export interface Picked {
  source: SourceConfig;
  backup: string;
  /** empty: the whole backup */
  path: string;
  to: string;
  /** closes what the picker opened (after the restore ran) */
  close(): Promise<void>;
}

/**
 * restore without arguments on a terminal: source, then backup (newest first, with
 * age), then the path and where it goes. The disk is opened to list the backups; what
 * the picker opened is closed again by `close`, after the restore.
 */
export async function pickRestore(config: VaultConfig, runner: Runner, to: string | undefined): Promise<Picked> {
  const prompts = await import('../ui/restore-prompts.js');
  const source = await prompts.askSource(config.sources);
  const ctx: StackContext = { runner, config, mounts: readMounts };
  const opened = await openStack(ctx);
  const close = async () => void (await closeStack(ctx, opened));
  try {
    const mount = await filesystemLayer.mountOf(ctx);
    if (!mount) throw new TargetError(`the backup filesystem is not mounted at ${config.target.mountpoint}`, 'btrfs-vault open, and see what it says');
    const names = backupsIn(await listTargetSubvolumes(runner, mount), join(mount.mountPoint, source.name)).map((s) => s.name);
    if (names.length === 0) throw new TargetError(`there is no backup of ${source.path} on this disk`, 'btrfs-vault list shows what there is');
    const backup = await prompts.askBackup(names, snapshotTime);
    const path = (await prompts.askPath()).trim();
    return { source, backup, path, to: to ?? (await prompts.askDestination(path === '')), close };
  } catch (err) {
    await close();
    throw err;
  }
}
