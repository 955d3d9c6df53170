import { Listr } from 'listr2';
import { readMounts } from '../system/mounts.js';
import { closeStack, openStack, stackLayers } from '../stack/stack.js';
import type { StackContext } from '../stack/layer.js';
import { listrOptions, outputMode } from '../ui/renderer.js';
import { reportError } from './exit.js';
import { loadFor, makeRunner } from './setup-run.js';

type Opts = { config: string; dryRun?: boolean; json?: boolean };

async function context(opts: Opts): Promise<StackContext> {
  return { runner: makeRunner(opts), config: await loadFor(opts), mounts: readMounts };
}

/** open: every layer bottom-up, each skipped when already open; then the layers' state. */
export async function openCommand(opts: Opts): Promise<number> {
  try {
    const ctx = await context(opts);
    const steps: { layer: string; outcome: string }[] = [];
    await new Listr([{ title: `Open ${ctx.config.target.mountpoint}`, task: async (_c, task) => {
      await openStack(ctx, (layer, outcome) => {
        steps.push({ layer, outcome });
        task.output = `${layer}: ${outcome}`;
      });
    } }], { ...listrOptions(outputMode(opts)), exitOnError: true }).run();
    return printState(ctx, opts, steps);
  } catch (err) {
    return reportError(err);
  }
}

/** close: every layer top-down; closing what is closed does nothing. */
export async function closeCommand(opts: Opts): Promise<number> {
  try {
    const ctx = await context(opts);
    const layers = stackLayers(ctx);
    const left = await closeStack(ctx, { opened: layers });
    if (left.length > 0) throw new Error(`could not close everything: ${left.join('; ')}`);
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
    return 0;
  } catch (err) {
    return reportError(err);
  }
}

async function printState(ctx: StackContext, opts: Opts, steps: { layer: string; outcome: string }[]): Promise<number> {
  const states = [];
  for (const layer of stackLayers(ctx)) states.push({ layer: layer.name, ...(await layer.inspect(ctx)) });
  if (opts.json) process.stdout.write(`${JSON.stringify({ ok: true, steps, layers: states }, null, 2)}\n`);
  else for (const s of states) process.stdout.write(`${s.layer.padEnd(11)} ${s.up ? 'open  ' : 'closed'}  ${s.detail}\n`);
  return 0;
}
