import { collectStatusFor, statusLines } from '../flows/inspect/status.js';
import { loadFor, makeRunner } from './context.js';

/** status [--json] [--check] [--target NAME]: --check exits 1 while any warning stands (for monitoring). */
export async function statusCommand(opts: {
  config: string;
  target?: string;
  json?: boolean;
  check?: boolean;
}): Promise<number> {
  const config = await loadFor(opts);
  const status = await collectStatusFor(makeRunner({}), config, opts.target);
  status.exitCode = opts.check && !status.ok ? 1 : 0;
  process.stdout.write(opts.json ? `${JSON.stringify(status, null, 2)}\n` : `${statusLines(status).join('\n')}\n`);
  return status.exitCode;
}
