// Test-only hooks of waits for something that may never come, read from the environment
// by the host tier: a server that never answers, a disk that is not there, is given up on
// after the same steps, in a second or two rather than the time a real one is given.

/** BTRFS_VAULT_TEST_HELLO_LIMIT_MS=N: how long the server's answer to hello is waited for, instead of `ms` */
export function helloLimitMs(ms: number): number {
  return positive(process.env.BTRFS_VAULT_TEST_HELLO_LIMIT_MS) ?? ms;
}

/** BTRFS_VAULT_TEST_CONNECT_TIMEOUT_S=N: ssh's ConnectTimeout, instead of `s` */
export function connectTimeoutS(s: number): number {
  return positive(process.env.BTRFS_VAULT_TEST_CONNECT_TIMEOUT_S) ?? s;
}

/** BTRFS_VAULT_TEST_DEVICE_WAIT_MS=N: how long a device node that is not there is waited for, instead of `ms` */
export function deviceWaitMs(ms: number): number {
  return positive(process.env.BTRFS_VAULT_TEST_DEVICE_WAIT_MS) ?? ms;
}

/** BTRFS_VAULT_TEST_CLIENT_IDLE_MS=N: how long serve waits for a client's next byte, instead of `ms` */
export function clientIdleMs(ms: number): number {
  return positive(process.env.BTRFS_VAULT_TEST_CLIENT_IDLE_MS) ?? ms;
}

function positive(value: string | undefined): number | undefined {
  const n = Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
