import { errorMessage } from '../core/errors.js';
import { filesystemLayer } from './filesystem.js';
import type { LayerHandler, StackContext } from './layer.js';
import { luksLayer } from './luks.js';
import { lvmLayer } from './lvm.js';
import { raidLayer } from './raid.js';
import { tokenLayer } from './token.js';

const HANDLERS = { raid: raidLayer, luks: luksLayer, lvm: lvmLayer } as const;

/** The layers of the configured target, bottom-up. */
export function stackLayers(ctx: Pick<StackContext, 'config'>): LayerHandler[] {
  return [...ctx.config.target.layers.map((l) => HANDLERS[l]), filesystemLayer, tokenLayer];
}

export interface OpenedStack {
  /** layers this run opened (and so must close again), bottom-up */
  opened: LayerHandler[];
}

/**
 * Opens bottom-up; a layer that is already open is left as it is. If a layer fails,
 * what this call opened is closed again before the error goes up.
 */
export async function openStack(
  ctx: StackContext,
  onStep?: (layer: string, outcome: string) => void,
  layers: readonly LayerHandler[] = stackLayers(ctx),
  /** a layer a dead run opened (src/stack/open-record.ts): it and those above are closed by this run */
  adoptFrom?: string,
): Promise<OpenedStack> {
  const opened: LayerHandler[] = [];
  try {
    for (const layer of layers) {
      const outcome = await layer.open(ctx);
      onStep?.(layer.name, outcome);
      // above a layer this run opened, whatever is up came up with it (udev activates
      // LVM volumes on an opened LUKS mapping), so it is this run's to close as well
      if (outcome === 'opened' || opened.length > 0 || layer.name === adoptFrom) opened.push(layer);
    }
  } catch (err) {
    const left = await closeStack(ctx, { opened });
    if (left.length > 0 && err instanceof Error) err.message += `\nstill open after the failure: ${left.join('; ')}`;
    throw err;
  }
  return { opened };
}

/**
 * Closes top-down what `openStack` opened. Stops at the first layer that will not
 * close (everything below it is still in use) and returns what is still open.
 */
export async function closeStack(ctx: StackContext, stack: OpenedStack): Promise<string[]> {
  const order = [...stack.opened].reverse();
  for (const [i, layer] of order.entries()) {
    try {
      await layer.close(ctx);
    } catch (err) {
      return [`${layer.name}: ${errorMessage(err)}`, ...order.slice(i + 1).map((l) => `${l.name}: still open`)];
    }
  }
  return [];
}
