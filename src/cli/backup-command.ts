import { runBackup, summaryLines } from '../flows/backup.js';
import { outputMode } from '../ui/renderer.js';
import { loadFor, makeRunner, pickSources } from './context.js';
import { reportError } from './exit.js';

export async function backupCommand(
  paths: string[],
  opts: { config: string; keepOpen?: boolean; sourcesFile?: boolean; dryRun?: boolean; json?: boolean; force?: boolean },
  signal: AbortSignal,
): Promise<number> {
  try {
    const config = await loadFor(opts);
    const sources = pickSources(config, paths, Boolean(opts.sourcesFile));
    const mode = outputMode(opts);
    const report = await runBackup({ config, sources, runner: makeRunner(opts), mode, keepOpen: Boolean(opts.keepOpen), force: Boolean(opts.force), signal });
    if (mode.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else for (const line of summaryLines(report)) process.stderr.write(`${line}\n`);
    return report.exitCode;
  } catch (err) {
    return reportError(err, opts);
  }
}
