import type * as hooks from './launch-test-hooks.js';

// What the release bundle has in place of launch-test-hooks.ts (scripts/bundle.mjs swaps
// it in): the cache is always /var/cache/btrfs-vault.

export const testCacheDir: typeof hooks.testCacheDir = () => undefined;
