import { filesLines, runFiles } from '../flows/files.js';
import { outputMode } from '../ui/renderer.js';
import { loadFor, makeRunner, restoreSource } from './context.js';

export async function filesCommand(sourceArg: string, path: string, opts: { config: string; json?: boolean }, signal: AbortSignal): Promise<number> {
  const config = await loadFor(opts);
  const mode = outputMode(opts);
  const report = await runFiles({ config, source: restoreSource(config, sourceArg), path, runner: makeRunner({}), mode, signal });
  process.stdout.write(mode.json ? `${JSON.stringify(report, null, 2)}\n` : `${filesLines(report).join('\n')}\n`);
  return report.exitCode;
}
