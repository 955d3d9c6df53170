// Test-only hooks of the client's waits on a backup server, read from the environment by
// the host tier: a server that never answers is given up on after the same steps, in
// seconds rather than the half minute a real link is given.

/** BTRFS_VAULT_TEST_HELLO_LIMIT_MS=N: how long the server's answer to hello is waited for, instead of `ms` */
export function helloLimitMs(ms: number): number {
  return positive(process.env.BTRFS_VAULT_TEST_HELLO_LIMIT_MS) ?? ms;
}

/** BTRFS_VAULT_TEST_CONNECT_TIMEOUT_S=N: ssh's ConnectTimeout, instead of `s` */
export function connectTimeoutS(s: number): number {
  return positive(process.env.BTRFS_VAULT_TEST_CONNECT_TIMEOUT_S) ?? s;
}

function positive(value: string | undefined): number | undefined {
  const n = Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
