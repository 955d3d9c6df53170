import { restoreVerb } from '../flows/restore/restore-verb.js';
import { diskToReadFrom } from '../flows/session/each-target.js';
import { outputMode } from '../ui/renderer.js';
import { loadFor, makeRunner } from './context.js';

export interface RestoreCommandOptions {
  config: string;
  target?: string;
  to?: string;
  path?: string;
  from?: string;
  overwrite?: boolean;
  before?: string;
  writable?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export async function restoreCommand(
  source: string | undefined,
  backup: string | undefined,
  opts: RestoreCommandOptions,
  signal: AbortSignal,
): Promise<number> {
  const disk = diskToReadFrom(await loadFor(opts), opts.target, source, {
    backup: backup ?? opts.from,
    before: opts.before,
  });
  if (disk.said) process.stderr.write(`${disk.said}\n`);
  return restoreVerb({
    config: disk.config,
    source,
    backup,
    to: opts.to,
    path: opts.path,
    from: opts.from,
    overwrite: Boolean(opts.overwrite),
    before: opts.before,
    writable: Boolean(opts.writable),
    runner: makeRunner(opts),
    mode: outputMode(opts),
    interactive: Boolean(process.stdin.isTTY),
    signal,
    print: (text) => process.stdout.write(text),
  });
}
