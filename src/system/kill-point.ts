// Fault injection for the crash tests (test/host/faults.test.ts): with
// BTRFS_VAULT_TEST_KILL_AT=<point>, the run kills itself with SIGKILL when it gets
// there, exactly as `kill -9` at that moment would. Unset, this is one comparison.

export type KillPoint = 'before-snapshot' | 'during-send' | 'after-receive' | 'after-sync' | 'between-links';

const armed = process.env.BTRFS_VAULT_TEST_KILL_AT;

export function killPoint(point: KillPoint): void {
  if (armed === point) process.kill(process.pid, 'SIGKILL');
}
