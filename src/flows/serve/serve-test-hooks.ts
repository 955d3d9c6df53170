// Test-only hook of serve, read from the environment by the host tier
// (test/host/serve.test.ts): the machine the tests run on may have no syslog socket.

/**
 * BTRFS_VAULT_TEST_SERVE_LOG_SOCKET=<path>: logger writes the refusals to this Unix
 * socket (a test listens there) instead of /dev/log.
 */
export function testLogSocket(): string | undefined {
  return process.env.BTRFS_VAULT_TEST_SERVE_LOG_SOCKET || undefined;
}

/**
 * BTRFS_VAULT_TEST_AUTHORIZED_KEYS=<path>: doctor reads this file instead of root's
 * ~/.ssh/authorized_keys (a test must not touch the machine's).
 */
export function testAuthorizedKeys(): string | undefined {
  return process.env.BTRFS_VAULT_TEST_AUTHORIZED_KEYS || undefined;
}
