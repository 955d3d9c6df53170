import { listBackups, listingLines } from '../flows/inspect/list.js';
import { loadFor, makeRunner } from './context.js';
import { jsonText } from '../ui/json-output.js';

export async function listCommand(opts: { config: string; json?: boolean }): Promise<number> {
  const config = await loadFor(opts);
  const listing = await listBackups(makeRunner({}), config, config.sources);
  process.stdout.write(opts.json ? jsonText(listing) : `${listingLines(listing).join('\n')}\n`);
  return 0;
}
