import { errorMessage } from '../core/errors.js';
import { filesystemLayer } from './filesystem.js';
import type { LayerHandler, StackContext } from './layer.js';
import { tokenLayer } from './token.js';

/** The layers of the configured target, bottom-up. */
export function stackLayers(ctx: StackContext): LayerHandler[] {
  // raid/luks/lvm come with the disk-stack issue; config validation rejects them for now
  void ctx;
  return [filesystemLayer, tokenLayer];
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
): Promise<OpenedStack> {
  const opened: LayerHandler[] = [];
  try {
    for (const layer of layers) {
      const outcome = await layer.open(ctx);
      onStep?.(layer.name, outcome);
      if (outcome === 'opened') opened.push(layer);
    }
  } catch (err) {
    const left = await closeStack(ctx, { opened });
    if (left.length > 0 && err instanceof Error) err.message += `\nstill open after the failure: ${left.join('; ')}`;
    throw err;
  }
  return { opened };
}

/** Closes top-down what `openStack` opened; returns what could not be closed. */
export async function closeStack(ctx: StackContext, stack: OpenedStack): Promise<string[]> {
  const left: string[] = [];
  for (const layer of [...stack.opened].reverse()) {
    try {
      await layer.close(ctx);
    } catch (err) {
      left.push(`${layer.name}: ${errorMessage(err)}`);
    }
  }
  return left;
}
