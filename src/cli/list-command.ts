import { listBackups, listingLines } from '../flows/inspect/list.js';
import { namedSources } from '../flows/session/source-pick.js';
import { loadFor, makeRunner } from './context.js';
import { jsonText } from '../ui/json-output.js';

export async function listCommand(sources: string[], opts: { config: string; json?: boolean }): Promise<number> {
  const config = await loadFor(opts);
  const listing = await listBackups(makeRunner({}), config, namedSources(config, sources));
  process.stdout.write(
    opts.json ? jsonText({ ok: true, ...listing, exitCode: 0 }) : `${listingLines(listing).join('\n')}\n`,
  );
  return 0;
}
