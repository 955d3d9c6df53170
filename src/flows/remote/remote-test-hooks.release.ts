import type * as hooks from './remote-test-hooks.js';

// What the release bundle has in place of remote-test-hooks.ts (scripts/bundle.mjs swaps
// it in): the waits on a server are the real ones, whatever the environment says.

export const helloLimitMs: typeof hooks.helloLimitMs = (ms) => ms;
export const connectTimeoutS: typeof hooks.connectTimeoutS = (s) => s;
