import { pruneLines, runPrune } from '../flows/retention/prune.js';
import { runPerTarget } from '../flows/session/each-target.js';
import { outputMode } from '../ui/renderer.js';
import { pickSources } from '../flows/session/source-pick.js';
import { loadFor, makeRunner } from './context.js';
import { jsonText } from '../ui/json-output.js';
import { runServePrune, servePruneLines } from '../flows/serve/serve-prune.js';
import { UserError } from '../core/errors.js';
import { serverScope } from '../flows/serve/server-scope.js';

export async function pruneCommand(
  paths: string[],
  opts: { config: string; target?: string; dryRun?: boolean; json?: boolean; serveRoot?: string },
  signal: AbortSignal,
): Promise<number> {
  const scope = serverScope(opts.config, { serveRoot: opts.serveRoot });
  if (scope) {
    if (paths.length > 0 || opts.target !== undefined)
      throw new UserError('prune of a serve root takes no sources or --target', 'see: btrfs-vault prune --help');
    const folders = await runServePrune(makeRunner(opts), scope.serveRoot, scope.retention);
    process.stdout.write(opts.json ? jsonText({ folders }) : `${servePruneLines(folders).join('\n')}\n`);
    return 0;
  }
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
  if (mode.json) process.stdout.write(jsonText(out.json as object));
  else process.stdout.write(`${out.lines.join('\n')}\n`);
  return out.exitCode;
}
