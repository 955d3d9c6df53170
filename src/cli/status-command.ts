import { collectStatusFor, statusLines } from '../flows/inspect/status.js';
import { collectServeStatus, serveStatusLines } from '../flows/serve/serve-status.js';
import { serverScope, type ServerScope } from '../flows/serve/server-scope.js';
import { notify } from '../flows/schedule/notify.js';
import { UserError } from '../core/errors.js';
import { loadFor, makeRunner } from './context.js';
import { jsonText } from '../ui/json-output.js';

/** status [--json] [--check] [--target NAME]: --check exits 1 while any warning stands (for monitoring). */
export async function statusCommand(opts: {
  config: string;
  target?: string;
  json?: boolean;
  check?: boolean;
  serveRoot?: string;
  maxAge?: string;
}): Promise<number> {
  const scope = serverScope(opts.config, opts);
  if (scope) return serveStatusCommand(scope, opts);
  const config = await loadFor(opts);
  const status = await collectStatusFor(makeRunner({}), config, opts.target);
  status.exitCode = opts.check && !status.ok ? 1 : 0;
  process.stdout.write(opts.json ? jsonText(status) : `${statusLines(status).join('\n')}\n`);
  return status.exitCode;
}

/** status on a backup server: each host's newest backup and its age; with --check, a quiet host is told ([notify]) */
async function serveStatusCommand(scope: ServerScope, opts: { json?: boolean; check?: boolean; target?: string }) {
  if (opts.target !== undefined)
    throw new UserError(
      'status of a serve root takes no --target (it lists every host)',
      'see: btrfs-vault status --help',
    );
  const runner = makeRunner({});
  const status = await collectServeStatus(runner, scope.serveRoot, scope.maxAgeSeconds);
  const exitCode = opts.check && !status.ok ? 1 : 0;
  const problems =
    opts.check && !status.ok && scope.notifyConfig
      ? await notify(runner, scope.notifyConfig, 'stale', {
          exitCode,
          warnings: status.warnings,
          serveRoot: scope.serveRoot,
        })
      : [];
  process.stdout.write(opts.json ? jsonText({ ...status, exitCode }) : `${serveStatusLines(status).join('\n')}\n`);
  for (const p of problems) process.stderr.write(`! ${p}\n`);
  return exitCode;
}
