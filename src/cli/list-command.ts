import { listBackups, listingLines } from '../flows/inspect/list.js';
import { runPerTarget } from '../flows/session/each-target.js';
import { namedSources } from '../flows/session/source-pick.js';
import { loadFor, makeRunner } from './context.js';
import { jsonText } from '../ui/json-output.js';

export async function listCommand(
  sources: string[],
  opts: { config: string; target?: string; json?: boolean },
): Promise<number> {
  const config = await loadFor(opts);
  const runner = makeRunner({});
  const out = await runPerTarget(
    config,
    opts.target,
    (view) => listBackups(runner, view, namedSources(view, sources)),
    listingLines,
    { what: 'list its backups' },
  );
  process.stdout.write(
    opts.json
      ? jsonText({ ok: out.exitCode === 0, ...(out.json as object), exitCode: out.exitCode })
      : `${out.lines.join('\n')}\n`,
  );
  return out.exitCode;
}
