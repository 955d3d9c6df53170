import type * as hooks from './wait-test-hooks.js';

// What the release bundle has in place of wait-test-hooks.ts (scripts/bundle.mjs swaps it
// in): every wait is the real one, whatever the environment says.

export const helloLimitMs: typeof hooks.helloLimitMs = (ms) => ms;
export const connectTimeoutS: typeof hooks.connectTimeoutS = (s) => s;
export const deviceWaitMs: typeof hooks.deviceWaitMs = (ms) => ms;
export const clientIdleMs: typeof hooks.clientIdleMs = (ms) => ms;
