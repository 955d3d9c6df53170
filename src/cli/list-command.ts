import { listBackups, listingLines } from '../flows/inspect/list.js';
import { runPerTarget } from '../flows/session/each-target.js';
import { namedSources } from '../flows/session/source-pick.js';
import { loadFor, makeRunner } from './context.js';
import { jsonText } from '../ui/json-output.js';
import { listRemote, remoteListingLines } from '../flows/remote/remote-list.js';

export async function listCommand(
  sources: string[],
  opts: { config: string; target?: string; json?: boolean },
): Promise<number> {
  const config = await loadFor(opts);
  const runner = makeRunner({});
  const remote = config.remotes?.find((r) => r.name === opts.target);
  if (remote) {
    const listing = await listRemote(runner, config, remote, sources);
    process.stdout.write(
      opts.json
        ? jsonText({ name: remote.name, ...listing })
        : `${remoteListingLines(remote.name, listing).join('\n')}\n`,
    );
    return listing.exitCode;
  }
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
