import { backupVerb } from '../flows/backup/backup-verb.js';
import { pickSources } from '../flows/session/source-pick.js';
import { outputMode } from '../ui/renderer.js';
import { loadFor, makeRunner } from './context.js';

export interface BackupCommandOptions {
  config: string;
  keepOpen?: boolean;
  sourcesFile?: boolean;
  dryRun?: boolean;
  json?: boolean;
  force?: boolean;
  scheduled?: boolean;
  onPlug?: boolean;
  target?: string;
}

export async function backupCommand(paths: string[], opts: BackupCommandOptions, signal: AbortSignal): Promise<number> {
  const config = await loadFor(opts);
  return backupVerb({
    config,
    sources: pickSources(config, paths, Boolean(opts.sourcesFile)),
    runner: makeRunner(opts),
    mode: outputMode(opts),
    keepOpen: Boolean(opts.keepOpen),
    force: Boolean(opts.force),
    scheduled: Boolean(opts.scheduled),
    onPlug: Boolean(opts.onPlug),
    target: opts.target,
    signal,
  });
}
