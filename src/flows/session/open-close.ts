import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { VaultConfig } from '../../config/config.js';
import { TargetError } from '../../core/errors.js';
import { LATEST, readLink } from '../../btrfs/links.js';
import { acquireLocks } from '../../system/lock.js';
import { readMounts } from '../../system/mounts.js';
import type { Runner } from '../../system/runner.js';
import { filesystemLayer } from '../../stack/filesystem.js';
import type { LayerHandler, StackContext } from '../../stack/layer.js';
import { clearOpenRecord } from '../../stack/open-record.js';
import { closeStack, openStack, stackLayers } from '../../stack/stack.js';
import { runTasks, type OutputMode } from '../../ui/renderer.js';
import { targetLockKey } from './target-session.js';
import { formatBytes } from '../../ui/format.js';
import { jsonText } from '../../ui/json-output.js';

export interface Step {
  layer: string;
  outcome: string;
}

export interface StackState {
  steps: Step[];
  layers: { layer: string; up: boolean; detail: string }[];
  space?: { free: number; size: number };
  latest: { source: string; latest?: string }[];
}

/**
 * open and close take the backup target's lock like every run (a close in the middle
 * of a backup would pull the disk from under it) and settle who owes a close: after
 * either, no run does (src/stack/open-record.ts).
 */
async function locked<T>(runner: Runner, config: VaultConfig, work: (held: boolean) => Promise<T>): Promise<T> {
  // a run whose changes do not take effect excludes nobody, and settles no open record
  const lock = runner.changesTakeEffect
    ? await acquireLocks(runner, [targetLockKey(config.target.mountpoint)], `config ${config.file}`)
    : undefined;
  try {
    return await work(lock !== undefined);
  } finally {
    await lock?.release();
  }
}

/** open: every layer bottom-up, each skipped when already open; then what is there. */
export async function runOpen(runner: Runner, config: VaultConfig, mode: OutputMode): Promise<StackState> {
  const ctx: StackContext = { runner, config, mounts: readMounts };
  const steps: Step[] = [];
  await locked(runner, config, async (held) => {
    await runTasks(
      [
        {
          title: `Open ${config.target.mountpoint}`,
          task: async (_c: unknown, task: { output: string }) => {
            await openStack(ctx, (layer, outcome) => {
              steps.push({ layer, outcome });
              task.output = `${layer}: ${outcome}`;
            });
          },
        },
      ],
      mode,
      { exitOnError: true },
    );
    // opened by hand: it stays open, and no run owes a close any more
    if (held) clearOpenRecord(runner, config.target.mountpoint);
  });
  return { steps, ...(await state(ctx, steps)) };
}

/** close: every layer top-down, as a task list; closing what is closed does nothing. */
export async function runClose(runner: Runner, config: VaultConfig, mode: OutputMode): Promise<Step[]> {
  const ctx: StackContext = { runner, config, mounts: readMounts };
  const steps: Step[] = [];
  await locked(runner, config, async (held) => {
    const layers: LayerHandler[] = stackLayers(ctx).map((l) => ({
      ...l,
      close: async (c: StackContext) => {
        const outcome = await l.close(c);
        steps.push({ layer: l.name, outcome });
        return outcome;
      },
    }));
    await runTasks(
      [
        {
          title: `Close ${config.target.mountpoint}`,
          task: async () => {
            const left = await closeStack(ctx, { opened: layers, onPaper: false });
            if (left.length > 0)
              throw new TargetError(
                `could not close everything; still open:\n  ${left.join('\n  ')}`,
                'see the first line for why, then run btrfs-vault close again',
              );
          },
        },
      ],
      mode,
      { exitOnError: true },
    );
    if (held) clearOpenRecord(runner, config.target.mountpoint);
  });
  return steps;
}

async function state(ctx: StackContext, steps: Step[]): Promise<Omit<StackState, 'steps'>> {
  const layers = [];
  for (const layer of stackLayers(ctx)) {
    // a layer a dry-run opened only on paper has no state to read yet
    const paper = steps.find((s) => s.layer === layer.name)?.outcome === 'would-open';
    layers.push({
      layer: layer.name,
      ...(paper ? { up: false, detail: 'would be opened (dry run)' } : await layer.inspect(ctx)),
    });
  }
  const onPaper = steps.some((s) => s.outcome === 'would-open');
  const mount = onPaper ? undefined : await filesystemLayer.mountOf(ctx);
  let space: StackState['space'];
  const latest: StackState['latest'] = [];
  if (mount) {
    const st = await statfs(mount.mountPoint);
    space = { free: st.bavail * st.bsize, size: st.blocks * st.bsize };
    for (const s of ctx.config.sources)
      latest.push({ source: s.path, latest: readLink(join(mount.mountPoint, s.name), LATEST) });
  }
  return { layers, space, latest };
}

/** What open reports: the JSON document, or a line per layer, the space and each source's last backup. */
export function openReport(s: StackState, o: { json: boolean; dryRun: boolean }): string[] {
  if (o.json) return [jsonText({ ok: true, ...(o.dryRun ? { dryRun: true } : {}), ...s, exitCode: 0 }).trimEnd()];
  return [
    ...s.layers.map((l) => `${l.layer.padEnd(11)} ${l.up ? 'open  ' : 'closed'}  ${l.detail}`),
    ...(s.space ? [`space       ${formatBytes(s.space.free)} free of ${formatBytes(s.space.size)}`] : []),
    ...s.latest.map((l) => `last backup ${l.source}: ${l.latest ?? 'none yet'}`),
    ...(o.dryRun ? ['dry run: nothing was changed'] : []),
  ];
}

/** What close reports: the JSON document, or a line per layer with what was done. */
export function closeReport(steps: Step[], o: { json: boolean }): string[] {
  return o.json
    ? [jsonText({ ok: true, steps, exitCode: 0 }).trimEnd()]
    : steps.map((s) => `${s.layer.padEnd(11)} ${s.outcome}`);
}
