import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { Listr } from 'listr2';
import { LATEST, readLink } from '../btrfs/links.js';
import { TargetError } from '../core/errors.js';
import { readMounts } from '../system/mounts.js';
import { closeStack, openStack, stackLayers } from '../stack/stack.js';
import { filesystemLayer } from '../stack/filesystem.js';
import type { StackContext } from '../stack/layer.js';
import { formatBytes } from '../ui/format.js';
import { listrOptions, outputMode } from '../ui/renderer.js';
import { reportError } from './exit.js';
import { loadFor, makeRunner } from './context.js';

type Opts = { config: string; dryRun?: boolean; json?: boolean };
type Step = { layer: string; outcome: string };

async function context(opts: Opts): Promise<StackContext> {
  return { runner: makeRunner(opts), config: await loadFor(opts), mounts: readMounts };
}

/** open: every layer bottom-up, each skipped when already open; then diagnostics. */
export async function openCommand(opts: Opts): Promise<number> {
  try {
    const ctx = await context(opts);
    const steps: Step[] = [];
    await new Listr(
      [
        {
          title: `Open ${ctx.config.target.mountpoint}`,
          task: async (_c, task) => {
            await openStack(ctx, (layer, outcome) => {
              steps.push({ layer, outcome });
              task.output = `${layer}: ${outcome}`;
            });
          },
        },
      ],
      { ...listrOptions(outputMode(opts)), exitOnError: true, collectErrors: false },
    ).run();
    await printState(ctx, opts, steps);
    if (ctx.runner.dryRun && !opts.json) process.stdout.write('dry run: nothing was changed\n');
    return 0;
  } catch (err) {
    return reportError(err, opts);
  }
}

/** close: every layer top-down; closing what is closed does nothing. */
export async function closeCommand(opts: Opts): Promise<number> {
  try {
    const ctx = await context(opts);
    const steps: Step[] = [];
    const layers = stackLayers(ctx).map((l) => ({
      ...l,
      close: async (c: StackContext) => {
        const outcome = await l.close(c);
        steps.push({ layer: l.name, outcome });
        return outcome;
      },
    }));
    const left = await closeStack(ctx, { opened: layers, onPaper: false });
    if (left.length > 0) throw new TargetError(`could not close everything; still open:\n  ${left.join('\n  ')}`, 'see the first line for why, then run btrfs-vault close again');
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok: true, steps }, null, 2)}\n`);
    else for (const s of steps) process.stdout.write(`${s.layer.padEnd(11)} ${s.outcome}\n`);
    return 0;
  } catch (err) {
    return reportError(err, opts);
  }
}

async function printState(ctx: StackContext, opts: Opts, steps: Step[]): Promise<void> {
  const layers = [];
  for (const layer of stackLayers(ctx)) {
    // a layer a dry-run opened only on paper has no state to read yet
    const paper = steps.find((s) => s.layer === layer.name)?.outcome === 'would-open';
    layers.push({ layer: layer.name, ...(paper ? { up: false, detail: 'would be opened (dry run)' } : await layer.inspect(ctx)) });
  }
  const onPaper = steps.some((s) => s.outcome === 'would-open');
  const mount = onPaper ? undefined : await filesystemLayer.mountOf(ctx);
  let space: { free: number; size: number } | undefined;
  const latest: { source: string; latest?: string }[] = [];
  if (mount) {
    const st = await statfs(mount.mountPoint);
    space = { free: st.bavail * st.bsize, size: st.blocks * st.bsize };
    for (const s of ctx.config.sources) latest.push({ source: s.path, latest: readLink(join(mount.mountPoint, s.name), LATEST) });
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ok: true, ...(ctx.runner.dryRun ? { dryRun: true } : {}), steps, layers, space, latest }, null, 2)}\n`);
    return;
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  for (const l of layers) out(`${l.layer.padEnd(11)} ${l.up ? 'open  ' : 'closed'}  ${l.detail}`);
  if (space) out(`space       ${formatBytes(space.free)} free of ${formatBytes(space.size)}`);
  for (const l of latest) out(`last backup ${l.source}: ${l.latest ?? 'none yet'}`);
}
