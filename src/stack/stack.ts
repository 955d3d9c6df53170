import type { TargetConfig, VaultConfig } from '../config/config.js';
import { errorMessage } from '../core/errors.js';
import { filesystemLayer } from './filesystem.js';
import type { LayerHandler, StackContext } from './layer.js';
import { layerHandlers } from './layers.js';
import { partitionLayer } from './partition.js';
import { tokenLayer } from './token.js';

/** The layers of the configured target, bottom-up. */
export function stackLayers(ctx: Pick<StackContext, 'config'>): LayerHandler[] {
  return [...layerHandlers(ctx.config.target.layers), filesystemLayer, tokenLayer];
}

/** The bottom of the configured stack above the partition (the filesystem on a plain disk): it tells whether the disk is there, and how udev knows it. */
export function bottomLayer(target: Pick<TargetConfig, 'layers'>): LayerHandler {
  return layerHandlers(target.layers)[0] ?? filesystemLayer;
}

/** Does the configured stack have this layer? (for what only that layer has: the mirror's checks) */
export function hasLayer(config: Pick<VaultConfig, 'target'>, layer: LayerHandler): boolean {
  return layerHandlers(config.target.layers).includes(layer);
}

/** The layers setup makes, bottom-up: the partition below the configured stack. */
export function createLayers(ctx: Pick<StackContext, 'config'>): LayerHandler[] {
  return [partitionLayer, ...stackLayers(ctx)];
}

export interface OpenedStack {
  /** layers this run opened (and so must close again), bottom-up */
  opened: LayerHandler[];
  /**
   * Dry-run only: the layers in `opened` were opened on paper (their commands were
   * printed, not run), so the target filesystem is not really there to be read.
   */
  onPaper: boolean;
}

/** What a step of openStack reports; "would-open" is a dry-run's open on paper. */
export type OpenOutcome = 'opened' | 'already-open' | 'would-open';

/**
 * Opens bottom-up; a layer that is already open is left as it is. If a layer fails,
 * what this call opened is closed again before the error goes up. In a dry-run, a
 * layer that would be opened is opened only on paper, and every layer above it then
 * prints its open commands instead of inspecting devices that cannot exist yet.
 */
export async function openStack(
  ctx: StackContext,
  onStep?: (layer: string, outcome: OpenOutcome) => void,
  layers: readonly LayerHandler[] = stackLayers(ctx),
  /** a layer a dead run opened (src/stack/open-record.ts): it and those above are closed by this run */
  adoptFrom?: string,
  /**
   * Unattended runs: layers found up below the first one this run opens were idle (nothing
   * above them was), brought up by udev when the disk appeared (mdadm's incremental
   * assembly): closed with the rest, so the disk can be unplugged afterwards
   */
  closeIdleBelow = false,
): Promise<OpenedStack> {
  const opened: LayerHandler[] = [];
  const idle: LayerHandler[] = [];
  // a dry-run's "opened" means the layer's commands were printed: from there on, on paper
  let onPaper = false;
  try {
    for (const layer of layers) {
      if (onPaper) {
        await layer.openOnPaper(ctx);
        opened.push(layer);
        onStep?.(layer.name, 'would-open');
        continue;
      }
      const outcome = await layer.open(ctx);
      if (outcome === 'opened' && opened.length === 0 && closeIdleBelow) opened.push(...idle);
      // above a layer this run opened, whatever is up came up with it (udev activates
      // LVM volumes on an opened LUKS mapping), so it is this run's to close as well
      if (outcome === 'opened' || opened.length > 0 || layer.name === adoptFrom) opened.push(layer);
      else idle.push(layer);
      onPaper = !ctx.runner.changesTakeEffect && outcome === 'opened';
      onStep?.(layer.name, onPaper ? 'would-open' : outcome);
    }
  } catch (err) {
    const left = await closeStack(ctx, { opened, onPaper });
    if (left.length > 0 && err instanceof Error) err.message += `\nstill open after the failure: ${left.join('; ')}`;
    throw err;
  }
  return { opened, onPaper };
}

/**
 * Closes top-down what `openStack` opened (on paper: prints the close commands).
 * Stops at the first layer that will not close (everything below it is still in
 * use) and returns what is still open. With `keepBusy` (a run's close), a layer with
 * work in progress (an array's resync: stopped, it would only go on during runs) is
 * left up with what is below it, and told to `keepBusy`.
 */
export async function closeStack(
  ctx: StackContext,
  stack: OpenedStack,
  keepBusy?: (layer: string, why: string) => void,
): Promise<string[]> {
  const order = [...stack.opened].reverse();
  for (const [i, layer] of order.entries()) {
    try {
      const busy = keepBusy && !stack.onPaper ? await layer.busy?.(ctx) : undefined;
      if (busy !== undefined) {
        keepBusy!(layer.name, busy);
        return [];
      }
      if (stack.onPaper) await layer.closeOnPaper(ctx);
      else await layer.close(ctx);
    } catch (err) {
      return [`${layer.name}: ${errorMessage(err)}`, ...order.slice(i + 1).map((l) => `${l.name}: still open`)];
    }
  }
  return [];
}
