// Fault injection for the crash tests (test/host/faults.test.ts): with
// BTRFS_VAULT_TEST_KILL_AT=<point>, the run kills itself with SIGKILL when it gets
// there, exactly as `kill -9` at that moment would. Unset, this is one comparison.

export type KillPoint = 'before-snapshot' | 'during-send' | 'after-receive' | 'after-sync' | 'between-links';

const armed = process.env.BTRFS_VAULT_TEST_KILL_AT;

export function killPoint(point: KillPoint): void {
  if (armed === point) process.kill(process.pid, 'SIGKILL');
}

// With BTRFS_VAULT_TEST_PAUSE_AT=<point>:<ms>, the run says "paused at <point>" on stderr
// and stops there that long: a race between two runs, or a disk swapped at that moment,
// made certain (hostile-rotation-record.test.ts).
export type PausePoint = 'host-record' | 'disk-chosen';

const pause = /^([a-z-]+):(\d+)$/.exec(process.env.BTRFS_VAULT_TEST_PAUSE_AT ?? '');

export function pausePoint(point: PausePoint): void {
  if (pause?.[1] !== point) return;
  process.stderr.write(`paused at ${point}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(pause[2]));
}
