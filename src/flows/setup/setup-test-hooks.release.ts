import type * as hooks from './setup-test-hooks.js';

// What the release bundle has in place of setup-test-hooks.ts (scripts/bundle.mjs swaps
// it in): no hook at all, so nothing in root's environment can weaken a real setup.

export const testPbkdf: typeof hooks.testPbkdf = () => undefined;

export const pauseAfter: typeof hooks.pauseAfter = async () => {};
