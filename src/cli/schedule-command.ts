import { resolve } from 'node:path';
import { scheduleVerb } from '../flows/schedule/schedule-verb.js';
import { loadFor, makeRunner } from './context.js';

interface Opts {
  config: string;
  every?: string;
  onPlug?: boolean;
  root?: string;
  dryRun?: boolean;
  json?: boolean;
}

export async function scheduleCommand(action: 'install' | 'remove' | 'status', opts: Opts): Promise<number> {
  const config = await loadFor(opts);
  return scheduleVerb({
    runner: makeRunner(opts),
    config,
    action,
    every: opts.every,
    onPlug: Boolean(opts.onPlug),
    root: resolve(opts.root ?? '/'),
    json: Boolean(opts.json),
    out: (line) => process.stdout.write(`${line}\n`),
    log: (line) => process.stderr.write(`${line}\n`),
  });
}
