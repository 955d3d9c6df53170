import { runClose, runOpen } from '../flows/open-close.js';
import { formatBytes } from '../ui/format.js';
import { outputMode } from '../ui/renderer.js';
import { reportError } from './exit.js';
import { loadFor, makeRunner } from './context.js';

type Opts = { config: string; dryRun?: boolean; json?: boolean };

export async function openCommand(opts: Opts): Promise<number> {
  try {
    const runner = makeRunner(opts);
    const s = await runOpen(runner, await loadFor(opts), outputMode(opts));
    const out = (line: string) => process.stdout.write(`${line}\n`);
    if (opts.json) {
      out(JSON.stringify({ ok: true, ...(runner.dryRun ? { dryRun: true } : {}), ...s }, null, 2));
      return 0;
    }
    for (const l of s.layers) out(`${l.layer.padEnd(11)} ${l.up ? 'open  ' : 'closed'}  ${l.detail}`);
    if (s.space) out(`space       ${formatBytes(s.space.free)} free of ${formatBytes(s.space.size)}`);
    for (const l of s.latest) out(`last backup ${l.source}: ${l.latest ?? 'none yet'}`);
    if (runner.dryRun) out('dry run: nothing was changed');
    return 0;
  } catch (err) {
    return reportError(err, opts);
  }
}

export async function closeCommand(opts: Opts): Promise<number> {
  try {
    const steps = await runClose(makeRunner(opts), await loadFor(opts), outputMode(opts));
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok: true, steps }, null, 2)}\n`);
    else for (const s of steps) process.stdout.write(`${s.layer.padEnd(11)} ${s.outcome}\n`);
    return 0;
  } catch (err) {
    return reportError(err, opts);
  }
}
