import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { escapeName, fsPath } from '../../core/byte-names.js';
import { CommandFailedError, ExitCode, UserError, VaultError } from '../../core/errors.js';
import { lexists } from '../../system/no-follow.js';
import { quote, type Argv, type Runner } from '../../system/runner.js';

// One file or folder brought back (restore --path): copied beside its destination under
// a temporary name, made durable, then renamed into place. A failure removes the
// temporary and leaves whatever was at the destination where it was; the destination
// never holds a partial copy.

export const copyBackCommands = {
  /** -a: mode, owner, times, links as links; xattrs and ACLs; a copy shares data where it can */
  copy: (from: string, to: string): Argv => [
    'cp',
    ['--archive', '--no-dereference', '--preserve=all', '--reflink=auto', '--no-target-directory', '--', from, to],
  ],
  /** syncfs of the filesystem that holds it: the whole copied tree is on the disk before it is renamed into place */
  sync: (path: string): Argv => ['sync', ['--file-system', '--', path]],
  move: (from: string, to: string): Argv => ['mv', ['--no-target-directory', '--', from, to]],
  /** only ever our own temporary copy, never leaving its filesystem */
  remove: (path: string): Argv => ['rm', ['--recursive', '--force', '--one-file-system', '--', path]],
};

/** The temporary beside the destination: the same filesystem, so the last step is a rename. */
export function temporaryFor(to: string): string {
  return join(dirname(to), `.btrfs-vault-restoring.${process.pid}`);
}

/** a name longer than this is refused by every Linux filesystem (NAME_MAX, in bytes) */
const NAME_MAX = 255;

/**
 * The temporaries of restores killed with SIGKILL (no handler ran): ours by their name,
 * and left by a run that is gone (no process of that ID; a live one, whatever it is,
 * keeps its own).
 */
export function deadTemporaries(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(fsPath(dir), { encoding: 'utf8' });
  } catch {
    return [];
  }
  return names
    .filter((n) => {
      const m = /^\.btrfs-vault-restoring\.(\d+)$/.exec(n);
      return m !== null && Number(m[1]) !== process.pid && !existsSync(`/proc/${m[1]}`);
    })
    .map((n) => join(dir, n));
}

/**
 * Copies `from` to `to` (resolved: no trailing `/`). With `overwrite`, what is at `to`
 * is kept as `to.before-restore`. Returns that name when something was kept. A signal
 * (SIGTERM, SIGINT) before the renames leaves `to` as it was and no temporary; the
 * temporary a SIGKILL left is removed by the next restore into that folder (`note`
 * says so).
 */
export async function copyBack(
  runner: Runner,
  from: string,
  to: string,
  overwrite: boolean,
  signal?: AbortSignal,
  note?: (line: string) => void,
): Promise<string | undefined> {
  if (Buffer.byteLength(basename(to)) > NAME_MAX)
    throw new UserError(
      `the name ${escapeName(basename(to))} is longer than ${NAME_MAX} bytes, more than a Linux filesystem allows; nothing was copied`,
      'give --to a shorter name',
    );
  const exists = lexists(to);
  const kept = `${to}.before-restore`;
  if (exists) {
    if (!overwrite)
      throw new UserError(
        `${escapeName(to)} exists; nothing is overwritten`,
        `give another --to, or add --overwrite (the old one is kept as ${escapeName(basename(kept))})`,
      );
    if (lexists(kept))
      throw new UserError(`${escapeName(kept)} exists already, from an earlier restore`, 'move it away first');
  }
  const dir = dirname(to);
  checkFolder(dir);
  for (const dead of deadTemporaries(dir)) {
    await runner.run(copyBackCommands.remove(dead), { allowFailure: true });
    note?.(
      `${runner.changesTakeEffect ? 'removed' : 'would remove'} ${escapeName(dead)}, the partial copy of a restore that was killed`,
    );
  }
  const tmp = temporaryFor(to);
  if (lexists(tmp))
    throw new UserError(
      `${escapeName(tmp)} exists: an interrupted restore left it (btrfs-vault never deletes what it did not just make)`,
      `look at it, then remove it: rm -r -- ${quote(tmp)}`,
    );
  signal?.throwIfAborted();
  try {
    await runner.run(copyBackCommands.copy(from, tmp));
    await runner.run(copyBackCommands.sync(tmp));
    // stopped while copying: nothing is put in place
    signal?.throwIfAborted();
  } catch (err) {
    await runner.run(copyBackCommands.remove(tmp), { allowFailure: true });
    throw explain(err, dir, to, exists);
  }
  let movedAway = false;
  try {
    if (exists) {
      await runner.run(copyBackCommands.move(to, kept));
      movedAway = true;
    }
    await runner.run(copyBackCommands.move(tmp, to));
  } catch (err) {
    // put the original back where it was; the copy goes
    if (movedAway) await runner.run(copyBackCommands.move(kept, to), { allowFailure: true });
    await runner.run(copyBackCommands.remove(tmp), { allowFailure: true });
    throw err;
  }
  // the renames on the disk too, before the restore is reported
  await runner.run(copyBackCommands.sync(to));
  return exists ? kept : undefined;
}

/** The folder the copy goes into: there, a folder (a symlink on the way is followed, as the shell does), writable (not read-only, not immutable). */
function checkFolder(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(fsPath(dir)).isDirectory();
  } catch {
    /* missing */
  }
  if (!isDir)
    throw new UserError(
      `${escapeName(dir)} is not an existing folder: --to must name a path in one`,
      `create it first (mkdir -p -- ${quote(dir)}), or give another --to`,
    );
  try {
    accessSync(fsPath(dir), constants.W_OK);
  } catch (err) {
    const why =
      (err as NodeJS.ErrnoException).code === 'EROFS'
        ? 'is read-only (a read-only mount or subvolume)'
        : 'cannot be written to (immutable?)';
    throw new UserError(
      `the folder ${escapeName(dir)} ${why}; nothing was copied`,
      `give --to a path in a writable folder, or make that one writable (mount -o remount,rw; btrfs property set SUBVOLUME ro false; chattr -i)`,
    );
  }
}

/** A full destination is said as such: the restore's side, not the backup disk. */
function explain(err: unknown, dir: string, to: string, exists: boolean): unknown {
  if (err instanceof CommandFailedError && /No space left on device|Disk quota exceeded/i.test(err.stderr)) {
    return new VaultError(
      `the filesystem the file is restored to (${escapeName(dir)}) is full: ${err.message}\nthe partial copy was removed; ${exists ? `${escapeName(to)} is as it was` : `nothing was written at ${escapeName(to)}`}`,
      ExitCode.failed,
      `free space on that filesystem (see: df -h -- ${quote(dir)}), or restore to a folder on another filesystem (--to); the backup disk is not the one that is full`,
    );
  }
  return err;
}
