import { filesLines, runFiles } from '../flows/restore/files.js';
import { outputMode } from '../ui/renderer.js';
import { restoreSource } from '../flows/session/source-pick.js';
import { diskToReadFrom } from '../flows/session/each-target.js';
import { loadFor, makeRunner } from './context.js';
import { jsonText } from '../ui/json-output.js';
import { filesFromRemote } from '../flows/remote/remote-files.js';

export async function filesCommand(
  sourceArg: string,
  path: string,
  opts: { config: string; target?: string; json?: boolean },
  signal: AbortSignal,
): Promise<number> {
  const loaded = await loadFor(opts);
  const mode = outputMode(opts);
  const remote = loaded.remotes?.find((r) => r.name === opts.target);
  if (remote) {
    const r = await filesFromRemote({ runner: makeRunner({}), config: loaded, remote, source: sourceArg, path });
    process.stdout.write(mode.json ? jsonText(r) : `${filesLines(r).join('\n')}\n`);
    return r.exitCode;
  }
  const disk = diskToReadFrom(loaded, opts.target, sourceArg);
  if (disk.said) process.stderr.write(`${disk.said}\n`);
  const config = disk.config;
  const report = await runFiles({
    config,
    source: restoreSource(config, sourceArg),
    path,
    runner: makeRunner({}),
    mode,
    signal,
  });
  process.stdout.write(mode.json ? jsonText(report) : `${filesLines(report).join('\n')}\n`);
  return report.exitCode;
}
