import { runVerify, verifyLines } from '../flows/inspect/verify.js';
import { outputMode } from '../ui/renderer.js';
import { pickSources } from '../flows/session/source-pick.js';
import { loadFor, makeRunner } from './context.js';
import { jsonText } from '../ui/json-output.js';

export async function verifyCommand(
  paths: string[],
  opts: { config: string; full?: boolean; scrub: boolean; json?: boolean },
  signal: AbortSignal,
): Promise<number> {
  const config = await loadFor(opts);
  const sources = pickSources(config, paths, false);
  const mode = outputMode(opts);
  const report = await runVerify({
    config,
    sources,
    runner: makeRunner({}),
    mode,
    full: Boolean(opts.full),
    scrub: opts.scrub,
    signal,
  });
  if (mode.json) process.stdout.write(jsonText(report));
  else process.stdout.write(`${verifyLines(report).join('\n')}\n`);
  return report.exitCode;
}
