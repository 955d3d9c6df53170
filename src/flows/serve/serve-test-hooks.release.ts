import type * as hooks from './serve-test-hooks.js';

// What the release bundle has in place of serve-test-hooks.ts (scripts/bundle.mjs swaps
// it in): refusals always go to the system log.

export const testLogSocket: typeof hooks.testLogSocket = () => undefined;
export const testAuthorizedKeys: typeof hooks.testAuthorizedKeys = () => undefined;
