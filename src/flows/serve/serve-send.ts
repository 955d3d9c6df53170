import { join } from 'node:path';
import { RemoteRefusedError } from '../../core/errors.js';
import { btrfs } from '../../btrfs/commands.js';
import type { Runner } from '../../system/runner.js';
import { backupsIn, folderDir } from './serve-root.js';

// `send FOLDER NAME PARENT` (a restore): the raw `btrfs send` stream of one complete
// backup of the client's own root, written by btrfs straight to the channel.

export async function serveSend(
  runner: Runner,
  root: string,
  req: { folder: string; name: string; parent: string | null },
): Promise<void> {
  const dir = folderDir(root, req.folder);
  const backups = dir ? await backupsIn(runner, dir) : [];
  const names = new Set(backups.map((b) => b.name));
  const missing = [req.name, ...(req.parent ? [req.parent] : [])].filter((n) => !names.has(n));
  if (missing.length > 0 || !dir)
    throw new RemoteRefusedError(
      `no complete backup ${missing.map((n) => `${req.folder}/${n}`).join(' or ')} on this server`,
      'verb',
      'name a backup the verb list shows',
    );
  await runner.stream(btrfs.send(join(dir, req.name), req.parent ? join(dir, req.parent) : undefined), {
    toStdout: true,
  });
}
