import { execFileSync } from 'node:child_process';

export interface ShError extends Error {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program of the test's own (not the CLI under test) and returns its stdout; a
 * failure throws with the command and its stderr in the message, so a broken fixture
 * says what broke. The same on the host and in the VM guest.
 */
export function sh(file: string, args: string[], input?: string): string {
  try {
    return execFileSync(file, args, {
      encoding: 'utf8',
      input,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { status?: number | null; stdout?: string; stderr?: string; message: string };
    const failed = new Error(`${file} ${args.join(' ')}: ${e.stderr || e.message}`) as ShError;
    Object.assign(failed, { status: e.status ?? null, stdout: e.stdout ?? '', stderr: e.stderr ?? '' });
    throw failed;
  }
}
