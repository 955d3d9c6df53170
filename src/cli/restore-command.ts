import { UserError } from '../core/errors.js';
import { BEFORE_RULE, parseBefore } from '../core/before-time.js';
import { runRestore, restoreLines } from '../flows/restore.js';
import { outputMode } from '../ui/renderer.js';
import { loadFor, makeRunner, restoreSource } from './context.js';
import { filesLines, runFiles } from '../flows/files.js';
import { pickRestore, type Picked } from '../flows/restore-pick.js';

export interface RestoreCommandOptions {
  config: string;
  to?: string;
  /** one file or folder instead of the whole backup */
  path?: string;
  from?: string;
  overwrite?: boolean;
  before?: string;
  writable?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export async function restoreCommand(sourceArg: string | undefined, backupArg: string | undefined, opts: RestoreCommandOptions, signal: AbortSignal): Promise<number> {
  const config = await loadFor(opts);
  let picked: Picked | undefined;
  if (sourceArg === undefined) {
    if (!process.stdin.isTTY) throw new UserError('restore needs a SOURCE, or a terminal to choose one on', 'btrfs-vault restore /home --to /srv/restore');
    picked = await pickRestore(config, opts.to);
    opts = { ...opts, to: picked.to, ...(picked.path ? { path: picked.path } : {}) };
  }
  const source = picked?.source.path ?? sourceArg!;
  const pickBackup = picked?.pickBackup;
  if (!opts.to) throw new UserError('restore needs --to DIR: the folder the backup is restored into (it must be on a btrfs filesystem)', `btrfs-vault restore ${source} --to /srv/restore`);
  const before = opts.before === undefined ? undefined : parseBefore(opts.before);
  if (opts.before !== undefined && before === undefined) throw new UserError(`--before ${opts.before} is not a date and time`, `write it ${BEFORE_RULE}`);
  const mode = outputMode(opts);
  if (opts.path !== undefined) {
    if (backupArg !== undefined) throw new UserError('with --path, name the backup with --from', `btrfs-vault restore ${source} --path ${opts.path} --from ${backupArg} --to ${opts.to}`);
    const files = await runFiles({ config, source: restoreSource(config, source), path: opts.path, runner: makeRunner(opts), mode, restore: { from: opts.from, to: opts.to, overwrite: Boolean(opts.overwrite) }, pickBackup, signal });
    process.stdout.write(mode.json ? `${JSON.stringify(files, null, 2)}\n` : `${filesLines(files).join('\n')}\n`);
    return files.exitCode;
  }
  const report = await runRestore({ config, source: restoreSource(config, source), backup: backupArg, before, to: opts.to, writable: Boolean(opts.writable), pickBackup, runner: makeRunner(opts), mode, signal });
  process.stdout.write(mode.json ? `${JSON.stringify(report, null, 2)}\n` : `${restoreLines(report).join('\n')}\n`);
  return report.exitCode ?? 0;
}
