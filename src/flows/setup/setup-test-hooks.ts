import type { PbkdfOptions } from '../../stack/luks.js';

// Test-only hooks of setup, read from the environment and used by the VM tier
// (test/vm/guest/power-cut.ts). Neither carries a secret, and both are visible when set:
// the fast key derivation is part of the printed plan, the pause prints a marker.

/**
 * BTRFS_VAULT_TEST_PBKDF2_ITERATIONS=N: LUKS keyslots with pbkdf2 and N iterations
 * instead of argon2id, whose cost under emulation (TCG) would dominate the tests.
 * Production never sets it; a real disk keeps cryptsetup's defaults.
 */
export function testPbkdf(): PbkdfOptions | undefined {
  const n = Number(process.env.BTRFS_VAULT_TEST_PBKDF2_ITERATIONS);
  return Number.isInteger(n) && n > 0 ? { pbkdf: 'pbkdf2', iterations: n } : undefined;
}

/**
 * BTRFS_VAULT_TEST_PAUSE_AFTER=<step id>: right after that step did its work and
 * before it is recorded as done, print "BV_STEP_DONE <id>" on stderr and wait for
 * ever: the test cuts the power there, at the hardest moment for a resume.
 */
export async function pauseAfter(step: string): Promise<void> {
  if (process.env.BTRFS_VAULT_TEST_PAUSE_AFTER !== step) return;
  process.stderr.write(`BV_STEP_DONE ${step}\n`);
  await new Promise(() => setInterval(() => {}, 60_000));
}
