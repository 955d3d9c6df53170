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

/**
 * Deletions whose space a run waits for when something needs the room (min_free's
 * measure) and once at its end, each filesystem's at the same time, not after each
 * deletion: btrfs-progs polls the cleaner once a second, so every wait whose first look
 * comes before the cleaner is done costs a whole second, and a wait per side and source
 * added up to seconds.
 */
export class PendingFrees {
  private readonly ids = new Map<string, number[]>();

  /** `mountPoint`: the filesystem's (one wait per filesystem) */
  add(mountPoint: string, ids: readonly number[]): void {
    if (ids.length > 0) this.ids.set(mountPoint, [...(this.ids.get(mountPoint) ?? []), ...ids]);
  }

  get pending(): boolean {
    return this.ids.size > 0;
  }

  /** Waits for those on `mountPoint`'s filesystem; without it, for every filesystem's, at once. */
  async settle(runner: Runner, mountPoint?: string): Promise<void> {
    const points = mountPoint === undefined ? [...this.ids.keys()] : this.ids.has(mountPoint) ? [mountPoint] : [];
    await Promise.all(
      points.map(async (p) => {
        const ids = this.ids.get(p)!;
        this.ids.delete(p);
        await waitForFreedSpace(runner, p, ids);
      }),
    );
  }
}
