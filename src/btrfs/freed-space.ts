import type { Runner } from '../system/runner.js';
import { btrfs } from './commands.js';

/**
 * Waits until btrfs has given back the space of deleted subvolumes: the cleaner starts
 * on them at a commit, and what it frees is usable after the next commit. Without
 * this, a run that just deleted a partial copy or old backups still sees a full disk.
 * `ids`: the deleted subvolumes (empty: every deletion pending on the filesystem).
 */
export async function waitForFreedSpace(runner: Runner, path: string, ids: readonly number[]): Promise<void> {
  if (!runner.changesTakeEffect) return; // nothing was deleted
  await runner.run(btrfs.sync(path));
  await runner.run(btrfs.waitDeleted(path, ids));
  await runner.run(btrfs.sync(path));
}
