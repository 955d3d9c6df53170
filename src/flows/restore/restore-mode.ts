import { UserError } from '../../core/errors.js';
import { quote } from '../../core/shell-quote.js';

// restore's two modes take different options: a whole backup (`--before`, `--writable`)
// and one path copied back (`--path`, `--overwrite`). An option of the other mode is
// refused with the fix, never ignored: a `--writable` that made nothing writable, or a
// `--before` that silently restored the newest, would be found out on the worst day.
// A backup is named one way in both modes: after the source (`restore SOURCE BACKUP`);
// `--from` is kept, hidden, for the command lines written before, with --path only.

export interface RestoreAsked {
  /** not given: the picker asks on the terminal */
  source?: string;
  backup?: string;
  /** the old name of BACKUP with --path */
  from?: string;
  path?: string;
  before?: string;
  writable: boolean;
  overwrite: boolean;
  /** stdout carries one JSON object: no picker's questions there */
  json?: boolean;
}

/** The backup asked for (BACKUP, or --from), once the options agree; throws when they do not. */
export function checkRestoreOptions(a: RestoreAsked): string | undefined {
  const src = a.source ?? 'SOURCE';
  if (a.from !== undefined && a.path === undefined)
    throw new UserError(
      '--from names the backup of --path only (and is the old name of BACKUP): a backup is named after the source',
      `btrfs-vault restore ${quote(src)} ${quote(a.from)} --to DIR`,
    );
  if (a.from !== undefined && a.backup !== undefined && a.from !== a.backup)
    throw new UserError(
      `the backup is named twice, and differently: ${a.backup} and --from ${a.from}`,
      `name it once, after the source: btrfs-vault restore ${quote(src)} BACKUP --path ${quote(a.path ?? 'PATH')} --to DEST`,
    );
  const backup = a.backup ?? a.from;
  if (a.source === undefined) {
    // the picker asks for the path and the backup itself
    const given = [
      a.path !== undefined && '--path',
      a.from !== undefined && '--from',
      a.before !== undefined && '--before',
    ];
    const named = given.filter((g): g is string => g !== false);
    if (a.json && named.length === 0)
      throw new UserError(
        '--json prints one JSON object on stdout, and without a SOURCE restore asks its questions there',
        'name the source: btrfs-vault restore /home --to /srv/restore --json',
      );
    if (named.length > 0)
      throw new UserError(
        `${named.join(', ')} without a SOURCE: restore without one asks for the source, the path and the backup on the terminal`,
        `name the source too (btrfs-vault restore /home ${named.map((n) => `${n} …`).join(' ')} --to …), or leave ${named.join(', ')} out and choose`,
      );
  }
  if (backup !== undefined && a.before !== undefined)
    throw new UserError(
      `both a backup (${backup}) and --before ${a.before}: each picks the backup`,
      `give one of them: btrfs-vault restore ${quote(src)} ${quote(backup)} --to DIR, or --before ${quote(a.before)} without the backup's name`,
    );
  if (a.path !== undefined) checkPathMode({ ...a, path: a.path });
  else if (a.source !== undefined) checkWholeMode(a);
  return backup;
}

/** --path: one file or folder copied to --to; the whole backup's options do not apply. */
export function checkPathMode(a: { source?: string; path: string; before?: string; writable: boolean }): void {
  const src = quote(a.source ?? 'SOURCE');
  if (a.before !== undefined)
    throw new UserError(
      '--before picks a whole backup; with --path, name the backup after the source (btrfs-vault files lists those that hold the path)',
      `btrfs-vault files ${src} ${quote(a.path)}, then: btrfs-vault restore ${src} BACKUP --path ${quote(a.path)} --to DEST`,
    );
  if (a.writable)
    throw new UserError(
      '--writable makes a writable snapshot beside a whole restored backup; with --path the copy is an ordinary file or folder, writable already',
      `leave out --writable, or --path to restore the whole backup: btrfs-vault restore ${src} --to DIR --writable`,
    );
}

/** A whole backup: a new subvolume in --to, never overwriting anything. */
export function checkWholeMode(a: { source?: string; overwrite: boolean }): void {
  if (a.overwrite)
    throw new UserError(
      '--overwrite replaces what is at --to with one file or folder (--path); a whole backup never overwrites anything: it becomes a new subvolume in --to',
      `leave out --overwrite, or add --path: btrfs-vault restore ${quote(a.source ?? 'SOURCE')} --path PATH --to DEST --overwrite`,
    );
}
