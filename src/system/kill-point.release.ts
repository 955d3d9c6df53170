import type * as hooks from './kill-point.js';

// What the release bundle has in place of kill-point.ts (scripts/bundle.mjs swaps it
// in): a run never kills itself or pauses, whatever its environment says.

export type { KillPoint, PausePoint } from './kill-point.js';

export const killPoint: typeof hooks.killPoint = () => {};

export const pausePoint: typeof hooks.pausePoint = () => {};
