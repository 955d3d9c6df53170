import { pruneLines, runPrune } from '../flows/retention/prune.js';
import { outputMode } from '../ui/renderer.js';
import { pickSources } from '../flows/session/source-pick.js';
import { loadFor, makeRunner } from './context.js';
import { jsonText } from '../ui/json-output.js';

export async function pruneCommand(
  paths: string[],
  opts: { config: string; dryRun?: boolean; json?: boolean },
  signal: AbortSignal,
): Promise<number> {
  const config = await loadFor(opts);
  const sources = pickSources(config, paths, false);
  const mode = outputMode(opts);
  const report = await runPrune({ config, sources, runner: makeRunner(opts), mode, signal });
  if (mode.json) process.stdout.write(jsonText(report));
  else process.stdout.write(`${pruneLines(report).join('\n')}\n`);
  return report.exitCode;
}
