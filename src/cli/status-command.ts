import { collectStatusFor, statusLines } from '../flows/inspect/status.js';
import { collectServeStatus, serveStatusLines } from '../flows/serve/serve-status.js';
import { STATUS_DEFAULTS } from '../config/defaults.js';
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
  if (opts.serveRoot !== undefined) return serveStatusCommand({ ...opts, serveRoot: opts.serveRoot });
  if (opts.maxAge !== undefined)
    throw new UserError(
      '--max-age goes with --serve-root',
      "the max_age of this host's backups is [status] max_age in the config",
    );
  const config = await loadFor(opts);
  const status = await collectStatusFor(makeRunner({}), config, opts.target);
  status.exitCode = opts.check && !status.ok ? 1 : 0;
  process.stdout.write(opts.json ? jsonText(status) : `${statusLines(status).join('\n')}\n`);
  return status.exitCode;
}

/** status --serve-root DIR on a backup server: each host's newest backup and its age (no config read). */
async function serveStatusCommand(opts: { serveRoot: string; maxAge?: string; json?: boolean; check?: boolean }) {
  const maxAge = opts.maxAge ?? STATUS_DEFAULTS.max_age;
  const m = /^(\d+)([hdw])$/.exec(maxAge);
  if (!m)
    throw new UserError(
      `--max-age ${JSON.stringify(maxAge)} is not a duration`,
      'write hours, days or weeks: 36h, 7d, 2w',
    );
  const seconds = Number(m[1]) * { h: 3600, d: 86_400, w: 604_800 }[m[2] as 'h' | 'd' | 'w'];
  const status = await collectServeStatus(makeRunner({}), opts.serveRoot, seconds);
  const exitCode = opts.check && !status.ok ? 1 : 0;
  process.stdout.write(opts.json ? jsonText({ ...status, exitCode }) : `${serveStatusLines(status).join('\n')}\n`);
  return exitCode;
}
