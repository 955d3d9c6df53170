import { join } from 'node:path';
import { RemoteRefusedError } from '../../core/errors.js';
import { btrfs } from '../../btrfs/commands.js';
import type { Runner } from '../../system/runner.js';
import { acquireLocks } from '../../system/lock.js';
import { backupsIn, folderDir } from './serve-root.js';
import { folderLockKey } from './serve-receive.js';

// `send FOLDER NAME PARENT` (a restore): the raw `btrfs send` stream of one complete
// backup of the client's own root, written by btrfs straight to the channel.

export async function serveSend(
  runner: Runner,
  root: string,
  req: { folder: string; name: string; parent: string | null },
): Promise<void> {
  const missing = (names: ReadonlySet<string>) =>
    new RemoteRefusedError(
      `no complete backup ${[req.name, ...(req.parent ? [req.parent] : [])]
        .filter((n) => !names.has(n))
        .map((n) => `${req.folder}/${n}`)
        .join(' or ')} on this server`,
      'verb',
      'name a backup the verb list shows',
    );
  const dir = folderDir(root, req.folder);
  if (!dir) throw missing(new Set());
  // the folder's lock, before the backups are looked up: the server's prune waits, so
  // nothing is deleted under the send
  const lock = await acquireLocks(
    runner,
    [{ what: `the serve folder ${dir}`, key: folderLockKey(root, req.folder) }],
    `btrfs-vault serve: send ${req.folder} ${req.name}`,
  );
  try {
    const names = new Set((await backupsIn(runner, dir)).map((b) => b.name));
    if (!names.has(req.name) || (req.parent !== null && !names.has(req.parent))) throw missing(names);
    await runner.stream(btrfs.send(join(dir, req.name), req.parent ? join(dir, req.parent) : undefined), {
      toStdout: true,
    });
  } finally {
    await lock.release();
  }
}
