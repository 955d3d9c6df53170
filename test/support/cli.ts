import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

// The CLI under test, the same way on the host and in the VM guest (whose working
// folder is the project too): the test build, no colours, the caller's environment
// plus what a test adds.

/** The test build (scripts/bundle.mjs): the release's code with the test hooks (kill points). */
export const BIN = join(process.cwd(), 'dist', 'test-bundle', 'btrfs-vault.cjs');
/** What npm pack ships: no test hook in it. */
export const RELEASE_BIN = join(process.cwd(), 'bin', 'btrfs-vault.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the test build to its end; a failure is a result (its code), never a throw. */
export function cli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync('node', [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the test build and returns at once (a run to interrupt, or to race another). */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn('node', [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
}
