import { listBackups, listingLines } from '../flows/inspect/list.js';
import { runPerTarget } from '../flows/session/each-target.js';
import { loadFor, makeRunner } from './context.js';

export async function listCommand(opts: { config: string; target?: string; json?: boolean }): Promise<number> {
  const config = await loadFor(opts);
  const runner = makeRunner({});
  const out = await runPerTarget(config, opts.target, (view) => listBackups(runner, view, view.sources), listingLines, {
    what: 'list its backups',
  });
  process.stdout.write(opts.json ? `${JSON.stringify(out.json, null, 2)}\n` : `${out.lines.join('\n')}\n`);
  return 0;
}
