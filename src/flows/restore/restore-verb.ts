import type { VaultConfig } from '../../config/config.js';
import { BEFORE_RULE, parseBefore } from '../../core/before-time.js';
import { UserError } from '../../core/errors.js';
import type { Runner } from '../../system/runner.js';
import type { OutputMode } from '../../ui/renderer.js';
import { restoreSource } from '../session/source-pick.js';
import { filesLines, runFiles } from './files.js';
import { restoreLines, runRestore } from './restore.js';
import { pickRestore, type Picked } from './restore-pick.js';
import { checkPathMode, checkRestoreOptions, checkWholeMode } from './restore-mode.js';
import { jsonText } from '../../ui/json-output.js';

export interface RestoreVerbInput {
  config: VaultConfig;
  /** not given: asked on the terminal (with the path and where it goes) */
  source?: string;
  backup?: string;
  to?: string;
  /** one file or folder instead of the whole backup */
  path?: string;
  /** the old name of `backup` with --path, kept for the command lines written before */
  from?: string;
  overwrite: boolean;
  before?: string;
  writable: boolean;
  runner: Runner;
  mode: OutputMode;
  interactive: boolean;
  signal: AbortSignal;
  print: (text: string) => void;
}

/** restore: a whole backup as a new subvolume, or one path copied back (--path). */
export async function restoreVerb(input: RestoreVerbInput): Promise<number> {
  const { config, runner, mode, signal } = input;
  let { to, path } = input;
  let picked: Picked | undefined;
  const backup = checkRestoreOptions({ ...input, json: mode.json });
  if (input.source === undefined) {
    if (!input.interactive)
      throw new UserError(
        'restore needs a SOURCE, or a terminal to choose one on',
        'btrfs-vault restore /home --to /srv/restore',
      );
    picked = await pickRestore(config, to);
    to = picked.to;
    if (picked.path) path = picked.path;
    // the person chose the mode: an option of the other one is refused as on the command line
    if (path !== undefined) checkPathMode({ source: picked.source.path, path, writable: input.writable });
    else checkWholeMode({ source: picked.source.path, overwrite: input.overwrite });
  }
  const source = picked?.source.path ?? input.source!;
  const pickBackup = picked?.pickBackup;
  if (!to)
    throw new UserError(
      'restore needs --to DIR: the folder the backup is restored into (it must be on a btrfs filesystem)',
      `btrfs-vault restore ${source} --to /srv/restore`,
    );
  const before = input.before === undefined ? undefined : parseBefore(input.before);
  if (input.before !== undefined && before === undefined)
    throw new UserError(`--before ${input.before} is not a date and time`, `write it ${BEFORE_RULE}`);
  if (path !== undefined) {
    const files = await runFiles({
      config,
      source: restoreSource(config, source),
      path,
      runner,
      mode,
      restore: { from: backup, to, overwrite: input.overwrite },
      pickBackup,
      signal,
    });
    input.print(mode.json ? jsonText(files) : `${filesLines(files).join('\n')}\n`);
    return files.exitCode;
  }
  const report = await runRestore({
    config,
    source: restoreSource(config, source),
    backup,
    before,
    to,
    writable: input.writable,
    pickBackup,
    runner,
    mode,
    signal,
  });
  input.print(mode.json ? jsonText(report) : `${restoreLines(report).join('\n')}\n`);
  return report.exitCode ?? 0;
}
