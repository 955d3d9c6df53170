import { UserError } from '../core/errors.js';
import { runRestore, restoreLines } from '../flows/restore.js';
import { outputMode } from '../ui/renderer.js';
import { configuredSource, loadFor, makeRunner } from './context.js';
import { filesLines, runFiles } from '../flows/files.js';
import { reportError } from './exit.js';

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

export async function restoreCommand(sourceArg: string, backup: string | undefined, opts: RestoreCommandOptions, signal: AbortSignal): Promise<number> {
  try {
    const config = await loadFor(opts);
    if (!opts.to) throw new UserError('restore needs --to DIR: the folder the backup is restored into (it must be on a btrfs filesystem)', `btrfs-vault restore ${sourceArg} --to /srv/restore`);
    const before = opts.before === undefined ? undefined : new Date(opts.before);
    if (before !== undefined && Number.isNaN(before.getTime())) throw new UserError(`--before ${opts.before} is not a date and time`, 'write it like 2026-11-20 or 2026-11-20T14:00');
    const mode = outputMode(opts);
    if (opts.path !== undefined) {
      if (backup !== undefined) throw new UserError('with --path, name the backup with --from', `btrfs-vault restore ${sourceArg} --path ${opts.path} --from ${backup} --to ${opts.to}`);
      const files = await runFiles({ config, source: configuredSource(config, sourceArg), path: opts.path, runner: makeRunner(opts), mode, restore: { from: opts.from, to: opts.to, overwrite: Boolean(opts.overwrite) }, signal });
      process.stdout.write(mode.json ? `${JSON.stringify(files, null, 2)}\n` : `${filesLines(files).join('\n')}\n`);
      return files.exitCode;
    }
    const report = await runRestore({ config, source: configuredSource(config, sourceArg), backup, before, to: opts.to, writable: Boolean(opts.writable), runner: makeRunner(opts), mode, signal });
    process.stdout.write(mode.json ? `${JSON.stringify(report, null, 2)}\n` : `${restoreLines(report).join('\n')}\n`);
    return report.exitCode ?? 0;
  } catch (err) {
    return reportError(err, opts);
  }
}
