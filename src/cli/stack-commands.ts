import { closeReport, openReport, runClose, runOpen } from '../flows/session/open-close.js';
import { runPerTarget } from '../flows/session/each-target.js';
import { jsonText } from '../ui/json-output.js';
import { outputMode } from '../ui/renderer.js';
import { loadFor, makeRunner } from './context.js';

type Opts = { config: string; target?: string; dryRun?: boolean; json?: boolean };

const print = (lines: string[]) => process.stdout.write(lines.map((l) => `${l}\n`).join(''));

export async function openCommand(opts: Opts): Promise<number> {
  const runner = makeRunner(opts);
  const dryRun = !runner.changesTakeEffect;
  const out = await runPerTarget(
    await loadFor(opts),
    opts.target,
    async (view) => ({
      ok: true,
      ...(dryRun ? { dryRun: true } : {}),
      ...(await runOpen(runner, view, outputMode(opts))),
    }),
    (s) => openReport(s, { json: false, dryRun }),
    { what: 'open it' },
  );
  print(opts.json ? [jsonText({ ok: true, ...(out.json as object), exitCode: out.exitCode }).trimEnd()] : out.lines);
  return out.exitCode;
}

export async function closeCommand(opts: Opts): Promise<number> {
  const runner = makeRunner(opts);
  const out = await runPerTarget(
    await loadFor(opts),
    opts.target,
    async (view) => ({ ok: true, steps: await runClose(runner, view, outputMode(opts)) }),
    (r) => closeReport(r.steps, { json: false }),
    { what: 'close it', which: 'all' },
  );
  print(opts.json ? [jsonText({ ok: true, ...(out.json as object), exitCode: out.exitCode }).trimEnd()] : out.lines);
  return out.exitCode;
}
