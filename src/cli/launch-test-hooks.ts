// Test-only hook of the launcher, read from the environment by the host tier
// (test/host/backup.test.ts): the machine's cache folder is shared by every run on it,
// so a test of the cache watches a folder no other run writes to.

/** BTRFS_VAULT_TEST_CACHE_DIR=<path>: the compile cache goes there instead of /var/cache/btrfs-vault. */
export function testCacheDir(): string | undefined {
  return process.env.BTRFS_VAULT_TEST_CACHE_DIR || undefined;
}
