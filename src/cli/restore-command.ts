import { UserError } from '../core/errors.js';
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
  let picked: Picked | undefined;
  try {
    const config = await loadFor(opts);
    if (sourceArg === undefined) {
      if (!process.stdin.isTTY) throw new UserError('restore needs a SOURCE, or a terminal to choose one on', 'btrfs-vault restore /home --to /srv/restore');
      picked = await pickRestore(config, makeRunner({}), opts.to);
      opts = { ...opts, to: picked.to, ...(picked.path ? { path: picked.path, from: picked.backup } : {}) };
    }
    const backup = picked && !picked.path ? picked.backup : backupArg;
    const source = picked?.source.path ?? sourceArg!;
    if (!opts.to) throw new UserError('restore needs --to DIR: the folder the backup is restored into (it must be on a btrfs filesystem)', `btrfs-vault restore ${source} --to /srv/restore`);
    const before = opts.before === undefined ? undefined : new Date(opts.before);
    if (before !== undefined && Number.isNaN(before.getTime())) throw new UserError(`--before ${opts.before} is not a date and time`, 'write it like 2026-11-20 or 2026-11-20T14:00');
    const mode = outputMode(opts);
    if (opts.path !== undefined) {
      if (backup !== undefined) throw new UserError('with --path, name the backup with --from', `btrfs-vault restore ${source} --path ${opts.path} --from ${backup} --to ${opts.to}`);
      const files = await runFiles({ config, source: restoreSource(config, source), path: opts.path, runner: makeRunner(opts), mode, restore: { from: opts.from, to: opts.to, overwrite: Boolean(opts.overwrite) }, signal });
      process.stdout.write(mode.json ? `${JSON.stringify(files, null, 2)}\n` : `${filesLines(files).join('\n')}\n`);
      return files.exitCode;
    }
    const report = await runRestore({ config, source: restoreSource(config, source), backup, before, to: opts.to, writable: Boolean(opts.writable), runner: makeRunner(opts), mode, signal });
    process.stdout.write(mode.json ? `${JSON.stringify(report, null, 2)}\n` : `${restoreLines(report).join('\n')}\n`);
    return report.exitCode ?? 0;
  } finally {
    // a failed close is told, and never hides why the restore stopped
    await picked?.close().catch((err: unknown) => process.stderr.write(`btrfs-vault: warning: closing the backup disk failed: ${err instanceof Error ? err.message : String(err)}\n`));
  }
}
