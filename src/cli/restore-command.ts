import { resolve } from 'node:path';
import type { VaultConfig } from '../config/config.js';
import { UserError } from '../core/errors.js';
import { runRestore, restoreLines } from '../flows/restore.js';
import { outputMode } from '../ui/renderer.js';
import { loadFor, makeRunner } from './context.js';
import { reportError } from './exit.js';

export interface RestoreCommandOptions {
  config: string;
  to?: string;
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
    const report = await runRestore({ config, source: configuredSource(config, sourceArg), backup, before, to: opts.to, writable: Boolean(opts.writable), runner: makeRunner(opts), mode, signal });
    process.stdout.write(mode.json ? `${JSON.stringify(report, null, 2)}\n` : `${restoreLines(report).join('\n')}\n`);
    return report.exitCode ?? 0;
  } catch (err) {
    return reportError(err, opts);
  }
}

/** A configured source, by its path or its folder name. */
function configuredSource(config: VaultConfig, arg: string) {
  const found = config.sources.find((s) => s.name === arg || s.path === resolve(arg));
  if (!found) {
    throw new UserError(`${arg} is not a configured source of ${config.file}`, `name one of: ${config.sources.map((s) => `${s.path} (${s.name})`).join(', ') || 'none are configured'}`);
  }
  return found;
}
