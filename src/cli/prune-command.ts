import { pruneLines, runPrune } from '../flows/retention/prune.js';
import { runPerTarget } from '../flows/session/each-target.js';
import { outputMode } from '../ui/renderer.js';
import { pickSources } from '../flows/session/source-pick.js';
import { loadFor, makeRunner } from './context.js';

export async function pruneCommand(
  paths: string[],
  opts: { config: string; target?: string; dryRun?: boolean; json?: boolean },
  signal: AbortSignal,
): Promise<number> {
  const config = await loadFor(opts);
  const sources = pickSources(config, paths, false);
  const mode = outputMode(opts);
  const runner = makeRunner(opts);
  const out = await runPerTarget(
    config,
    opts.target,
    (view) => runPrune({ config: view, sources, runner, mode, signal }),
    pruneLines,
    { what: 'prune' },
  );
  if (mode.json) process.stdout.write(`${JSON.stringify(out.json, null, 2)}\n`);
  else process.stdout.write(`${out.lines.join('\n')}\n`);
  return out.exitCode;
}
