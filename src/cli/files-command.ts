import { filesLines, runFiles } from '../flows/restore/files.js';
import { outputMode } from '../ui/renderer.js';
import { restoreSource } from '../flows/session/source-pick.js';
import { diskToReadFrom } from '../flows/session/each-target.js';
import { loadFor, makeRunner } from './context.js';

export async function filesCommand(
  sourceArg: string,
  path: string,
  opts: { config: string; target?: string; json?: boolean },
  signal: AbortSignal,
): Promise<number> {
  const disk = diskToReadFrom(await loadFor(opts), opts.target, sourceArg);
  if (disk.said) process.stderr.write(`${disk.said}\n`);
  const config = disk.config;
  const mode = outputMode(opts);
  const report = await runFiles({
    config,
    source: restoreSource(config, sourceArg),
    path,
    runner: makeRunner({}),
    mode,
    signal,
  });
  process.stdout.write(mode.json ? `${JSON.stringify(report, null, 2)}\n` : `${filesLines(report).join('\n')}\n`);
  return report.exitCode;
}
