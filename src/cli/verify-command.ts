import { runVerify, verifyLines } from '../flows/inspect/verify.js';
import { runPerTarget } from '../flows/session/each-target.js';
import { outputMode } from '../ui/renderer.js';
import { pickSources } from '../flows/session/source-pick.js';
import { loadFor, makeRunner } from './context.js';

export async function verifyCommand(
  paths: string[],
  opts: { config: string; target?: string; full?: boolean; scrub: boolean; json?: boolean },
  signal: AbortSignal,
): Promise<number> {
  const config = await loadFor(opts);
  const sources = pickSources(config, paths, false);
  const mode = outputMode(opts);
  const out = await runPerTarget(
    config,
    opts.target,
    (view) =>
      runVerify({
        config: view,
        sources,
        runner: makeRunner({}),
        mode,
        full: Boolean(opts.full),
        scrub: opts.scrub,
        signal,
      }),
    verifyLines,
    { what: 'verify' },
  );
  if (mode.json) process.stdout.write(`${JSON.stringify(out.json, null, 2)}\n`);
  else process.stdout.write(`${out.lines.join('\n')}\n`);
  return out.exitCode;
}
