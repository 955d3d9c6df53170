import { closeReport, openReport, runClose, runOpen } from '../flows/session/open-close.js';
import { outputMode } from '../ui/renderer.js';
import { loadFor, makeRunner } from './context.js';

type Opts = { config: string; dryRun?: boolean; json?: boolean };

const print = (lines: string[]) => process.stdout.write(lines.map((l) => `${l}\n`).join(''));

export async function openCommand(opts: Opts): Promise<number> {
  const runner = makeRunner(opts);
  print(
    openReport(await runOpen(runner, await loadFor(opts), outputMode(opts)), {
      json: Boolean(opts.json),
      dryRun: !runner.changesTakeEffect,
    }),
  );
  return 0;
}

export async function closeCommand(opts: Opts): Promise<number> {
  print(
    closeReport(await runClose(makeRunner(opts), await loadFor(opts), outputMode(opts)), { json: Boolean(opts.json) }),
  );
  return 0;
}
